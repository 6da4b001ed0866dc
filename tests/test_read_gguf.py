"""The GGUF reader against files written by the gguf package and loaded by
IREE's runtime."""

import struct

import gguf
import numpy as np
import pytest

from irpa_core import ArchiveError, dtypes, open_archive, read_bytes
from irpa_core.formats.gguf import GGUFArray
from tests import oracle
from tests.fixtures import GGUF_PLAIN, make_gguf, quantized_bytes

QUANT_NAMES = [
    d.name for d in dtypes.QUANT if d.name in gguf.GGMLQuantizationType.__members__ and d.name not in ("Q8_1", "Q8_K")
]


def _reference(path):
    """name -> (length, offset, bytes) from IREE's runtime; for ggml types
    it does not support (I8, IQ*, TQ*, MXFP4, ...: "GGML tensor type N not
    supported", or wrong sizes for the IQ kinds) from the gguf package's
    own reader, which is fine as a test oracle on tiny files."""
    try:
        return {k: (r.length, r.offset, r.data) for k, r in oracle.load(path).items()}
    except (NotImplementedError, ValueError):
        r = gguf.GGUFReader(str(path))
        return {t.name: (int(t.n_bytes), int(t.data_offset), t.data.tobytes()) for t in r.tensors}


def _check_against_reference(path):
    ours = open_archive(path)
    ref = _reference(path)
    assert {e.name for e in ours} == set(ref)
    for e in ours:
        length, offset, data = ref[e.name]
        assert (e.length, e.offset) == (length, offset), e.name
        assert read_bytes(e) == data, e.name
    return ours


def test_plain_types_and_shapes(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {f"t.{t}": (rng.standard_normal((2, 3, 4)) * 10).astype(t) for t in GGUF_PLAIN}
    p = make_gguf(tmp_path / "m.gguf", tensors)
    ours = _check_against_reference(p)
    for e in ours:
        assert e.shape == (2, 3, 4)  # row-major, as numpy wrote it
        assert e.dtype.numpy_dtype() == tensors[e.name].dtype
        assert read_bytes(e) == tensors[e.name].tobytes()


def test_bf16(tmp_path):
    import ml_dtypes

    a = np.arange(8, dtype=np.float32).astype(ml_dtypes.bfloat16).reshape(2, 4)
    p = make_gguf(tmp_path / "m.gguf", {"w": ("BF16", a.view(np.uint8).reshape(2, 8))})
    (e,) = _check_against_reference(p)
    assert e.dtype.name == "bf16" and e.shape == (2, 4)


@pytest.mark.parametrize("qname", QUANT_NAMES)
def test_quantized_types(tmp_path, qname):
    d = dtypes.by_name(qname)
    cols = d.block_size * 2
    data = quantized_bytes(qname, 3, cols)
    p = make_gguf(tmp_path / "q.gguf", {"q": (qname, data)})
    (e,) = _check_against_reference(p)
    assert e.dtype is d and e.shape == (3, cols)
    assert e.length == 3 * 2 * d.type_size
    assert read_bytes(e) == data.tobytes()


def test_metadata_values_and_lazy_arrays(tmp_path):
    tokens = [f"tok{i}" for i in range(1000)]
    p = make_gguf(
        tmp_path / "m.gguf",
        {"w": np.ones(4, np.float32)},
        kv={
            "general.name": "tiny",
            "x.u8": (7, gguf.GGUFValueType.UINT8),
            "x.i8": (-7, gguf.GGUFValueType.INT8),
            "x.u16": (7, gguf.GGUFValueType.UINT16),
            "x.i16": (-7, gguf.GGUFValueType.INT16),
            "x.u32": (7, gguf.GGUFValueType.UINT32),
            "x.i32": (-7, gguf.GGUFValueType.INT32),
            "x.u64": (7, gguf.GGUFValueType.UINT64),
            "x.i64": (-7, gguf.GGUFValueType.INT64),
            "x.f32": (0.5, gguf.GGUFValueType.FLOAT32),
            "x.f64": (0.25, gguf.GGUFValueType.FLOAT64),
            "x.bool": (True, gguf.GGUFValueType.BOOL),
            "tokenizer.ggml.tokens": tokens,
            "x.scores": [0.5, 1.5, 2.5],
        },
    )
    md = open_archive(p).files[0].metadata
    assert md["general.name"] == "tiny" and md["general.architecture"] == "llama"
    for k in ("u8", "u16", "u32", "u64"):
        assert md[f"x.{k}"] == 7
    for k in ("i8", "i16", "i32", "i64"):
        assert md[f"x.{k}"] == -7
    assert md["x.f32"] == 0.5 and md["x.f64"] == 0.25 and md["x.bool"] is True
    arr = md["tokenizer.ggml.tokens"]
    assert isinstance(arr, GGUFArray) and arr.count == 1000 and arr.type_name == "string"
    assert arr.items(3) == tokens[:3] and arr.items() == tokens
    assert "tok0" in arr.summary()
    assert md["x.scores"].items() == [0.5, 1.5, 2.5]


def test_alignment_key(tmp_path):
    p = make_gguf(
        tmp_path / "m.gguf", {"a": np.ones(3, np.float32), "b": np.ones(5, np.float32)}, kv={"general.alignment": 64}
    )
    ours = _check_against_reference(p)
    assert all(e.offset % 64 == 0 and e.alignment == 64 for e in ours)


def test_split_model_opens_as_one(tmp_path):
    make_gguf(tmp_path / "m.gguf", {f"t{i}": np.full(4, i, np.float32) for i in range(3)}, split_max_tensors=1)
    first = tmp_path / "m-00001-of-00003.gguf"
    assert first.exists()
    a = open_archive(first)
    assert [e.name for e in a] == ["t0", "t1", "t2"] and len(a.files) == 3
    assert read_bytes(a.entries[2]) == np.full(4, 2, np.float32).tobytes()
    (tmp_path / "m-00003-of-00003.gguf").unlink()
    with pytest.raises(ArchiveError, match="missing shard"):
        open_archive(first)


def _tiny(tmp_path):
    return make_gguf(tmp_path / "m.gguf", {"w": np.ones(4, np.float32)}, kv={"a.b": "c"}).read_bytes()


def test_big_endian_refused(tmp_path):
    blob = bytearray(_tiny(tmp_path))
    blob[4:8] = struct.pack(">I", 3)
    p = tmp_path / "be.gguf"
    p.write_bytes(bytes(blob))
    with pytest.raises(ArchiveError, match="big-endian"):
        open_archive(p)


@pytest.mark.parametrize("cut", [10, 30, 60, 90])
def test_truncated(tmp_path, cut):
    p = tmp_path / "t.gguf"
    p.write_bytes(_tiny(tmp_path)[:cut])
    with pytest.raises(ArchiveError) as ei:
        open_archive(p)
    assert str(p) in str(ei.value)


def test_huge_counts_fail_fast(tmp_path):
    blob = bytearray(_tiny(tmp_path))
    for field in (8, 16):
        b = bytearray(blob)
        b[field : field + 8] = struct.pack("<Q", 2**63)
        p = tmp_path / "h.gguf"
        p.write_bytes(bytes(b))
        with pytest.raises(ArchiveError, match="cannot fit"):
            open_archive(p)
