"""``irpa convert`` against ``iree-convert-parameters`` on the same inputs and
flags, everything checked through IREE's runtime (``tests.oracle``)."""

import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

from irpa_core import dtypes, open_archive, read_bytes
from irpa_core.cli import main
from tests import oracle
from tests.fixtures import NUMPY_PLAIN, make_gguf, make_irpa_with_iree, make_safetensors, quantized_bytes


def _same(a, b):
    """Two oracle loads hold the same entries: names, kinds, lengths, bytes, patterns."""
    assert set(a) == set(b)
    for k in a:
        x, y = a[k], b[k]
        assert (x.kind, x.length, x.pattern, x.data) == (y.kind, y.length, y.pattern, y.data), k


def _both(tmp_path, inputs, *flags, ours_only=()):
    ref = tmp_path / "ref.irpa"
    ours = tmp_path / "ours.irpa"
    oracle.run_tool(
        "iree-convert-parameters", *[f"--parameters={p}" for p in inputs], f"--output={ref}", "--quiet", *flags
    )
    assert (
        main(["convert", *[f"--parameters={p}" for p in inputs], f"--output={ours}", "--quiet", *flags, *ours_only])
        == 0
    )
    a, b = oracle.load(ref), oracle.load(ours)
    _same(a, b)
    return b


@pytest.fixture
def st(tmp_path):
    rng = np.random.default_rng(0)
    return make_safetensors(
        tmp_path / "m.safetensors",
        {
            "emb": rng.standard_normal((8, 16)).astype(np.float32),
            "blk.0.w": rng.standard_normal((16, 16)).astype(np.float16),
            "blk.1.w": rng.standard_normal((16, 16)).astype(np.float16),
            "idx": np.arange(10, dtype=np.int64),
            "mask": np.array([True, False, True]),
        },
    )


def test_plain_copy(tmp_path, st):
    _both(tmp_path, [st])


def test_exclude_rename_splat(tmp_path, st):
    _both(tmp_path, [st], "--exclude=idx", "--rename=emb=embedding", "--splat=blk.0.w=f16=1.5", "--splat=mask")


def test_strip_with_overrides(tmp_path, st):
    _both(tmp_path, [st], "--strip", "--splat=blk.1.w=x16=CAFE", "--exclude=mask")


@pytest.mark.parametrize(
    "spec",
    [
        "i8=7",
        "f32=2.5",
        "f16=-1",
        "bf16=3.3",
        "x32=CAFEF00D",
        "f8E4M3FN=0.5",
        "ui16=65535",
        "si64=-3",
        "x128=00112233445566778899AABBCCDDEEFF",
    ],
)
def test_every_splat_type(tmp_path, st, spec):
    _both(tmp_path, [st], f"--splat=emb={spec}")


def test_several_inputs_all_formats(tmp_path, st):
    g = make_gguf(
        tmp_path / "m.gguf", {"g.f32": np.ones((2, 32), np.float32), "g.q8": ("Q8_0", quantized_bytes("Q8_0", 2, 64))}
    )
    i = make_irpa_with_iree(tmp_path / "m.irpa", "--data=i.d=4xf32", "--splat=i.s=8xi16=3")
    # The GGUF's key/values would go into a __SHARK_DATASET__ entry the reference does not write.
    _both(tmp_path, [st, g, i], "--splat=g.q8", "--rename=i.s=i.splat", ours_only=["--no-metadata"])


def test_dtype_and_shape_survive_for_every_dtype(tmp_path):
    rng = np.random.default_rng(1)
    plain = {
        f"t.{d.name}": rng.standard_normal((3, 4)).astype(d.numpy_dtype())
        for d in dtypes.PLAIN
        if d.safetensors and d.kind != "complex"
    }
    # safetensors.numpy cannot save ml_dtypes: write those through gguf/bytes below.
    numpy_native = {k: v for k, v in plain.items() if v.dtype.name in NUMPY_PLAIN}
    st = make_safetensors(tmp_path / "a.safetensors", numpy_native)
    q = {
        d.name: (d.name, quantized_bytes(d.name, 2, d.block_size * 2))
        for d in dtypes.QUANT
        if d.name not in ("Q8_1", "Q8_K")
    }
    bf = np.arange(8, dtype=np.float32).astype(ml_dtypes.bfloat16).reshape(2, 4)
    g = make_gguf(
        tmp_path / "q.gguf",
        {**{f"q.{k}": v for k, v in q.items()}, "q.bf16": ("BF16", bf.view(np.uint8).reshape(2, 8))},
    )
    out = tmp_path / "out.irpa"
    flags = [f"--parameters={st}", f"--parameters={g}", f"--output={out}", "--quiet", "--no-metadata"]
    assert main(["convert", *flags]) == 0
    src = {e.name: e for e in open_archive(st, g)}
    got = {e.name: e for e in open_archive(out)}
    ref = oracle.load(out)
    assert set(got) == set(src) == set(ref)
    for name, e in src.items():
        assert (got[name].dtype, got[name].shape) == (e.dtype, e.shape), name
        assert ref[name].data == read_bytes(e), name


def test_in_place_conversion_keeps_every_byte(tmp_path, st):
    p = tmp_path / "x.irpa"
    assert main(["convert", f"--parameters={st}", f"--output={p}", "--quiet"]) == 0
    before = oracle.load(p)
    assert main(["convert", f"--parameters={p}", f"--output={p}", "--quiet"]) == 0
    _same(before, oracle.load(p))
    assert main(["convert", f"--parameters={p}", f"--output={p}", "--quiet", "--exclude=idx"]) == 0
    after = oracle.load(p)
    assert "idx" not in after and after["emb"].data == before["emb"].data


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "irpa_core.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--rename=emb=idx"], "parameter 'idx'"),
        (["--splat=mask=f32=1"], "parameter 'mask': cannot splat f32=1"),
        (["--splat=emb=q9=1"], "unknown splat type"),
        (["--splat=emb=f32=abc"], "not a number"),
        (["--rename=emb"], "expected OLD=NEW"),
    ],
)
def test_validation_errors_write_nothing(tmp_path, st, flags, message):
    out = tmp_path / "o.irpa"
    r = _cli("convert", f"--parameters={st}", f"--output={out}", *flags)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("irpa: error: ") and message in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() and not list(tmp_path.glob(".o.irpa*"))


def test_flag_spellings_and_progress_output(tmp_path, st):
    out = tmp_path / "o.irpa"
    r = _cli("convert", "--parameters", str(st), "--exclude", "idx", "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert "blk.0.w" in r.stdout and "wrote" in r.stdout and "idx" not in r.stdout.split("wrote")[0]
    r = _cli("convert", f"--parameters={st}", "--exclude=nothing.here", f"--output={out}", "--quiet=true")
    assert r.returncode == 0 and "no parameter matches" in r.stderr and r.stdout == ""


def test_plan_save_and_replay(tmp_path, st):
    a, b = tmp_path / "a.irpa", tmp_path / "b.irpa"
    plan = tmp_path / "plan.json"
    assert (
        main(
            [
                "convert",
                f"--parameters={st}",
                f"--output={a}",
                "--quiet",
                "--strip",
                "--keep=blk.*",
                "--rename=blk.*.w=layer.*.weight",
                f"--save-plan={plan}",
            ]
        )
        == 0
    )
    assert main(["convert", f"--parameters={st}", f"--output={b}", "--quiet", f"--plan={plan}"]) == 0
    assert a.read_bytes() == b.read_bytes()
    got = oracle.load(b)
    assert got["layer.0.weight"].kind == "data" and got["emb"].kind == "splat"


def test_names_with_equals_sign(tmp_path):
    st = make_safetensors(tmp_path / "e.safetensors", {"a=b": np.ones(4, np.float32), "c": np.ones(4, np.float32)})
    out = tmp_path / "o.irpa"
    assert (
        main(["convert", f"--parameters={st}", f"--output={out}", "--quiet", r"--rename=a\=b=x=y", r"--splat=c=f32=2"])
        == 0
    )
    got = oracle.load(out)
    assert set(got) == {"x=y", "c"}


def test_convert_imports_only_what_it_needs(tmp_path):
    # Every command starts a Python process: the convert path stays free of
    # the heavy modules (numpy, the HTTP stack, rich) and of those that cost
    # start-up for nothing (typing, threading). dataclasses (and with it
    # inspect) is the standard way to write plain data and stays.
    g = make_gguf(tmp_path / "m.gguf", {"w": np.arange(8, dtype=np.float32)}, kv={"tokenizer.ggml.tokens": ["a", "b"]})
    out = tmp_path / "o.irpa"
    code = (
        "import sys; from irpa_core.cli import main; "
        f"main(['convert', '--parameters={g}', '--output={out}', '--quiet', '--no-metadata']); "
        "heavy = ('numpy', 'typing', 'threading', 'httpx2', 'rich'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip().splitlines()[-1] == "[]"
    assert oracle.load(out)["w"].data == np.arange(8, dtype=np.float32).tobytes()
