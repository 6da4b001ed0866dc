"""The safetensors writer against the safetensors package: what
``save_file`` writes for the same arrays and metadata must be byte-identical,
and its readers must load what we write."""

from __future__ import annotations

import json
import random
import struct

import ml_dtypes
import numpy as np
import pytest
import safetensors
from safetensors.numpy import load_file, save_file

from irpa_core import dtypes, open_archive
from irpa_core.errors import PlanError
from irpa_core.formats import safetensors_writer as sw
from irpa_core.model import Archive, Entry
from irpa_core.plan import Plan, Target
from tests.fixtures import make_gguf, make_irpa_with_iree, quantized_bytes
from tests.layout_io import write_layout

NUMPY_KINDS = [
    "float64",
    "float32",
    "float16",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint64",
    "uint32",
    "uint16",
    "uint8",
    "bool",
    "complex64",
]
ML_KINDS = ["bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu"]


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    out: dict[str, np.ndarray] = {}
    for i, kind in enumerate(NUMPY_KINDS + ML_KINDS):
        dt = np.dtype(getattr(ml_dtypes, kind)) if kind in ML_KINDS else np.dtype(kind)
        a = rng.standard_normal((i % 3 + 1, 5)) * 4
        out[f"z{i:02d}.{kind}"] = np.abs(a).astype(dt) if kind == "float8_e8m0fnu" else a.astype(dt)
    # Names that sort differently as strings and as bytes of one dtype, a
    # scalar, an empty tensor, non-ASCII.
    out["b"] = np.array(1.5, np.float32)
    out["a.10"] = np.zeros((0, 3), np.float32)
    out["a.9"] = np.arange(4, dtype=np.float32)
    out["é"] = np.ones(2, np.float32)
    out["Z"] = np.ones(3, np.float32)
    return out


def _rewrite(src, out, metadata, order=None, plan=None):
    ar = open_archive(str(src))
    targets = (plan or Plan()).tensor_targets(ar)
    if order == "reversed":
        targets = targets[::-1]
    elif order == "shuffled":
        random.Random(0).shuffle(targets)
    return write_layout(out, sw.layout(targets, metadata), targets)


@pytest.mark.parametrize("metadata", [None, {}, {"format": "pt"}, {"k": 'quote " slash \\ nl \n ctl \x01 del \x7f ü'}])
@pytest.mark.parametrize("order", [None, "reversed", "shuffled"])
def test_byte_identical_to_save_file(tmp_path, metadata, order):
    arrays = _arrays()
    src = tmp_path / "src.safetensors"
    save_file(arrays, str(src), metadata=metadata)
    out = _rewrite(src, tmp_path / "out.safetensors", metadata, order)
    assert out.read_bytes() == src.read_bytes()


def test_loaded_by_the_package(tmp_path):
    arrays = _arrays()
    src = tmp_path / "src.safetensors"
    save_file(arrays, str(src))
    out = _rewrite(src, tmp_path / "out.safetensors", {"a": "1", "b": "2", "c": "3"}, "reversed")
    # The package's own parser for every dtype...
    for name, view in safetensors.deserialize(out.read_bytes()):
        assert bytes(view["data"]) == arrays[name].tobytes(), name
        assert list(view["shape"]) == list(arrays[name].shape)
    with safetensors.safe_open(str(out), "np") as f:
        assert f.metadata() == {"a": "1", "b": "2", "c": "3"}
    # ...and load_file for those its numpy side knows (it fails on bf16/fp8).
    plan = Plan()
    for name, a in arrays.items():
        if a.dtype.name not in NUMPY_KINDS:
            plan = plan.exclude(name)
    plain = _rewrite(src, tmp_path / "plain.safetensors", {"a": "1"}, "shuffled", plan)
    loaded = load_file(str(plain))
    assert set(loaded) == {k for k, a in arrays.items() if a.dtype.name in NUMPY_KINDS}
    for k, v in loaded.items():
        assert v.dtype == arrays[k].dtype and v.shape == arrays[k].shape and v.tobytes() == arrays[k].tobytes()


def test_many_metadata_keys_keep_the_given_order(tmp_path):
    # The package writes them in hash-map order (it varies between runs), so
    # only the parsed header can be compared; the rest is byte-identical.
    arrays = {"w": np.ones(3, np.float32)}
    md = {f"key{i}": f"value {i}" for i in range(20)}
    src = tmp_path / "src.safetensors"
    save_file(arrays, str(src), metadata=md)
    out = _rewrite(src, tmp_path / "out.safetensors", md)
    a, b = src.read_bytes(), out.read_bytes()
    (n,) = struct.unpack_from("<Q", a)
    assert len(a) == len(b) and a[:8] == b[:8] and a[8 + n :] == b[8 + n :]
    assert json.loads(a[8 : 8 + n]) == json.loads(b[8 : 8 + n])
    assert list(json.loads(b[8 : 8 + n])["__metadata__"]) == list(md)


def test_from_gguf(tmp_path):
    rng = np.random.default_rng(4)
    tensors = {
        f"t.{k}": (rng.standard_normal((2, 3, 4)) * 5).astype(k)
        for k in ("float32", "float16", "float64", "int8", "int16", "int32", "int64")
    }
    bf16 = rng.standard_normal((2, 4)).astype(ml_dtypes.bfloat16)
    src = make_gguf(tmp_path / "m.gguf", {**tensors, "t.bf16": ("BF16", bf16.view(np.uint8).reshape(2, 8))})
    out = _rewrite(src, tmp_path / "o.safetensors", None)
    loaded = dict(safetensors.deserialize(out.read_bytes()))
    for k, v in tensors.items():
        assert bytes(loaded[k]["data"]) == v.tobytes() and list(loaded[k]["shape"]) == [2, 3, 4]
    assert loaded["t.bf16"]["dtype"] == "BF16" and bytes(loaded["t.bf16"]["data"]) == bf16.tobytes()
    assert load_file(str(out))["t.int16"].tolist() == tensors["t.int16"].tolist()


def test_splats_are_materialised(tmp_path):
    src = make_irpa_with_iree(tmp_path / "s.irpa", "--splat=z=f32=2.5", "--splat=k=i8=7")
    ar = open_archive(str(src))
    # The reference tool writes no dtype/shape: give them, as PYTORCH: metadata would.
    f32, i8 = dtypes.by_name("f32"), dtypes.by_name("i8")
    assert f32 is not None and i8 is not None
    fixed = []
    for e in ar.entries:
        d = f32 if e.name == "z" else i8
        fixed.append(
            Entry(
                name=e.name,
                kind=e.kind,
                length=e.length,
                file=e.file,
                offset=e.offset,
                dtype=d,
                shape=(e.length // d.type_size,),
                pattern=e.pattern,
            )
        )
    targets = Plan().tensor_targets(Archive(files=ar.files, entries=tuple(fixed)))
    out = write_layout(tmp_path / "o.safetensors", sw.layout(targets, None), targets)
    loaded = load_file(str(out))
    assert set(loaded["z"].tolist()) == {2.5} and set(loaded["k"].tolist()) == {7}


def _target(name, dtype_name, shape, length):
    d = dtypes.by_name(dtype_name) if dtype_name else None
    e = Entry(name=name, kind="data", length=length, file="/dev/null", offset=0, dtype=d, shape=shape)
    return Target(name, "data", length, d, shape, b"", e)


@pytest.mark.parametrize(
    "target, message",
    [
        (
            _target("q", "Q4_K", (2, 256), 288),
            "safetensors has no Q4_K (GGUF block-quantized) dtype: dequantize it, e.g. --cast=q=f32 (or f16, bf16)",
        ),
        (
            _target("q", "Q8_1", (1, 32), 40),
            "safetensors has no Q8_1 (GGUF block-quantized) dtype, and gguf.quants cannot dequantize it",
        ),
        (_target("c", "c128", (2,), 32), "safetensors has no c128 dtype"),
        (_target("r", None, None, 4), "has no dtype or shape"),
        (_target("__metadata__", "f32", (1,), 4), "is the name safetensors reserves"),
        (_target("bad", "f32", (3,), 8), "8 bytes do not match shape [3] of f32"),
    ],
)
def test_refusals_name_the_tensor(target, message):
    with pytest.raises(PlanError) as e:
        sw.layout([target], None)
    assert str(e.value).startswith(f"parameter '{target.name}': ") and message in str(e.value)
    assert "\n" not in str(e.value)


def test_quantized_gguf_tensor_refused_with_cast_hint(tmp_path):
    src = make_gguf(tmp_path / "m.gguf", {"blk.0.w": ("Q6_K", quantized_bytes("Q6_K", 2, 256))})
    with pytest.raises(PlanError, match=r"parameter 'blk.0.w': .*--cast=blk.0.w=f32"):
        _rewrite(src, tmp_path / "o.safetensors", None)


def test_metadata_must_be_strings():
    with pytest.raises(PlanError, match="maps strings to strings"):
        sw.layout([], {"n": 1})  # type: ignore[dict-item]
    assert sw.layout([], None).head == struct.pack("<Q", 8) + b"{}      "
