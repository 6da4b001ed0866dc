"""GGUF key/values through ``__SHARK_DATASET__``: exact round trips checked
against files the gguf package writes, sharktank's view of the properties,
and IREE's runtime loading the archive."""

from __future__ import annotations

import json
import math
import struct
import time
from typing import Any

import gguf
import numpy as np
import pytest
from gguf import GGUFValueType as V

from irpa_core import open_archive, read_bytes
from irpa_core.formats import dataset_meta as dm
from irpa_core.formats import gguf_writer as gw
from irpa_core.formats import safetensors_writer as sw
from irpa_core.model import Entry
from irpa_core.plan import Plan, Target
from irpa_core.write import write_archive
from tests import oracle
from tests.fixtures import make_gguf, make_safetensors, quantized_bytes
from tests.layout_io import write_layout
from tests.test_gguf_writer import ALL_KV

NAN_PAYLOAD_F32 = struct.unpack("<f", struct.pack("<I", 0x7FC00123))[0]
NAN_NEG_F64 = struct.unpack("<d", struct.pack("<Q", 0xFFF8000000000000))[0]

EXTREME_KV = {
    **ALL_KV,
    "x.nan_payload": (NAN_PAYLOAD_F32, V.FLOAT32),
    "x.neg_nan": (NAN_NEG_F64, V.FLOAT64),
    "x.inf": (math.inf, V.FLOAT32),
    "x.tiny": (5e-324, V.FLOAT64),
    "x.f32_max": (3.4028234663852886e38, V.FLOAT32),
    "x.nan_items": ([math.nan, -math.inf, NAN_NEG_F64, 1.0], V.ARRAY, V.FLOAT64),
    "x.not_utf8": ([b"ok", b"\xff\xfe bytes", "ü".encode()], V.ARRAY, V.STRING),
    "x.ctl": ('tab\tnl\n\x00nul \u2028 "q" \\', V.STRING),
    "x.deep": ([[[1, 2]], [["a"]]], V.ARRAY, V.ARRAY),
    # Keys that collide with the envelope.
    "schema": ("not GGUF", V.STRING),
    "SHARK_DATASET_VERSION": (7, V.UINT8),
    "IRPA_GGUF": (True, V.BOOL),
}


def _tensors():
    return {
        "w": np.arange(12, dtype=np.float32).reshape(3, 4),
        "q": ("Q4_K", quantized_bytes("Q4_K", 2, 256)),
        "h": np.ones((5,), np.float16),
    }


def _gguf_from(metadata, types, targets, out):
    lay = gw.layout(targets, gw.kv_blobs(metadata, types))
    return write_layout(out, lay, targets)


def test_round_trip_is_byte_exact_for_every_type(tmp_path):
    src = make_gguf(tmp_path / "src.gguf", _tensors(), kv=EXTREME_KV)
    ar = open_archive(str(src))
    sf = ar.files[0]
    blob = dm.encode(sf.metadata, sf.metadata_types)
    metadata, types = dm.decode(blob)
    assert list(metadata) == list(sf.metadata) and types == sf.metadata_types
    out = _gguf_from(metadata, types, Plan().tensor_targets(ar), tmp_path / "out.gguf")
    assert out.read_bytes() == src.read_bytes()


def test_blob_is_strict_json_with_sharktanks_properties(tmp_path):
    # Left out: bytes that are not UTF-8 (sharktank's import fails on them)
    # and a NaN payload (written "NaN:0x7fc00123", which float() cannot read).
    kv = {k: v for k, v in EXTREME_KV.items() if k not in ("x.not_utf8", "x.nan_payload")}
    src = make_gguf(tmp_path / "src.gguf", {}, kv=kv)
    sf = open_archive(str(src)).files[0]

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    doc = json.loads(dm.encode(sf.metadata, sf.metadata_types), parse_constant=no_constants)
    assert doc["schema"] == "GGUF" and doc["SHARK_DATASET_VERSION"] == 1
    # What sharktank's GGUF import puts in its properties (gguf_interop's
    # _load_properties: strings decoded, numpy scalars .tolist(), arrays as
    # lists), rebuilt here from the gguf package's reader.
    for name, field in gguf.GGUFReader(str(src)).fields.items():
        if (
            name.startswith("GGUF.")
            or name in ("schema", "SHARK_DATASET_VERSION", "IRPA_GGUF")
            or (len(field.types) > 2 and field.types[1] == V.ARRAY)
        ):
            continue
        theirs: Any
        if field.types[0] == V.ARRAY:
            if field.types[1] == V.STRING:
                theirs = [bytes(field.parts[i]).decode() for i in field.data]
            else:
                theirs = [field.parts[i][0].tolist() for i in field.data]
        elif field.types[0] == V.STRING:
            theirs = bytes(field.parts[-1]).decode()
        else:
            theirs = field.parts[-1][0].tolist()
        ours = doc[name]
        if isinstance(theirs, list):
            assert len(ours) == len(theirs)
            for a, b in zip(ours, theirs):
                assert a == b or (isinstance(a, str) and float(a) == b) or (math.isnan(b) and math.isnan(float(a))), (
                    name
                )
        elif isinstance(theirs, float) and not math.isfinite(theirs):
            assert isinstance(ours, str) and (float(ours) == theirs or math.isnan(float(ours))), name
        else:
            assert ours == theirs and type(ours) is type(theirs), name
    # Where sharktank's configs look: int(p[...]), float(p[...]).
    assert float(doc["x.inf"]) == math.inf and int(doc["t.u64"]) == 2**64 - 1


def test_extension_keeps_colliding_keys_and_extra_properties():
    md = {"schema": "mine", "llama.context_length": 4096, "hparams": "a GGUF key named like a property"}
    ty = {"schema": "string", "llama.context_length": "u32", "hparams": "string"}
    props = {"kv_cache_type": "paged", "hparams": {"nested": [1, 2]}, "SHARK_DATASET_VERSION": 99}
    blob = dm.encode(md, ty, properties=props)
    doc = json.loads(blob)
    assert doc["schema"] == "GGUF" and doc["SHARK_DATASET_VERSION"] == 1 and doc["hparams"] == {"nested": [1, 2]}
    assert doc["llama.context_length"] == 4096
    assert dm.decode(blob) == (md, ty)
    assert dm.decode_properties(blob) == {"kv_cache_type": "paged", "hparams": {"nested": [1, 2]}}


def test_blob_written_by_sharktank_itself():
    # sharktank: properties from a GGUF import, json.dumps(indent=2), NaN
    # tokens included, types lost, its reader's GGUF.* fields kept.
    props = {
        "schema": "GGUF",
        "GGUF.version": 3,
        "GGUF.tensor_count": 2,
        "GGUF.kv_count": 9,
        "general.architecture": "llama",
        "llama.context_length": 4096,
        "llama.rope.freq_base": 10000.0,
        "llama.attention.layer_norm_rms_epsilon": 9.999999747378752e-06,
        "x.f64": 0.1,
        "x.neg": -3,
        "x.big": 2**40,
        "x.flag": True,
        "x.nan": math.nan,
        "tokenizer.ggml.tokens": ["<s>", "a"],
        "tokenizer.ggml.token_type": [3, 1],
        "tokenizer.ggml.scores": [0.0, -1.5],
        "split.count": 3,
        "x.nested": [[1], ["a"]],
        "hparams": {"not": "gguf"},
        "x.null": None,
        "x.mixed": [1, "a"],
        "SHARK_DATASET_VERSION": 1,
    }
    blob = json.dumps(props, indent=2).encode()
    md, ty = dm.decode(blob)
    assert ty == {
        "general.architecture": "string",
        "llama.context_length": "u32",
        "llama.rope.freq_base": "f32",
        "llama.attention.layer_norm_rms_epsilon": "f32",
        "x.f64": "f64",
        "x.neg": "i32",
        "x.big": "u64",
        "x.flag": "bool",
        "x.nan": "f32",
        "tokenizer.ggml.tokens": "array",
        "tokenizer.ggml.token_type": "array",
        "tokenizer.ggml.scores": "array",
        "split.count": "u16",
        "x.nested": "array",
    }
    assert md["tokenizer.ggml.token_type"] == ("i32", [3, 1]) and md["x.nested"] == (
        "array",
        [("u32", [1]), ("string", ["a"])],
    )
    assert math.isnan(md["x.nan"]) and md["llama.attention.layer_norm_rms_epsilon"] == 9.999999747378752e-06
    assert dm.decode_properties(blob) == {"hparams": {"not": "gguf"}, "x.null": None, "x.mixed": [1, "a"]}
    gw.kv_blobs(md, ty)  # every guessed value encodes


@pytest.mark.parametrize(
    "blob, message",
    [
        (b"\xff", "is not UTF-8"),
        (b"[1]", "is not a JSON object"),
        (b"{", "is not valid JSON"),
        (b'{"IRPA_GGUF": {"version": 2, "types": {}}}', "is not version 1"),
        (b'{"k": 1, "IRPA_GGUF": {"version": 1, "types": {"k": "string"}}}', "metadata key 'k': 1 is not a string"),
        (
            b'{"k": 300, "IRPA_GGUF": {"version": 1, "types": {"k": "u8"}}}',
            "metadata key 'k': 300 is out of range for u8",
        ),
        (
            b'{"k": ["x"], "IRPA_GGUF": {"version": 1, "types": {"k": "array[f32]"}}}',
            "array item 0: 'x' is not a number",
        ),
        (b'{"IRPA_GGUF": {"version": 1, "types": {"k": "u8"}}}', "'k' is listed in IRPA_GGUF.types but has no value"),
        (b'{"k": 1, "IRPA_GGUF": {"version": 1, "types": {"k": "u9"}}}', "unknown GGUF type 'u9'"),
    ],
)
def test_bad_blobs(blob, message):
    with pytest.raises(ValueError) as e:
        dm.decode(blob)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_encode_errors_name_the_key():
    with pytest.raises(ValueError, match="metadata key 'a': 256 is out of range for u8"):
        dm.encode({"a": 256}, {"a": "u8"})
    with pytest.raises(ValueError, match="metadata key 'b': array item 1: 'x' is not an integer"):
        dm.encode({"b": ("i32", [1, "x"])}, {"b": "array"})


def _blob_target(tmp_path, blob: bytes) -> Target:
    path = tmp_path / "dataset.json"
    path.write_bytes(blob)
    e = Entry(name=dm.NAME, kind="data", length=len(blob), file=str(path), offset=0)
    return Target(dm.NAME, "data", len(blob), None, None, b"", e)


def test_gguf_to_irpa_to_gguf(tmp_path):
    kv = {k: v for k, v in EXTREME_KV.items() if k not in ("general.alignment",)}
    src = make_gguf(tmp_path / "src.gguf", _tensors(), kv=kv)
    ar = open_archive(str(src))
    sf = ar.files[0]
    blob = dm.encode(sf.metadata, sf.metadata_types)
    irpa = tmp_path / "mid.irpa"
    write_archive([*Plan().tensor_targets(ar), _blob_target(tmp_path, blob)], irpa)
    # IREE's runtime loads it, the blob entry included.
    ref = oracle.load(irpa)
    assert ref[dm.NAME].data == blob and ref["w"].data == read_bytes(ar.by_name["w"])
    # Back to GGUF from the archive alone.
    mid = open_archive(str(irpa))
    md, ty = dm.decode(read_bytes(mid.by_name[dm.NAME]))
    targets = Plan().exclude(dm.NAME).tensor_targets(mid)
    out = _gguf_from(md, ty, targets, tmp_path / "out.gguf")
    assert out.read_bytes() == src.read_bytes()


def test_safetensors_to_irpa_to_safetensors(tmp_path):
    arrays: dict[str, np.ndarray] = {"b": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.ones(4, np.int16)}
    src = make_safetensors(tmp_path / "s.safetensors", arrays, metadata={"format": "pt"})
    ar = open_archive(str(src))
    sf = ar.files[0]
    irpa = tmp_path / "mid.irpa"
    write_archive([*Plan().tensor_targets(ar), _blob_target(tmp_path, dm.encode(sf.metadata, sf.metadata_types))], irpa)
    mid = open_archive(str(irpa))
    md, ty = dm.decode(read_bytes(mid.by_name[dm.NAME]))
    assert md == {"format": "pt"} and ty == {"format": "string"}
    targets = Plan().exclude(dm.NAME).tensor_targets(mid)
    out = write_layout(tmp_path / "out.safetensors", sw.layout(targets, md), targets)
    assert out.read_bytes() == src.read_bytes()


def test_vocabulary_speed(tmp_path):
    tokens = [f"▁tok{i}" for i in range(262_144)]
    src = make_gguf(
        tmp_path / "v.gguf",
        {},
        kv={
            "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.scores": ([-float(i) for i in range(262_144)], V.ARRAY, V.FLOAT32),
            "tokenizer.ggml.token_type": ([1] * 262_144, V.ARRAY, V.INT32),
        },
    )
    sf = open_archive(str(src)).files[0]
    t0 = time.perf_counter()
    blob = dm.encode(sf.metadata, sf.metadata_types)
    t1 = time.perf_counter()
    md, ty = dm.decode(blob)
    t2 = time.perf_counter()
    assert ty["tokenizer.ggml.scores"] == "array"
    assert md["tokenizer.ggml.tokens"] == ("string", tokens)
    print(f"encode {t1 - t0:.3f} s, decode {t2 - t1:.3f} s, {len(blob) / 1e6:.1f} MB")
    assert t2 - t0 < 5.0
