"""The dtype registry against the packages it mirrors (gguf, numpy,
ml_dtypes, safetensors), and the PYTORCH: metadata convention."""

import json

import gguf
import pytest

from irpa_core import dtypes
from irpa_core.formats import pytorch_meta


def test_ggml_table_matches_gguf_package():
    # Every type the installed gguf knows must have the same name and
    # block/type sizes in our embedded table (or the lazy fallback).
    for qtype, (block, size) in gguf.constants.GGML_QUANT_SIZES.items():
        d = dtypes.from_ggml(int(qtype))
        assert d is not None, qtype
        assert (d.block_size, d.type_size) == (block, size), qtype.name
        assert d.name.upper() == qtype.name.upper(), qtype.name


@pytest.mark.parametrize("d", dtypes.PLAIN, ids=lambda d: d.name)
def test_plain_types_map_onto_numpy(d):
    npd = d.numpy_dtype()
    assert npd.itemsize == d.type_size
    assert dtypes.from_numpy(npd) is d
    assert dtypes.by_name(d.name) is d


@pytest.mark.parametrize("d", [d for d in dtypes.PLAIN if d.safetensors], ids=lambda d: d.name)
def test_safetensors_names(d):
    assert dtypes.from_safetensors(d.safetensors) is d


def test_iree_spellings():
    assert dtypes.from_iree("f32").name == "f32"
    assert dtypes.from_iree("si16").name == "i16"
    assert dtypes.from_iree("ui32").name == "u32"
    assert dtypes.from_iree("f8E4M3FN").name == "f8_e4m3fn"
    assert dtypes.from_iree("nope") is None


def test_nbytes_checks_whole_blocks():
    q4k = dtypes.by_name("Q4_K")
    assert q4k.nbytes(512) == 288
    with pytest.raises(ValueError):
        q4k.nbytes(100)


@pytest.mark.parametrize("d", dtypes.ALL, ids=lambda d: d.name)
def test_pytorch_meta_round_trip(d):
    shape = (2, d.block_size * 3)
    length = d.nbytes(6 * d.block_size)
    blob = pytorch_meta.encode(d, shape, length)
    assert blob.startswith(b"PYTORCH:")
    doc = json.loads(blob[8:])
    # What torch-side readers see is always self-consistent bytes.
    if d.torch is None:
        assert doc["dtype"] == "uint8" and doc["shape"] == [length]
    else:
        assert doc["dtype"] == d.torch and doc["shape"] == list(shape)
    assert pytorch_meta.decode(blob) == (d, shape)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"PYTORCH:",
        b"PYTORCH:[1]",
        b"PYTORCH:\xff",
        b'PYTORCH:{"dtype": "float32", "shape": [-1]}',
        b'PYTORCH:{"dtype": "nope", "shape": [1]}',
        b"other",
    ],
)
def test_pytorch_meta_decode_never_raises(blob):
    assert pytorch_meta.decode(blob) is None
