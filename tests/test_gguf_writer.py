"""The GGUF writer against the gguf package: its GGUFWriter writes the
sources (our output for the same content must be byte-identical) and its
GGUFReader reads what we write."""

from __future__ import annotations

import math
import struct
from typing import Any

import gguf
import ml_dtypes
import numpy as np
import pytest
from gguf import GGUFValueType as V

from irpa_core import open_archive
from irpa_core.errors import PlanError
from irpa_core.formats import gguf_writer as gw
from irpa_core.formats.gguf import GGUFArray
from irpa_core.model import Archive, Entry
from irpa_core.plan import Plan
from tests.fixtures import make_gguf, make_safetensors, quantized_bytes
from tests.layout_io import write_layout

QUANT_NAMES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "TQ2_0"]

# Every value type, arrays of every element type, a nested array, extremes.
ALL_KV: dict[str, tuple[Any, ...]] = {
    "t.u8": (255, V.UINT8),
    "t.i8": (-128, V.INT8),
    "t.u16": (65535, V.UINT16),
    "t.i16": (-32768, V.INT16),
    "t.u32": (4294967295, V.UINT32),
    "t.i32": (-2147483648, V.INT32),
    "t.f32": (0.1, V.FLOAT32),
    "t.bool": (True, V.BOOL),
    "t.string": ("héllo: {{ role }}\n", V.STRING),
    "t.u64": (2**64 - 1, V.UINT64),
    "t.i64": (-(2**63), V.INT64),
    "t.f64": (-0.0, V.FLOAT64),
    "t.nan": (float("nan"), V.FLOAT32),
    "t.inf": (float("-inf"), V.FLOAT64),
    "a.u8": ([0, 1, 255], V.ARRAY, V.UINT8),
    "a.i8": ([-128, 127], V.ARRAY, V.INT8),
    "a.u16": ([65535], V.ARRAY, V.UINT16),
    "a.i16": ([-1, 2], V.ARRAY, V.INT16),
    "a.u32": ([1, 2, 3], V.ARRAY, V.UINT32),
    "a.i32": ([-5, 5], V.ARRAY, V.INT32),
    "a.f32": ([1.5, float("inf"), float("nan"), -0.0], V.ARRAY, V.FLOAT32),
    "a.bool": ([True, False, True], V.ARRAY, V.BOOL),
    "a.string": (["a", "", "ünï"], V.ARRAY, V.STRING),
    "a.u64": ([2**64 - 1, 0], V.ARRAY, V.UINT64),
    "a.i64": ([-(2**63), 2**63 - 1], V.ARRAY, V.INT64),
    "a.f64": ([1e300, -1e-300], V.ARRAY, V.FLOAT64),
    "a.nested": ([[1, 2], ["x", "y"], [2.5]], V.ARRAY, V.ARRAY),
}


def _tensors():
    rng = np.random.default_rng(1)
    t: dict = {
        f"p.{n}": (rng.standard_normal((3, 8)) * 10).astype(n)
        for n in ("float32", "float16", "int8", "int16", "int32", "int64", "float64")
    }
    t["p.bf16"] = ("BF16", rng.standard_normal((2, 4)).astype(ml_dtypes.bfloat16).view(np.uint8).reshape(2, 8))
    t["p.scalar"] = np.array(3.5, np.float32)
    t["p.4d"] = np.ones((2, 1, 3, 2), np.float32)
    for q in QUANT_NAMES:
        t[f"q.{q}"] = (q, quantized_bytes(q, 3, 256))
    return t


def _convert(src, out, edits=(), plan=None, **kw):
    ar = open_archive(str(src))
    targets = (plan or Plan()).tensor_targets(ar)
    lay = gw.layout(targets, gw.kv_blobs_from(ar.files[0], edits), **kw)
    return write_layout(out, lay, targets)


def _fields(path):
    r = gguf.GGUFReader(str(path))
    return r, {
        k: ([int(t) for t in f.types], [bytes(p) for p in f.parts[1:]])
        for k, f in r.fields.items()
        if not k.startswith("GGUF.")
    }


@pytest.mark.parametrize("alignment", [None, 64, 1])
def test_byte_identical_to_gguf_package(tmp_path, alignment):
    kv = dict(ALL_KV)
    if alignment:
        kv["general.alignment"] = alignment
    src = make_gguf(tmp_path / "src.gguf", _tensors(), kv=kv)
    out = _convert(src, tmp_path / "out.gguf")
    assert out.read_bytes() == src.read_bytes()


def test_no_tensors_byte_identical(tmp_path):
    src = make_gguf(tmp_path / "src.gguf", {}, kv={"a.b": "c"})
    assert _convert(src, tmp_path / "out.gguf").read_bytes() == src.read_bytes()


def test_gguf_reader_sees_every_key_type_and_tensor(tmp_path):
    src = make_gguf(tmp_path / "src.gguf", _tensors(), kv=ALL_KV)
    out = _convert(src, tmp_path / "out.gguf", plan=Plan().exclude("p.int8").rename("q.Q4_K", "renamed"))
    r_src, f_src = _fields(src)
    r_out, f_out = _fields(out)
    assert list(f_out) == list(f_src)  # same keys, same order
    assert f_out == f_src  # same types and encoded values
    for k in ALL_KV:
        a, b = r_src.fields[k].contents(), r_out.fields[k].contents()
        assert repr(a) == repr(b), k  # repr: NaN compares equal to itself
    by_name = {t.name: t for t in r_src.tensors}
    names = [t.name for t in r_out.tensors]
    assert names == [n if n != "q.Q4_K" else "renamed" for n in by_name if n != "p.int8"]
    for t in r_out.tensors:
        s = by_name["q.Q4_K" if t.name == "renamed" else t.name]
        assert t.tensor_type == s.tensor_type and list(t.shape) == list(s.shape), t.name
        assert t.data.tobytes() == s.data.tobytes(), t.name
        assert t.data_offset % 32 == 0


def test_scalar_is_written_with_no_dims(tmp_path):
    src = make_safetensors(tmp_path / "s.safetensors", {"s": np.array(7.0, np.float32)})
    out = _convert(src, tmp_path / "o.gguf")
    (t,) = gguf.GGUFReader(str(out)).tensors
    assert list(t.shape) == [] and t.n_elements == 1 and t.data.tobytes() == np.float32(7).tobytes()


@pytest.fixture(scope="module")
def vocab_gguf(tmp_path_factory):
    tokens = [f"tok{i}\u2581" for i in range(262_144)]
    path = tmp_path_factory.mktemp("vocab") / "v.gguf"
    make_gguf(
        path,
        {"w": np.ones((2, 2), np.float32)},
        kv={
            "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.scores": ([float(i) for i in range(262_144)], V.ARRAY, V.FLOAT32),
        },
    )
    return path


def test_vocabulary_copied_verbatim_without_decoding(tmp_path, vocab_gguf, monkeypatch):
    src = vocab_gguf
    ar = open_archive(str(src))
    arr = ar.files[0].metadata["tokenizer.ggml.tokens"]
    assert isinstance(arr, GGUFArray)
    monkeypatch.setattr(GGUFArray, "items", lambda self, limit=None: pytest.fail("array decoded"))
    blob = gw.encode_kv("tokenizer.ggml.tokens", "array", arr)
    raw = src.read_bytes()
    assert blob.endswith(raw[arr.offset : arr.offset + arr.nbytes])
    targets = Plan().tensor_targets(ar)
    out = write_layout(tmp_path / "o.gguf", gw.layout(targets, gw.kv_blobs_from(ar.files[0])), targets)
    # The gguf package wrote the source: the same bytes are its oracle (its
    # reader would take 11 s to parse 262,144 strings and say nothing more).
    assert out.read_bytes() == raw


def test_edits(tmp_path):
    src = make_gguf(
        tmp_path / "src.gguf",
        {"w": np.ones(4, np.float32)},
        kv={
            "a.count": (5, V.UINT32),
            "a.eps": (1e-5, V.FLOAT32),
            "a.gone": "x",
            "tokenizer.chat_template": "old",
            "a.list": ([1, 2], V.ARRAY, V.INT32),
        },
    )
    E = gw.MetadataEdit
    edits = [
        E("set", "a.count", "4096"),
        E("set", "a.eps", "1e-6"),
        E("unset", "a.gone"),
        E("set", "tokenizer.chat_template", "{% for m in messages %}role: {{ m.role }}{% endfor %}"),
        E("set", "a.list", "[7, -8, 9]"),
        E("set", "new.flag", "true", type="bool"),
        E("set", "new.names", '["p", "q"]', type="array[string]"),
        E("unset", "never.there"),
    ]
    out = _convert(src, tmp_path / "o.gguf", edits)
    f = gguf.GGUFReader(str(out)).fields
    keys = [k for k in f if not k.startswith("GGUF.")]
    assert keys == [
        "general.architecture",
        "a.count",
        "a.eps",
        "tokenizer.chat_template",
        "a.list",
        "new.flag",
        "new.names",
    ]
    assert f["a.count"].types == [V.UINT32] and f["a.count"].contents() == 4096
    assert f["a.eps"].types == [V.FLOAT32] and f["a.eps"].contents() == np.float32(1e-6)
    assert f["tokenizer.chat_template"].contents().startswith("{% for m in messages %}role:")
    assert f["a.list"].types == [V.ARRAY, V.INT32] and f["a.list"].contents() == [7, -8, 9]
    assert f["new.flag"].types == [V.BOOL] and f["new.flag"].contents() is True
    assert f["new.names"].contents() == ["p", "q"]


def test_edit_retypes_in_place_and_last_edit_wins(tmp_path):
    src = make_gguf(tmp_path / "src.gguf", {}, kv={"a.x": (5, V.UINT32), "a.y": "z"})
    E = gw.MetadataEdit
    out = _convert(
        src,
        tmp_path / "o.gguf",
        [E("set", "a.x", "-1", type="i64"), E("set", "a.y", "1"), E("unset", "a.y"), E("set", "a.y", "2", type="u8")],
    )
    f = gguf.GGUFReader(str(out)).fields
    assert [k for k in f if not k.startswith("GGUF.")] == ["general.architecture", "a.x", "a.y"]
    assert f["a.x"].types == [V.INT64] and f["a.x"].contents() == -1
    assert f["a.y"].types == [V.UINT8] and f["a.y"].contents() == 2


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            gw.MetadataEdit("set", "a.count", "70000"),
            "metadata key 'a.count': 70000 is out of range for u16 (0 to 65535)",
        ),
        (gw.MetadataEdit("set", "a.count", "1.5"), "metadata key 'a.count': '1.5' is not an integer (u16)"),
        (gw.MetadataEdit("set", "new.key", "1"), "metadata key 'new.key' is not in the source: give its type"),
        (gw.MetadataEdit("set", "new.key", "1", type="u33"), "unknown GGUF type 'u33'"),
        (gw.MetadataEdit("set", "new.key", "[1]", type="array"), "an array needs its element type"),
        (gw.MetadataEdit("set", "new.key", "1e39", type="f32"), "1e+39 is out of range for f32"),
        (gw.MetadataEdit("set", "new.key", "[1, 300]", type="array[u8]"), "item 1: 300 is out of range for u8"),
    ],
)
def test_edit_errors_are_one_line_plan_errors(tmp_path, edit, message):
    src = make_gguf(tmp_path / "src.gguf", {}, kv={"a.count": (5, V.UINT16)})
    with pytest.raises(PlanError) as e:
        gw.kv_blobs_from(open_archive(str(src)).files[0], [edit])
    assert message in str(e.value) and "\n" not in str(e.value)


def test_alignment_key_is_honoured_and_checked(tmp_path):
    src = make_gguf(tmp_path / "src.gguf", {"w": np.ones(3, np.float32), "v": np.ones(5, np.float32)})
    E = gw.MetadataEdit
    out = _convert(src, tmp_path / "o.gguf", [E("set", "general.alignment", "256", type="u32")])
    r = gguf.GGUFReader(str(out))
    assert r.alignment == 256 and all(t.data_offset % 256 == 0 for t in r.tensors)
    assert out.stat().st_size % 256 == 0
    assert [t.data.tolist() for t in r.tensors] == [[1.0] * 3, [1.0] * 5]
    with pytest.raises(PlanError, match=r"general\.alignment must be a u32"):
        _convert(src, tmp_path / "x.gguf", [E("set", "general.alignment", "64", type="u16")])
    with pytest.raises(PlanError, match=r"general\.alignment 48 is not a power of two"):
        _convert(src, tmp_path / "x.gguf", [E("set", "general.alignment", "48", type="u32")])
    with pytest.raises(ValueError, match=r"needs a general\.alignment key"):
        _convert(src, tmp_path / "x.gguf", alignment=64)


def test_safetensors_to_gguf_with_splat(tmp_path):
    rng = np.random.default_rng(2)
    arrays = {
        "a": rng.standard_normal((4, 6)).astype(np.float32),
        "b": rng.standard_normal(8).astype(ml_dtypes.bfloat16),
        "c": rng.integers(-9, 9, (2, 2)).astype(np.int32),
        "d": np.ones((16,), np.float16),
    }
    src = make_safetensors(tmp_path / "s.safetensors", arrays, metadata={"format": "pt", "note": "x: y"})
    out = _convert(src, tmp_path / "o.gguf", plan=Plan().splat("d", "f16=2.0"))
    r = gguf.GGUFReader(str(out))
    assert r.fields["format"].contents() == "pt" and r.fields["note"].types == [V.STRING]
    got = {t.name: t for t in r.tensors}
    for name in ("a", "c"):
        assert got[name].data.tobytes() == arrays[name].tobytes() and list(got[name].shape) == list(
            arrays[name].shape[::-1]
        )
    assert got["b"].tensor_type == gguf.GGMLQuantizationType.BF16
    assert got["b"].data.tobytes() == arrays["b"].tobytes()
    assert got["d"].data.tolist() == [2.0] * 16


@pytest.mark.parametrize(
    "array, message",
    [
        (np.ones(3, np.uint8), "GGUF has no unsigned integer tensor type (u8): cast it, e.g. --cast=x=i16"),
        (np.ones(3, np.uint32), "--cast=x=i64"),
        (np.ones(3, bool), "GGUF has no bool tensor type (bool)"),
        (
            np.ones(3, ml_dtypes.float8_e4m3fn),
            "GGUF has no f8_e4m3fn tensor type (f8_e4m3fn): cast it, e.g. --cast=x=f16",
        ),
        (np.ones(3, np.complex64), "GGUF has no complex tensor type (c64)"),
        (np.ones((1, 1, 1, 1, 2), np.float32), "has 5 dimensions; llama.cpp reads GGUF tensors of at most 4"),
        (np.ones((0, 2), np.float32), "is empty in an outer dimension"),
    ],
)
def test_refusals_name_the_tensor(tmp_path, array, message):
    src = make_safetensors(tmp_path / "s.safetensors", {"x": array})
    with pytest.raises(PlanError) as e:
        _convert(src, tmp_path / "o.gguf")
    assert str(e.value).startswith("parameter 'x': ") and message in str(e.value) and "\n" not in str(e.value)


def test_long_names_refused_unless_llama_limits_are_off(tmp_path):
    name = "n" * 64
    src = make_safetensors(tmp_path / "s.safetensors", {name: np.ones((1, 1, 1, 1, 2), np.float32)})
    with pytest.raises(PlanError, match=r"the name is 64 bytes; llama\.cpp reads GGUF tensor names of at most 63"):
        _convert(src, tmp_path / "o.gguf")
    out = _convert(src, tmp_path / "o.gguf", llama_limits=False)
    (t,) = gguf.GGUFReader(str(out)).tensors
    assert t.name == name and list(t.shape) == [2, 1, 1, 1, 1]


def test_raw_irpa_entry_refused(tmp_path):
    raw = tmp_path / "raw.bin"
    raw.write_bytes(b"abcd")
    entry = Entry(name="raw", kind="data", length=4, file=str(raw), offset=0)
    with pytest.raises(PlanError, match="parameter 'raw': has no dtype or shape"):
        gw.layout(Plan().tensor_targets(Archive(files=(), entries=(entry,))), [])


@pytest.mark.parametrize(
    "type_name, text, value",
    [
        ("u8", "255", 255),
        ("i8", "-128", -128),
        ("u16", "0x10", 16),
        ("i16", " -7 ", -7),
        ("u32", "4294967295", 2**32 - 1),
        ("i32", "-2147483648", -(2**31)),
        ("u64", "18446744073709551615", 2**64 - 1),
        ("i64", "-9223372036854775808", -(2**63)),
        ("f32", "1e-5", 1e-5),
        ("f64", "-inf", -math.inf),
        ("bool", "TRUE", True),
        ("bool", "0", False),
        ("string", " spaced: text ", " spaced: text "),
        ("array[u8]", "[1, 2]", ("u8", [1, 2])),
        ("array[f32]", '[1, "nan", 2.5]', None),
        ("array[array[string]]", '[["a"], []]', ("array", [("string", ["a"]), ("string", [])])),
    ],
)
def test_parse_value(type_name, text, value):
    got = gw.parse_value(type_name, text)
    if value is None:
        assert got[0] == "f32" and got[1][0] == 1 and math.isnan(got[1][1]) and got[1][2] == 2.5
    else:
        assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    "type_name, text, message",
    [
        ("u8", "256", "256 is out of range for u8 (0 to 255)"),
        ("i8", "-129", "-129 is out of range for i8 (-128 to 127)"),
        ("u64", "-1", "-1 is out of range for u64"),
        ("i32", "abc", "'abc' is not an integer (i32)"),
        ("f64", "x", "'x' is not a number (f64)"),
        ("bool", "yes", "'yes' is not a bool (true or false)"),
        ("array[u8]", "1", "is a JSON list"),
        ("array[u8]", "[1", "an array[u8] value is a JSON list"),
        ("array[string]", "[1]", "item 0: 1 is not a string"),
        ("array[i32]", "[1.0]", "item 0: 1.0 is not an integer"),
    ],
)
def test_parse_value_errors(type_name, text, message):
    with pytest.raises(ValueError) as e:
        gw.parse_value(type_name, text)
    assert message in str(e.value)


def _ours(spec):
    """ALL_KV spec -> (our type name, our value form)."""
    value, vtype = spec[0], spec[1]
    if vtype != V.ARRAY:
        return gw.TYPE_NAMES[int(vtype)], value
    if spec[2] != V.ARRAY:
        return "array", (gw.TYPE_NAMES[int(spec[2])], value)
    # GGUFWriter types inner arrays by their first item: i32, string, f32.
    return "array", ("array", [("i32", value[0]), ("string", value[1]), ("f32", value[2])])


def test_encode_kv_matches_gguf_writer_for_every_type():
    w = gguf.GGUFWriter(None, "x")
    for key, spec in ALL_KV.items():
        sub = spec[2] if len(spec) > 2 else None
        theirs = w._pack_val(key, V.STRING, add_vtype=False) + w._pack_val(
            spec[0], spec[1], add_vtype=True, sub_type=sub
        )
        assert gw.encode_kv(key, *_ours(spec)) == theirs, key


@pytest.mark.parametrize(
    "type_name, value, message",
    [
        ("u32", -1, "-1 is out of range for u32"),
        ("i8", 1.0, "1.0 is not an integer"),
        ("bool", 2, "2 is not a bool"),
        ("string", b"x", "is not a string"),
        ("f32", "1", "'1' is not a number"),
        ("f32", 1e40, "out of range for f32"),
        ("array", ("u16", [1, -1]), "array item 1: -1 is out of range for u16"),
        ("array", [1, 2], "(element type, items) pair"),
        ("array", ("string", ["ok", "\ud800"]), "array item 1: item '\\ud800' cannot be encoded as UTF-8"),
    ],
)
def test_encode_kv_errors(type_name, value, message):
    with pytest.raises(ValueError) as e:
        gw.encode_kv("k.k", type_name, value)
    assert str(e.value).startswith("metadata key 'k.k': ") and message in str(e.value)


def test_f32_values_round_like_the_gguf_package():
    for v in (0.1, 1e-45, 3.4028235e38, -2.5e-39, math.nan):
        assert gw.encode_kv("k", "f32", v)[-4:] == struct.pack("<f", v)
