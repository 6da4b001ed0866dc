"""The Python API of ``irpa_core/__init__.py``: the README's "Python API"
examples run as written, and each function against what the ``safetensors``
and ``gguf`` packages and IREE's tools wrote or read."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import gguf
import ml_dtypes
import numpy as np
import pytest
from gguf import quants

import irpa_core
from irpa_core import (
    DecodeError,
    IrpaError,
    Plan,
    Stats,
    WriteError,
    compute_stats,
    convert,
    diff_archives,
    file_metadata,
    open_archive,
    read_tensor,
    verify_output,
)
from irpa_core.demo import make_demo
from tests import oracle
from tests.fixtures import NUMPY_PLAIN, make_gguf, make_irpa_with_iree, make_safetensors, model_quant_bytes
from tests.httpserver import serve

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_examples() -> list[str]:
    """The ```python blocks of the README's "Python API" section, in order."""
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Python API\n(.*?)(?=^## )", text, re.S | re.M)
    assert section is not None, "README has no '## Python API' section"
    return re.findall(r"^```python\n(.*?)^```", section.group(1), re.S | re.M)


def test_readme_examples_run(tmp_path, monkeypatch, capsys):
    blocks = readme_examples()
    assert 3 <= len(blocks) <= 5
    monkeypatch.chdir(tmp_path)
    make_demo(tmp_path)  # the first example makes it too: every later one can run on its own
    for i, block in enumerate(blocks):
        code = compile(block, f"README.md Python API example {i + 1}", "exec")
        exec(code, {"__name__": f"readme_example_{i + 1}"})
    assert open_archive(tmp_path / "repro.gguf").files[0].format == "gguf"
    assert Plan.load(tmp_path / "repro.plan.json").ops
    assert "OK: " in capsys.readouterr().out  # the verify example printed its summary


# ---------------------------------------------------------------------------
# The package itself


def test_import_stays_light():
    code = (
        "import sys, irpa_core\n"
        "print(sorted(m for m in ('numpy', 'gguf', 'textual', 'rich', 'irpa_core.plan', 'irpa_core.cli',"
        " 'irpa_core.stats', 'irpa_core.verify') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


def test_every_public_name_resolves_and_is_documented():
    for name in irpa_core.__all__:
        value = getattr(irpa_core, name)
        assert value.__doc__, name
    for fn in (file_metadata, read_tensor, compute_stats, convert, verify_output, diff_archives):
        assert "Example::" in (fn.__doc__ or ""), fn.__name__
    assert Plan is __import__("irpa_core.plan", fromlist=["Plan"]).Plan
    assert issubclass(DecodeError, IrpaError)
    with pytest.raises(AttributeError):
        irpa_core.no_such_name  # noqa: B018


def test_no_public_name_is_a_submodule():
    """Importing ``irpa_core.verify`` (the module) would replace a function
    ``irpa_core.verify`` on the package: no public name may be a module."""
    pkg = Path(irpa_core.__file__).parent
    modules = {p.stem for p in pkg.glob("*.py")} | {p.name for p in pkg.iterdir() if (p / "__init__.py").exists()}
    assert not modules & set(irpa_core.__all__)
    for name in ("diff", "filemeta", "metadata", "stats", "verify", "write"):
        importlib.import_module(f"irpa_core.{name}")
    assert irpa_core.verify_output is verify_output and irpa_core.diff_archives is diff_archives
    assert irpa_core.convert is convert and irpa_core.file_metadata is file_metadata


# ---------------------------------------------------------------------------
# read_tensor


def test_read_tensor_safetensors_plain_dtypes(tmp_path):
    rng = np.random.default_rng(1)
    tensors = {f"t.{t}": (rng.standard_normal((3, 5)) * 50).astype(t) for t in NUMPY_PLAIN}
    tensors["scalar"] = np.array(7.5, np.float32)
    tensors["empty"] = np.zeros((0, 4), np.float16)
    p = make_safetensors(tmp_path / "m.safetensors", tensors)
    for e in open_archive(p):
        got = read_tensor(e)
        want = tensors[e.name]
        assert got.dtype == want.dtype and got.shape == want.shape, e.name
        assert np.array_equal(got, want, equal_nan=want.dtype.kind == "f"), e.name
        got[...] = 0  # the array is the caller's: writable, and the file untouched
    assert np.array_equal(read_tensor(open_archive(p).by_name["t.int32"]), tensors["t.int32"])


def test_read_tensor_gguf_bf16_and_plain(tmp_path):
    bf = (np.arange(24, dtype=np.float32) / 7).astype(ml_dtypes.bfloat16).reshape(2, 3, 4)
    f16 = np.linspace(-3, 3, 24, dtype=np.float16).reshape(4, 6)
    p = make_gguf(tmp_path / "m.gguf", {"bf": ("BF16", bf.view(np.uint8).reshape(2, 3, 8)), "h": f16})
    a = open_archive(p)
    got = read_tensor(a.by_name["bf"])
    assert got.dtype == ml_dtypes.bfloat16 and got.shape == (2, 3, 4) and np.array_equal(got, bf)
    got = read_tensor(a.by_name["h"])
    assert got.dtype == np.float16 and np.array_equal(got, f16)


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_K", "Q6_K", "Q5_0"])
def test_read_tensor_dequantizes_like_gguf(tmp_path, qtype):
    rows, cols = 6, 512
    data = model_quant_bytes(qtype, rows, cols, seed=3)  # finite values, K-quants included
    p = make_gguf(tmp_path / "q.gguf", {"w": (qtype, data), "n": np.ones(cols, np.float32)})
    (ref,) = (t for t in gguf.GGUFReader(str(p)).tensors if t.name == "w")
    want = quants.dequantize(np.asarray(ref.data), gguf.GGMLQuantizationType[qtype])
    got = read_tensor(open_archive(p).by_name["w"])
    assert got.dtype == np.float32 and got.shape == (rows, cols) == want.shape
    assert np.array_equal(got, want) and np.isfinite(got).all() and got.any()


def test_read_tensor_splats_expand(tmp_path):
    p = make_irpa_with_iree(tmp_path / "s.irpa", "--splat=s=8xi16=-2", "--splat=z=3xf32=2.5")
    a = open_archive(p)  # IREE's tool records no dtype: the entries are raw
    with pytest.raises(DecodeError, match="choose a dtype"):
        read_tensor(a.by_name["s"])
    assert np.array_equal(read_tensor(a.by_name["s"], "i16"), np.full(8, -2, np.int16))
    assert np.array_equal(read_tensor(a.by_name["z"], as_dtype="f32"), np.full(3, 2.5, np.float32))
    # A splat with a dtype and shape (our own irpa writer), from a plan.
    src = make_safetensors(tmp_path / "m.safetensors", {"w": np.ones((4, 3), np.float32)})
    out = convert(Plan().splat("w", "f32=-0.75"), open_archive(src), tmp_path / "s2.irpa").path
    (e,) = open_archive(out)
    assert e.kind == "splat"
    got = read_tensor(e)
    assert got.shape == (4, 3) and got.dtype == np.float32 and np.all(got == -0.75)


def test_read_tensor_as_dtype_and_errors(tmp_path):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    (e,) = open_archive(make_safetensors(tmp_path / "m.safetensors", {"w": a}))
    as_bytes = read_tensor(e, "u8")
    assert as_bytes.shape == (24,) and as_bytes.tobytes() == a.tobytes()  # other count: 1-D
    assert np.array_equal(read_tensor(e, "i32"), a.view(np.int32))  # same count: the entry's shape
    assert np.array_equal(read_tensor(e, "f64"), a.ravel().view(np.float64))  # 3 values: 1-D
    with pytest.raises(DecodeError, match="unknown dtype"):
        read_tensor(e, "f33")


def test_read_tensor_refuses_a_partial_element(tmp_path):
    p = make_irpa_with_iree(tmp_path / "r.irpa", "--splat=r=6xi8=1")
    (e,) = open_archive(p)
    assert read_tensor(e, "i16").tolist() == [257, 257, 257]
    with pytest.raises(DecodeError, match="not a whole number of f32 elements"):
        read_tensor(e, "f32")
    with pytest.raises(DecodeError, match="Q8_0 blocks"):
        read_tensor(e, "Q8_0")


# ---------------------------------------------------------------------------
# file_metadata


def test_file_metadata_of_a_gguf_is_what_gguf_wrote(tmp_path):
    kv = {
        "general.name": "tiny",
        "tiny.block_count": 3,
        "tiny.rope.freq_base": 10000.0,
        "tiny.eps": (1e-5, gguf.GGUFValueType.FLOAT32),
        "tiny.big": (2**40 + 3, gguf.GGUFValueType.UINT64),
        "tiny.flag": True,
        "tokenizer.ggml.tokens": ["<s>", "</s>", "héllo"],
        "tokenizer.ggml.scores": ([0.5, -1.25, 3.0], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.FLOAT32),
    }
    p = make_gguf(tmp_path / "m.gguf", {"w": np.ones(4, np.float32)}, kv, arch="tiny")
    want = {k: contents for k, (_types, contents) in oracle.gguf_kvs(p).items()}
    got = file_metadata(open_archive(p))
    assert got == want
    assert got["general.architecture"] == "tiny" and got["tiny.big"] == 2**40 + 3
    assert got["tokenizer.ggml.tokens"] == ["<s>", "</s>", "héllo"]
    assert got["tiny.eps"] == float(np.float32(1e-5))


def test_file_metadata_of_a_split_gguf_leaves_out_split_keys(tmp_path):
    tensors = {f"w{i}": np.full(4, i, np.float32) for i in range(3)}
    make_gguf(tmp_path / "m.gguf", tensors, {"general.name": "split"}, split_max_tensors=1)
    first = sorted(tmp_path.glob("m-00001-of-*.gguf"))[0]
    want = {k: c for k, (_t, c) in oracle.gguf_kvs(first).items() if not k.startswith("split.")}
    a = open_archive(first)
    assert len(a.files) == 3 and file_metadata(a) == want and want["general.name"] == "split"


def test_file_metadata_of_safetensors_and_none(tmp_path):
    meta = {"format": "pt", "note": "a: b"}
    p = make_safetensors(tmp_path / "m.safetensors", {"w": np.ones(2, np.float32)}, metadata=meta)
    assert file_metadata(open_archive(p)) == meta
    bare = make_safetensors(tmp_path / "b.safetensors", {"w": np.ones(2, np.float32)})
    assert file_metadata(open_archive(bare)) == {}
    assert file_metadata(open_archive(make_irpa_with_iree(tmp_path / "r.irpa", "--splat=s=2xi8=0"))) == {}


def test_file_metadata_survives_irpa(tmp_path):
    """GGUF -> irpa (a __SHARK_DATASET__ entry) -> the same key/values."""
    kv = {"general.name": "m", "m.n": 7, "tokenizer.ggml.tokens": ["a", "b"]}
    src = open_archive(make_gguf(tmp_path / "m.gguf", {"w": np.ones(4, np.float32)}, kv, arch="m"))
    out = open_archive(convert(None, src, tmp_path / "m.irpa").path)
    assert "__SHARK_DATASET__" in out.by_name
    assert file_metadata(out) == file_metadata(src)
    demo = open_archive(make_demo(tmp_path / "demo"))  # sharktank's own properties come too
    assert file_metadata(demo)["hparams"]["vocab_size"] == 1024


# ---------------------------------------------------------------------------
# compute_stats


def test_compute_stats_against_numpy(tmp_path):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((64, 33)).astype(np.float32)
    a[::5, 3] = 0
    a[1, 1], a[2, 2] = np.nan, np.inf
    (e,) = open_archive(make_safetensors(tmp_path / "m.safetensors", {"w": a}))
    s = compute_stats(e, bins=16)
    fin = a[np.isfinite(a)].astype(np.float64)
    assert isinstance(s, Stats) and s.exact and s.dtype == "f32"
    assert s.count == a.size and s.nans == 1 and s.infs == 1 and s.zeros == (a == 0).sum()
    assert s.min == fin.min() and s.max == fin.max()
    assert s.mean == pytest.approx(fin.mean(), rel=1e-9) and s.std == pytest.approx(fin.std(), rel=1e-7)
    assert len(s.hist_counts) == 16 and sum(s.hist_counts) == fin.size
    seen = []
    compute_stats(e, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (a.nbytes, a.nbytes)


def test_compute_stats_of_a_raw_splat(tmp_path):
    (e,) = open_archive(make_irpa_with_iree(tmp_path / "s.irpa", "--splat=s=10xi16=-3"))
    with pytest.raises(DecodeError):
        compute_stats(e)
    s = compute_stats(e, as_dtype="i16")
    assert (s.count, s.min, s.max, s.mean, s.std) == (10, -3, -3, -3, 0)


# ---------------------------------------------------------------------------
# convert, verify_output


@pytest.fixture
def source(tmp_path):
    rng = np.random.default_rng(7)
    tensors = {
        "a.weight": rng.standard_normal((8, 16)).astype(np.float32),
        "a.bias": rng.standard_normal(16).astype(np.float16),
        "b.weight": rng.integers(-100, 100, (4, 4)).astype(np.int32),
    }
    p = make_safetensors(tmp_path / "src.safetensors", tensors, metadata={"format": "pt"})
    return open_archive(p), tensors


def _gguf_values(path) -> dict[str, np.ndarray]:
    return {
        t.name: np.asarray(t.data).reshape(tuple(reversed([int(d) for d in t.shape])))
        for t in gguf.GGUFReader(str(path)).tensors
    }


@pytest.mark.parametrize("ext", ["safetensors", "gguf", "irpa"])
def test_convert_copies_into_every_format(tmp_path, source, ext):
    archive, tensors = source
    result = convert(None, archive, tmp_path / f"out.{ext}")
    assert result.format == ext and result.entries >= 3 and Path(result.path).stat().st_size == result.bytes
    if ext == "safetensors":
        from safetensors.numpy import load_file

        got = load_file(result.path)
    elif ext == "gguf":
        got = _gguf_values(result.path)
    else:
        got = {k: r.data for k, r in oracle.load(result.path).items() if k != "__SHARK_DATASET__"}
        got = {k: np.frombuffer(v, tensors[k].dtype).reshape(tensors[k].shape) for k, v in got.items()}
    assert set(got) == set(tensors)
    for k, v in tensors.items():
        assert np.array_equal(got[k], v), k
    report = verify_output(archive, None, open_archive(result.path))
    assert report.ok, report.summary()
    assert file_metadata(open_archive(result.path)) == {"format": "pt"}


def test_convert_applies_the_plan(tmp_path, source):
    from safetensors.numpy import load_file

    archive, tensors = source
    plan = Plan().exclude("b.*").rename("a.*", "layer.*").cast("a.weight", "f16").set_metadata("note", "hi", "string")
    result = convert(plan, archive, tmp_path / "out.bin", format="safetensors")
    got = load_file(result.path)
    assert set(got) == {"layer.weight", "layer.bias"}
    assert got["layer.weight"].dtype == np.float16
    assert np.array_equal(got["layer.weight"], tensors["a.weight"].astype(np.float16))
    assert file_metadata(open_archive(result.path)) == {"format": "pt", "note": "hi"}
    assert verify_output(archive, plan, open_archive(result.path)).ok
    assert not verify_output(archive, Plan(), open_archive(result.path)).ok


def test_convert_refuses_before_writing(tmp_path, source):
    archive, _ = source
    with pytest.raises(WriteError, match="unknown extension"):
        convert(None, archive, tmp_path / "out.bin")
    with pytest.raises(WriteError, match="unknown format"):
        convert(None, archive, tmp_path / "out.bin", format="npz")
    with pytest.raises(irpa_core.PlanError, match=r"a\.weight"):
        convert(Plan().rename("a.bias", "a.weight"), archive, tmp_path / "out.irpa")
    with pytest.raises(irpa_core.PlanError, match="packed"):
        convert(None, archive, tmp_path / "out.safetensors", alignment=128)
    assert list(tmp_path.glob("out*")) == []


def test_convert_alignment_and_verify(tmp_path, source):
    archive, _ = source
    result = convert(None, archive, tmp_path / "out.gguf", alignment=128)
    assert gguf.GGUFReader(result.path).alignment == 128
    out = open_archive(result.path)
    assert verify_output(archive, None, out, alignment=128).ok
    # Without it the expected output has no general.alignment key.
    report = verify_output(archive, None, out)
    assert [(c.name, c.status) for c in report.problems] == [("[metadata] general.alignment", "metadata differs")]
    irpa = convert(Plan(), archive, tmp_path / "out.irpa", alignment=4096)
    assert all(e.offset % 4096 == 0 for e in open_archive(irpa.path) if e.kind == "data")


def test_verify_output_finds_a_changed_byte(tmp_path, source):
    archive, _ = source
    result = convert(None, archive, tmp_path / "out.safetensors")
    e = open_archive(result.path).by_name["b.weight"]
    with open(result.path, "r+b") as f:
        f.seek(e.start + 5)
        byte = f.read(1)
        f.seek(e.start + 5)
        f.write(bytes([byte[0] ^ 0x40]))
    report = verify_output(archive, None, open_archive(result.path))
    assert not report.ok and "FAILED" in report.summary()
    (bad,) = report.problems
    assert (bad.name, bad.status, bad.offset) == ("b.weight", "bytes differ", 5)


# ---------------------------------------------------------------------------
# diff_archives


def test_diff_archives(tmp_path, source):
    archive, tensors = source
    same = diff_archives(archive, archive)
    assert same.identical and same.ok and same.counts["identical"] == 3
    changed = dict(tensors)
    changed["a.weight"] = tensors["a.weight"] + np.float32(1e-3)
    del changed["b.weight"]
    changed["c"] = np.zeros(2, np.float32)
    b = open_archive(make_safetensors(tmp_path / "b.safetensors", changed))
    report = diff_archives(archive, b)
    status = {p.name: p.status for p in report.pairs}
    assert status == {"a.weight": "values differ", "a.bias": "identical", "b.weight": "only in A", "c": "only in B"}
    (w,) = (p for p in report.pairs if p.name == "a.weight")
    assert w.metrics is not None and w.metrics.max_abs == pytest.approx(1e-3, rel=1e-2)
    loose = diff_archives(archive, b, atol=2e-3)
    assert {p.name: p.status for p in loose.pairs}["a.weight"] == "within tolerance" and not loose.ok
    renamed = open_archive(convert(Plan().rename("a.*", "x.*"), archive, tmp_path / "r.safetensors").path)
    assert diff_archives(archive, renamed, rename=Plan().rename("a.*", "x.*")).identical
    assert not diff_archives(archive, renamed).ok


def test_the_api_on_a_url(http_server, tmp_path):
    """open_archive, file_metadata, read_tensor and convert on an
    ``http://`` URL: the same answers as the local file."""
    q = model_quant_bytes("Q8_0", 4, 64, seed=9)
    local = make_gguf(tmp_path / "m.gguf", {"q": ("Q8_0", q), "n": np.arange(64, dtype=np.float32)}, {"m.x": 3}, "m")
    url = serve(http_server, local)
    remote, here = open_archive(url), open_archive(local)
    assert file_metadata(remote) == file_metadata(here)
    for name in ("q", "n"):
        assert np.array_equal(read_tensor(remote.by_name[name]), read_tensor(here.by_name[name]))
    result = convert(Plan().exclude("n"), remote, tmp_path / "out.irpa")
    assert verify_output(here, Plan().exclude("n"), open_archive(result.path)).ok
    assert sum(s.bytes_fetched for s in remote.sources) == http_server.bytes_sent() > 0
