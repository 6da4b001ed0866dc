"""GGUF arrays to JSON text straight from their bytes (``gguf_json``): the
text must be exactly ``json.dumps`` of the items the ``gguf`` package's
reader decodes, and ``dataset_meta.encode`` must give the same blob with
and without this path."""

import json

import gguf
import numpy as np
import pytest

from irpa_core import open_archive
from irpa_core.formats import dataset_meta as dm
from irpa_core.formats.gguf_json import array_json
from tests.fixtures import make_gguf

V = gguf.GGUFValueType


def _dumps(items) -> bytes:
    return json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _oracle_items(path, key):
    """The items as the gguf package's reader decodes them."""
    f = gguf.GGUFReader(str(path)).fields[key]
    return f.contents()


def _one_array(tmp_path, items, vtype=None):
    kv = {"a": (items, V.ARRAY, vtype) if vtype is not None else items}
    p = make_gguf(tmp_path / "a.gguf", {}, kv)
    return p, open_archive(p).files[0].metadata["a"]


STRING_CASES = {
    "ascii": [f"tok{i}" for i in range(2000)],
    "unicode": [f"Ġé{i}—中文🙂" for i in range(2000)],
    "quotes and backslashes": ['"', "\\", 'a"b', "a\\b", '\\"', "x"] * 300,
    "control characters": ["\n", "\t", "\x00", "\x1f", "a\rb", "\x7f", "\u2028"] * 300,
    "empty strings": ["", "", "a", "", "b", ""] * 300,
    "long strings": ["x" * 300, "y" * 70000, "z"] * 20,
    "mixed": ['{% if m["role"] %}\n', "", "é" * 255, "é" * 256, "\\n"] * 300,
}


@pytest.mark.parametrize("case", STRING_CASES)
def test_strings_are_what_json_gives(tmp_path, case):
    items = STRING_CASES[case]
    p, arr = _one_array(tmp_path, items)
    assert _oracle_items(p, "a") == items
    assert array_json(arr) == _dumps(items)


def test_strings_that_are_not_utf8_take_the_decoding_path(tmp_path):
    items = [b"ok", b"\xff\xfe", b"fine"] * 500
    p, arr = _one_array(tmp_path, items, V.STRING)
    assert array_json(arr) is None
    ar = open_archive(p)
    md, _types = dm.decode(dm.encode(ar.files[0].metadata, ar.files[0].metadata_types))
    assert [s.encode("utf-8", "surrogateescape") for s in md["a"][1]] == items


NUMBER_CASES = [
    (V.UINT8, np.arange(3000) % 256),
    (V.INT8, np.arange(3000) % 256 - 128),
    (V.UINT16, np.arange(3000) * 21),
    (V.INT16, np.arange(3000) * 21 - 32768),
    (V.UINT32, np.arange(3000) % 7),  # one digit: the direct text path
    (V.INT32, np.arange(3000) * 1_000_000 - 2**31),
    (V.UINT64, np.array([0, 2**64 - 1, 2**63] * 1000, dtype=np.uint64)),
    (V.INT64, np.array([-(2**63), 2**63 - 1, 0, -1] * 800, dtype=np.int64)),
    (V.FLOAT32, np.random.default_rng(0).standard_normal(3000)),
    (V.FLOAT32, -np.arange(3000.0)),  # whole numbers (SentencePiece scores)
    (V.FLOAT32, np.array([0.0, -0.0, 1.0, -1000.0, 1e15, 3e16, 1e-40] * 500)),
    (V.FLOAT64, np.array([0.1, -0.0, 1e16 - 2, 1e16, 2.5e300, 5e-324] * 500)),
    (V.FLOAT64, np.arange(3000.0) - 1500),
]


@pytest.mark.parametrize("vtype, values", NUMBER_CASES, ids=[f"{t.name}-{i}" for i, (t, _) in enumerate(NUMBER_CASES)])
def test_numbers_are_what_json_gives(tmp_path, vtype, values):
    p, arr = _one_array(tmp_path, values.tolist(), vtype)
    items = _oracle_items(p, "a")
    assert array_json(arr) == _dumps([float(x) for x in items] if vtype.name.startswith("FLOAT") else items)


def test_bools_and_non_finite_floats(tmp_path):
    _p, arr = _one_array(tmp_path, [True, False] * 1000, V.BOOL)
    assert array_json(arr) == _dumps([True, False] * 1000)
    _, arr = _one_array(tmp_path, [1.0, float("nan")] * 1000, V.FLOAT32)
    assert array_json(arr) is None  # dataset_meta writes NaN as a string


def test_dataset_blob_is_the_same_with_and_without_the_fast_path(tmp_path, monkeypatch):
    n = 5000
    kv = {
        "general.name": "m",
        "tokenizer.ggml.tokens": [f"t{i}" if i % 97 else f'"q\\{i}\n' for i in range(n)],
        "tokenizer.ggml.scores": ([float(-i) for i in range(n)], V.ARRAY, V.FLOAT32),
        "tokenizer.ggml.token_type": ([1 + i % 5 for i in range(n)], V.ARRAY, V.INT32),
        "schema": ([f"s{i}" for i in range(n)], V.ARRAY, V.STRING),  # collides with the envelope: moved
        "small": ["a", "b"],
        "tokenizer.ggml.merges": [f"a{i} b{i}" for i in range(n)],
    }
    p = make_gguf(tmp_path / "m.gguf", {}, kv)
    sf = open_archive(p).files[0]
    fast = dm.encode(sf.metadata, sf.metadata_types, properties={"hparams": {"x": 1}})
    monkeypatch.setattr(dm, "FAST_ITEMS", 10**9)
    slow = dm.encode(sf.metadata, sf.metadata_types, properties={"hparams": {"x": 1}})
    assert fast == slow
    md, types = dm.decode(fast)
    reader = gguf.GGUFReader(str(p))
    for key in kv:
        want = reader.fields[key].contents()
        got = md[key][1] if types[key] == "array" else md[key]
        assert got == pytest.approx(want) if "scores" in key else got == want, key
