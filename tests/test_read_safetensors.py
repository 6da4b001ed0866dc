"""The safetensors reader against the safetensors package and IREE's runtime."""

import json
import struct

import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import save_file

from irpa_core import ArchiveError, dtypes, open_archive, read_bytes
from tests import oracle
from tests.fixtures import NUMPY_PLAIN

NUMPY_TYPES = [*NUMPY_PLAIN, "complex64"]
ML_TYPES = {"BF16": ml_dtypes.bfloat16, "F8_E4M3": ml_dtypes.float8_e4m3fn, "F8_E5M2": ml_dtypes.float8_e5m2}


def _hand_written(path, tensors, metadata=None):
    """safetensors for dtypes the package's numpy API cannot save."""
    header, blobs, off = {}, [], 0
    for name, (label, arr) in tensors.items():
        b = arr.tobytes()
        header[name] = {"dtype": label, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    return path


def _check_against_reference(path):
    ours = open_archive(path)
    ref = oracle.load(path)
    assert {e.name for e in ours} == set(ref)
    for e in ours:
        assert e.length == ref[e.name].length
        assert read_bytes(e) == ref[e.name].data, e.name
    return ours


def test_numpy_dtypes_match_reference(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {f"t.{t}": (rng.standard_normal((3, 5)) * 10).astype(t) for t in NUMPY_TYPES}
    p = tmp_path / "m.safetensors"
    save_file(tensors, str(p), metadata={"format": "pt"})
    ours = _check_against_reference(p)
    for e in ours:
        assert e.dtype.numpy_dtype() == tensors[e.name].dtype
        assert e.shape == (3, 5)
        assert np.array_equal(np.frombuffer(read_bytes(e), e.dtype.numpy_dtype()).reshape(e.shape), tensors[e.name])
    assert open_archive(p).files[0].metadata == {"format": "pt"}
    assert open_archive(p).files[0].format == "safetensors"


def test_ml_dtypes_and_unknown_dtype(tmp_path):
    rng = np.random.default_rng(1)
    tensors = {f"t.{k}": (k, rng.standard_normal((2, 4)).astype(v)) for k, v in ML_TYPES.items()}
    tensors["t.future"] = ("F4_E2M1", np.arange(6, dtype=np.uint8))
    p = _hand_written(tmp_path / "m.safetensors", tensors)
    by = {e.name: e for e in open_archive(p)}
    for k in ML_TYPES:
        e = by[f"t.{k}"]
        assert e.dtype is dtypes.from_safetensors(k)
        assert read_bytes(e) == tensors[f"t.{k}"][1].tobytes()
    assert by["t.future"].dtype.kind == "raw" and by["t.future"].dtype.name == "F4_E2M1"
    assert read_bytes(by["t.future"]) == bytes(range(6))


def test_sharded_directory(tmp_path):
    save_file({"a": np.ones(4, np.float32)}, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file({"b": np.zeros(3, np.int32)}, str(tmp_path / "model-00002-of-00002.safetensors"))
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps(
            {
                "metadata": {"total_size": 28},
                "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"},
            }
        )
    )
    a = open_archive(tmp_path)
    assert [e.name for e in a] == ["a", "b"] and len(a.files) == 2


@pytest.mark.parametrize(
    "header, match",
    [
        (b"{", "not valid JSON"),
        (b"[]", "not an IRPA, GGUF or safetensors"),
        # data_offsets past the end of the file are a cut-off download (test_salvage.py), not an error
        (b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}', "end before they begin"),
        (b'{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}', "do not match shape"),
        (b'{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 8]}}', "shape"),
        (b'{"a": {"dtype": "F32", "shape": [2]}}', "data_offsets"),
        (b'{"\xff": 1}', "UTF-8"),
    ],
)
def test_malformed_headers(tmp_path, header, match):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))
    with pytest.raises(ArchiveError, match=match) as ei:
        open_archive(p)
    assert str(p) in str(ei.value)


def test_header_size_checked_before_reading(tmp_path):
    p = tmp_path / "huge.safetensors"
    p.write_bytes(struct.pack("<Q", 2**63) + b"{}")
    with pytest.raises(ArchiveError, match="limit"):
        open_archive(p)
    p.write_bytes(struct.pack("<Q", 1000) + b"{}")
    with pytest.raises(ArchiveError, match="past the end"):
        open_archive(p)
