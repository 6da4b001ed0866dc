"""Writing GGUF and safetensors, metadata into and out of .irpa, casts:
through the CLI, checked with the ``gguf`` package's reader, the
``safetensors`` package and IREE's runtime (never our reader alone)."""

import json
import subprocess
import sys

import gguf
import ml_dtypes
import numpy as np
import pytest
from safetensors import deserialize, safe_open
from safetensors.numpy import load_file

from irpa_core import dtypes, open_archive, read_bytes
from irpa_core.cli import main
from irpa_core.formats import dataset_meta
from tests import oracle
from tests.fixtures import GGUF_PLAIN, NUMPY_PLAIN, make_gguf, make_safetensors, quantized_bytes
from tests.oracle import gguf_kvs as kvs
from tests.oracle import gguf_tensors as tensors

V = gguf.GGUFValueType
CHAT = "{% for m in messages %}<|{{ m['role'] }}|>: {{ m['content'] }}\n{% endfor %}"


def convert(*args) -> None:
    assert main(["convert", *map(str, args), "--quiet"]) == 0


def cli(*args):
    return subprocess.run([sys.executable, "-m", "irpa_core.cli", *map(str, args)], capture_output=True, text=True)


def verified(*args) -> None:
    r = cli("verify", *args)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture
def model(tmp_path):
    """A GGUF with every plain type GGUF shares with numpy, bf16, quantized
    tensors, and key/values of every type (a vocabulary, a chat template)."""
    rng = np.random.default_rng(0)
    t = {f"p.{d}": rng.standard_normal((2, 32)).astype(d) for d in GGUF_PLAIN}
    bf = rng.standard_normal((2, 32)).astype(np.float32).astype(ml_dtypes.bfloat16)
    t["p.bf16"] = ("BF16", bf.view(np.uint8).reshape(2, 64))
    for q in ("Q8_0", "Q4_K", "Q6_K"):
        t[f"q.{q}"] = (q, quantized_bytes(q, 2, 256))
    kv = {
        "general.name": "model",
        "llama.context_length": 4096,
        "llama.rope.freq_base": 10000.5,
        "x.i8": (-3, V.INT8),
        "x.u16": (65535, V.UINT16),
        "x.i64": (-(2**40), V.INT64),
        "x.u64": (2**63, V.UINT64),
        "x.f64": (0.1, V.FLOAT64),
        "x.bool": True,
        "tokenizer.ggml.tokens": ["<s>", "a:b", "é", '"', "\\"] * 300,
        "tokenizer.ggml.scores": ([float(-i) for i in range(1500)], V.ARRAY, V.FLOAT32),
        "tokenizer.ggml.token_type": ([1] * 1500, V.ARRAY, V.INT32),
        "x.nested": ([[1, 2], [3]], V.ARRAY, V.ARRAY),
        "tokenizer.chat_template": CHAT,
    }
    return make_gguf(tmp_path / "m.gguf", t, kv)


# -- GGUF out -----------------------------------------------------------------


def test_gguf_to_gguf_is_the_source_byte_for_byte(tmp_path, model):
    out = tmp_path / "o.gguf"
    convert(model, "-o", out)
    assert kvs(out).keys() == kvs(model).keys()
    assert out.read_bytes() == model.read_bytes()  # same content, GGUFWriter's layout
    verified(f"--parameters={model}", out)


def test_gguf_through_irpa_and_back_keeps_every_key_and_type(tmp_path, model):
    mid, back = tmp_path / "m.irpa", tmp_path / "b.gguf"
    convert(model, "-o", mid)
    ref = oracle.load(mid)  # IREE's runtime still loads it
    assert dataset_meta.NAME in ref
    doc = json.loads(ref[dataset_meta.NAME].data)
    assert doc["schema"] == "GGUF" and doc["llama.context_length"] == 4096  # where sharktank reads it
    src = {e.name: e for e in open_archive(model)}
    for name, e in src.items():
        assert ref[name].data == read_bytes(e), name
    verified(f"--parameters={model}", mid)
    convert(mid, "-o", back)
    assert kvs(back) == kvs(model)
    assert tensors(back) == tensors(model)
    assert back.read_bytes() == model.read_bytes()
    verified(f"--parameters={mid}", back)


def test_no_metadata_drops_the_key_values(tmp_path, model):
    irpa, g = tmp_path / "m.irpa", tmp_path / "m.gguf2.gguf"
    convert(model, "-o", irpa, "--no-metadata")
    assert dataset_meta.NAME not in oracle.load(irpa)
    convert(model, "-o", g, "--no-metadata", "--set-metadata=general.architecture=string:llama")
    assert kvs(g) == {"general.architecture": ([V.STRING], "llama")}
    assert tensors(g) == tensors(model)
    verified(f"--parameters={model}", "--no-metadata", "--set-metadata=general.architecture=string:llama", g)


def test_edit_a_chat_template_and_other_keys(tmp_path, model):
    template = tmp_path / "t.jinja"
    template.write_text("{% for m in messages %}<|im_start|>{{ m.role }}: x{% endfor %}", encoding="utf-8")
    out = tmp_path / "o.gguf"
    edits = [
        f"--set-metadata-file=tokenizer.chat_template={template}",
        "--set-metadata=general.name=new: name",  # ':' in a value of an existing key
        "--set-metadata=llama.context_length=8192",  # keeps u32
        "--set-metadata=x.u16=u32:70000",  # a new type, asked in a form that parses
        "--set-metadata=x.new=f64:2.5",
        "--set-metadata=x.text=string:u8:7",
        "--unset-metadata=x.b*",
    ]
    convert(model, "-o", out, *edits)
    got, src = kvs(out), kvs(model)
    assert got["tokenizer.chat_template"] == ([V.STRING], template.read_text())
    assert got["general.name"] == ([V.STRING], "new: name")
    assert got["llama.context_length"] == ([V.UINT32], 8192)
    assert got["x.u16"] == ([V.UINT32], 70000)
    assert got["x.new"] == ([V.FLOAT64], 2.5) and got["x.text"] == ([V.STRING], "u8:7")
    assert "x.bool" not in got
    assert {
        k: v for k, v in got.items() if k in src and k not in ("general.name", "llama.context_length", "x.u16")
    } == {k: v for k, v in src.items() if k not in ("general.name", "llama.context_length", "x.u16", "x.bool")} | {
        "tokenizer.chat_template": got["tokenizer.chat_template"]
    }
    assert list(got)[: len(src) - 1] == [k for k in src if k != "x.bool"]  # edited keys keep their place
    assert tensors(out) == tensors(model)
    verified(f"--parameters={model}", *edits, out)
    r = cli("verify", f"--parameters={model}", *edits[1:], out)  # without the template edit
    assert r.returncode == 1 and "[metadata] tokenizer.chat_template" in r.stdout


def test_in_place_metadata_edit(tmp_path, model):
    before = tensors(model)
    convert(model, "-o", model, "--set-metadata=general.name=again")
    assert kvs(model)["general.name"] == ([V.STRING], "again") and tensors(model) == before


def test_alignment_is_general_alignment(tmp_path, model):
    out = tmp_path / "o.gguf"
    convert(model, "-o", out, "--alignment=64")
    r = gguf.GGUFReader(str(out))
    assert r.alignment == 64 and r.fields["general.alignment"].types == [V.UINT32]
    assert all(t.data_offset % 64 == 0 for t in r.tensors)
    verified(f"--parameters={model}", "--alignment=64", out)
    src = make_gguf(tmp_path / "a.gguf", {"w": np.ones((2, 32), np.float32)}, {"general.alignment": 128})
    convert(src, "-o", out)
    assert gguf.GGUFReader(str(out)).alignment == 128 and out.read_bytes() == src.read_bytes()


def test_split_model_to_one_gguf(tmp_path):
    t = {f"w{i}": np.full((2, 32), i, np.float32) for i in range(3)}
    make_gguf(tmp_path / "s.gguf", t, {"general.name": "split"}, split_max_tensors=1)
    first = tmp_path / "s-00001-of-00003.gguf"
    out = tmp_path / "one.gguf"
    convert(first, "-o", out)
    got = kvs(out)
    assert not any(k.startswith("split.") for k in got) and got["general.name"] == ([V.STRING], "split")
    assert {n: d for n, (_, _, d) in tensors(out).items()} == {n: a.tobytes() for n, a in t.items()}


def test_safetensors_to_gguf(tmp_path):
    st = make_safetensors(
        tmp_path / "m.safetensors",
        {
            "w": np.arange(64, dtype=np.float32).reshape(2, 32),
            "i": np.arange(4, dtype=np.int32),
            "h": np.ones(2, np.float16),
        },
        {"format": "pt"},
    )
    out = tmp_path / "m.gguf"
    r = cli("convert", st, "-o", out, "--quiet")
    assert r.returncode == 0 and "general.architecture" in r.stderr, r.stderr  # llama.cpp's loader needs it: a warning
    assert kvs(out) == {"format": ([V.STRING], "pt")}  # __metadata__ carried as strings
    got = tensors(out)
    assert got["w"] == (gguf.GGMLQuantizationType.F32, (32, 2), np.arange(64, dtype=np.float32).tobytes())
    assert got["i"] == (gguf.GGMLQuantizationType.I32, (4,), np.arange(4, dtype=np.int32).tobytes())
    floats = tmp_path / "f.gguf"  # IREE's GGUF parser has no integer tensor types
    convert(st, "-o", floats, "--exclude=i")
    assert oracle.load(floats)["h"].data == np.ones(2, np.float16).tobytes()
    verified(f"--parameters={st}", out)


# -- safetensors out ----------------------------------------------------------


def test_safetensors_through_irpa_and_back(tmp_path):
    rng = np.random.default_rng(2)
    arrays = {f"t.{d}": (rng.standard_normal((3, 4)) * 10).astype(d) for d in NUMPY_PLAIN}
    meta = {"format": "pt", "note": "a: b", "é": "ü"}
    st = make_safetensors(tmp_path / "m.safetensors", arrays, meta)
    mid, back = tmp_path / "m.irpa", tmp_path / "b.safetensors"
    convert(st, "-o", mid)
    assert oracle.load(mid)["t.float32"].data == arrays["t.float32"].tobytes()
    convert(mid, "-o", back)
    got = load_file(str(back))
    assert got.keys() == arrays.keys()
    for k, a in arrays.items():
        assert got[k].dtype == a.dtype and got[k].shape == a.shape and np.array_equal(got[k], a), k
    with safe_open(str(back), "np") as f:
        assert f.metadata() == meta
    assert back.read_bytes() == st.read_bytes() or len(meta) > 1  # the package orders metadata by hash
    verified(f"--parameters={mid}", back)
    verified(f"--parameters={st}", back)


def test_ml_dtypes_through_safetensors(tmp_path):
    # safetensors.numpy cannot save bf16/fp8: GGUF bf16 in, deserialize() as the oracle.
    bf = np.arange(64, dtype=np.float32).astype(ml_dtypes.bfloat16).reshape(2, 32)
    g = make_gguf(tmp_path / "b.gguf", {"b": ("BF16", bf.view(np.uint8).reshape(2, 64))})
    out = tmp_path / "b.safetensors"
    convert(g, "-o", out, "--cast=b=f8_e4m3fn", "--no-metadata")
    [(name, t)] = deserialize(out.read_bytes())
    want = bf.astype(ml_dtypes.float8_e4m3fn)
    assert (name, t["dtype"], t["shape"]) == ("b", "F8_E4M3", [2, 32])
    assert bytes(t["data"]) == want.tobytes()
    # and through .irpa and back, for bf16 and fp8 alike
    both = tmp_path / "both.safetensors"
    convert(g, "-o", both, "--no-metadata", "--cast=b=bf16", "--rename=b=b16")
    mid, back = tmp_path / "both.irpa", tmp_path / "back.safetensors"
    merged = tmp_path / "merged.safetensors"
    convert(both, out, "-o", merged)
    convert(merged, "-o", mid)
    convert(mid, "-o", back)
    assert dict(deserialize(back.read_bytes())) == dict(deserialize(merged.read_bytes()))
    assert back.read_bytes() == merged.read_bytes()


def test_quantized_to_safetensors_needs_a_cast(tmp_path, model):
    out = tmp_path / "o.safetensors"
    r = cli("convert", model, "-o", out)
    errors = [ln for ln in r.stderr.splitlines() if not ln.startswith("irpa: warning:")]
    assert r.returncode == 1 and len(errors) == 1
    assert "parameter 'q.Q8_0'" in errors[0] and "--cast=q.Q8_0=f32" in errors[0]
    assert not out.exists() and not list(tmp_path.glob(".o.safetensors*"))
    convert(model, "-o", out, "--cast=q.*=f32")
    got = load_file(str(out))
    src = gguf.GGUFReader(str(model))
    for t in src.tensors:
        if t.name.startswith("q."):
            want = gguf.quants.dequantize(t.data, t.tensor_type)
            assert got[t.name].dtype == np.float32 and np.array_equal(got[t.name], want), t.name
        elif t.name != "p.bf16":
            assert np.array_equal(got[t.name], t.data), t.name
    with safe_open(str(out), "np") as f:
        assert f.metadata() == {
            "general.architecture": "llama",
            "general.name": "model",
            "tokenizer.chat_template": CHAT,
        }
    verified(f"--parameters={model}", "--cast=q.*=f32", out)


def test_metadata_edits_of_safetensors(tmp_path):
    st = make_safetensors(tmp_path / "m.safetensors", {"w": np.ones(4, np.float32)}, {"format": "pt"})
    out = tmp_path / "o.safetensors"
    convert(st, "-o", out, "--set-metadata=new=plain text: yes", "--unset-metadata=format")
    with safe_open(str(out), "np") as f:
        assert f.metadata() == {"new": "plain text: yes"}
    r = cli("convert", st, "-o", out, "--set-metadata=n=u32:3")
    assert r.returncode == 1 and "holds only strings" in r.stderr
    r = cli("convert", st, "-o", out, "--alignment=64")
    assert r.returncode == 1 and "--alignment" in r.stderr


# -- splats and casts in every format -----------------------------------------


@pytest.mark.parametrize("ext", ["gguf", "safetensors", "irpa"])
def test_splats_are_materialised_and_verified(tmp_path, ext):
    st = make_safetensors(
        tmp_path / "m.safetensors",
        {"a": np.arange(64, dtype=np.float32), "b": np.ones((4, 8), np.float16), "c": np.arange(8, dtype=np.float32)},
    )
    out = tmp_path / f"o.{ext}"
    flags = ["--strip", "--keep=c", "--splat=b=f16=2.5", "--rename=c=d", "--cast=a=f16"]
    convert(st, "-o", out, *flags)
    verified(f"--parameters={st}", *flags, out)
    ref = oracle.load(out)  # IREE's runtime reads all three formats
    want_b = np.full((4, 8), 2.5, np.float16).tobytes()
    if ext == "irpa":
        assert ref["a"].kind == "splat" and ref["a"].length == 128 and ref["b"].pattern == want_b[:2]
    else:
        assert ref["a"].data == bytes(128) and ref["b"].data == want_b
    assert ref["d"].data == np.arange(8, dtype=np.float32).tobytes()


@pytest.mark.parametrize(
    "src, dst",
    [("float32", "f16"), ("float32", "bf16"), ("float64", "f32"), ("float16", "f32"), ("float32", "f8_e5m2"),
     ("int16", "i64"), ("uint8", "i16")],
)  # fmt: skip
def test_casts_are_bit_exact(tmp_path, src, dst):
    rng = np.random.default_rng(3)
    a = (rng.standard_normal((4, 64)) * 100).astype(src)
    st = make_safetensors(tmp_path / "m.safetensors", {"a": a})
    out = tmp_path / "o.safetensors"
    convert(st, "-o", out, f"--cast=a={dst}")
    want = a.astype(dtypes.by_name(dst).numpy_dtype())
    [(_, t)] = deserialize(out.read_bytes())
    assert t["shape"] == [4, 64] and bytes(t["data"]) == want.tobytes()
    irpa = tmp_path / "o.irpa"
    convert(st, "-o", irpa, f"--cast=a={dst}")
    assert oracle.load(irpa)["a"].data == want.tobytes()
    e = open_archive(irpa).by_name["a"]
    assert (e.dtype.name, e.shape) == (dst, (4, 64))
    verified(f"--parameters={st}", f"--cast=a={dst}", irpa)


def test_quantize_and_dequantize_against_gguf_quants(tmp_path):
    a = np.random.default_rng(4).standard_normal((4, 64)).astype(np.float32)
    st = make_safetensors(tmp_path / "m.safetensors", {"a": a})
    out = tmp_path / "q.gguf"
    convert(st, "-o", out, "--cast=a=Q8_0", "--set-metadata=general.architecture=string:llama")
    want = gguf.quants.quantize(a, gguf.GGMLQuantizationType.Q8_0)
    assert tensors(out)["a"] == (gguf.GGMLQuantizationType.Q8_0, (64, 4), want.tobytes())
    back = tmp_path / "d.gguf"
    convert(out, "-o", back, "--cast=a=f16")
    deq = gguf.quants.dequantize(want, gguf.GGMLQuantizationType.Q8_0).astype(np.float16)
    assert tensors(back)["a"] == (gguf.GGMLQuantizationType.F16, (64, 4), deq.tobytes())
    verified(f"--parameters={out}", "--cast=a=f16", back)


def test_cast_of_a_zero_splat_stays_a_splat(tmp_path):
    src = tmp_path / "s.irpa"
    st = make_safetensors(tmp_path / "m.safetensors", {"a": np.ones((64, 64), np.float32)})
    convert(st, "-o", src, "--strip")
    out = tmp_path / "o.irpa"
    convert(src, "-o", out, "--cast=a=bf16")
    ref = oracle.load(out)["a"]
    assert (ref.kind, ref.length, ref.pattern) == ("splat", 64 * 64 * 2, b"\0")
    verified(f"--parameters={src}", "--cast=a=bf16", out)


def test_a_wrong_cast_is_caught_by_verify(tmp_path):
    st = make_safetensors(tmp_path / "m.safetensors", {"a": np.arange(64, dtype=np.float32)})
    f16, bf16 = tmp_path / "f16.irpa", tmp_path / "bf16.irpa"
    convert(st, "-o", f16, "--cast=a=f16")
    convert(st, "-o", bf16, "--cast=a=bf16")
    r = cli("verify", f"--parameters={st}", "--cast=a=f16", bf16)
    assert r.returncode == 1 and "type differs" in r.stdout
    r = cli("verify", f"--parameters={st}", "--cast=a=f16", f16)
    assert r.returncode == 0


# -- irpa metadata ------------------------------------------------------------


def test_sharktank_dataset_to_gguf_and_edited_in_irpa(tmp_path):
    from irpa_core import demo

    src = demo.make_demo(tmp_path)
    out = tmp_path / "o.gguf"
    r = cli("convert", src, "-o", out, "--quiet", "--cast=output.weight=f32", "--exclude=rope_freqs.weight")
    assert r.returncode == 0, r.stderr
    assert "hparams" in r.stderr  # sharktank's own properties have no GGUF place: said, not silent
    assert kvs(out)["note"][1].startswith("generated by")  # a string property: a GGUF string key
    # Edited in irpa: the entry is rewritten where it was, and still holds the properties.
    edited = tmp_path / "e.irpa"
    convert(src, "-o", edited, "--set-metadata=general.name=string:demo")
    entries = list(oracle.load(edited))
    assert entries.index(dataset_meta.NAME) == [e.name for e in open_archive(src)].index(dataset_meta.NAME)
    doc = json.loads(oracle.load(edited)[dataset_meta.NAME].data)
    assert doc["general.name"] == "demo" and doc["hparams"]["model"] == "irpa-demo"
    verified(f"--parameters={src}", "--set-metadata=general.name=string:demo", edited)
    # Without metadata edits an irpa's entry is copied as it is.
    same = tmp_path / "s.irpa"
    convert(src, "-o", same)
    assert oracle.load(same)[dataset_meta.NAME].data == oracle.load(src)[dataset_meta.NAME].data


# -- the command line ---------------------------------------------------------


def test_format_by_extension_or_flag(tmp_path, model):
    out = tmp_path / "model.bin"
    r = cli("convert", model, "-o", out)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "--format" in r.stderr and not out.exists()
    convert(model, "-o", out, "--format=gguf")
    assert out.read_bytes()[:4] == b"GGUF"
    convert(model, "-o", out, "--format=safetensors", "--cast=q.*=f16")
    assert out.read_bytes()[8:9] == b"{"
    verified(f"--parameters={model}", "--cast=q.*=f16", out)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--cast=p.float32=f99"], "unknown dtype"),
        (["--cast=p.float32=i8"], "parameter 'p.float32': cannot cast"),
        (["--cast=p.float32"], "expected NAME=DTYPE"),
        (["--set-metadata=x.brand.new=1"], "give its type"),
        (["--set-metadata=llama.context_length=many"], "not an integer"),
        (["--set-metadata=x.n=u8:300"], "out of range"),
        (["--set-metadata=novalue"], "expected KEY=VALUE"),
        (["--set-metadata-file=tokenizer.chat_template=/nonexistent"], "cannot read"),
        (["--rename=p.float32=" + "n" * 64], "llama.cpp reads GGUF tensor names of at most 63"),
    ],
)
def test_refusals_are_one_line_and_write_nothing(tmp_path, model, flags, message):
    out = tmp_path / "o.gguf"
    r = cli("convert", model, "-o", out, *flags)
    errors = [ln for ln in r.stderr.splitlines() if not ln.startswith("irpa: warning:")]
    assert r.returncode == 1 and len(errors) == 1 and errors[0].startswith("irpa: error: "), r.stderr
    assert message in errors[0]
    assert not out.exists() and not list(tmp_path.glob(".o.gguf*"))


def test_unsupported_tensor_types_are_refused_with_a_cast_hint(tmp_path):
    st = make_safetensors(tmp_path / "m.safetensors", {"u": np.arange(4, dtype=np.uint8)})
    out = tmp_path / "o.gguf"
    r = cli("convert", st, "-o", out)
    assert r.returncode == 1 and "parameter 'u'" in r.stderr and "--cast=u=i16" in r.stderr and not out.exists()
    convert(st, "-o", out, "--cast=u=i16")
    assert tensors(out)["u"][2] == np.arange(4, dtype=np.int16).tobytes()


def test_plan_with_new_ops_saves_and_replays(tmp_path, model):
    a, b, plan = tmp_path / "a.gguf", tmp_path / "b.gguf", tmp_path / "p.json"
    flags = ["--strip", "--keep=q.*", "--cast=q.Q8_0=f16", "--set-metadata=general.name=x: y", "--unset-metadata=x.*"]
    convert(model, "-o", a, *flags, f"--save-plan={plan}")
    ops = json.loads(plan.read_text())["ops"]
    assert {"op": "cast", "name": "q.Q8_0", "value": "f16"} in ops
    assert {"op": "set_metadata", "name": "general.name", "value": "x: y"} in ops
    assert {"op": "unset_metadata", "name": "x.*"} in ops
    convert(model, "-o", b, f"--plan={plan}")
    assert a.read_bytes() == b.read_bytes()
    verified(f"--parameters={model}", f"--plan={plan}", b)


@pytest.mark.parametrize("ext", ["gguf", "safetensors", "irpa"])
def test_create_in_every_format(tmp_path, ext):
    out = tmp_path / f"c.{ext}"
    args = ["create", "--data=w=2x32xf32=1.5", "--splat=s=8xf32=7", "--data=z=4xf16", f"--output={out}", "--quiet"]
    if ext != "safetensors":
        args.append("--set-metadata=general.architecture=string:llama")
    assert main(args) == 0
    ref = oracle.load(out)
    assert ref["w"].data == np.full(64, 1.5, np.float32).tobytes() and ref["z"].data == bytes(8)
    s = np.full(8, 7, np.float32).tobytes()
    assert (ref["s"].data == s) if ext != "irpa" else (ref["s"].pattern == s[:4])
    if ext == "gguf":
        assert kvs(out) == {"general.architecture": ([V.STRING], "llama")}
    if ext == "safetensors":
        assert np.array_equal(load_file(str(out))["s"], np.full(8, 7, np.float32))
