"""GGUF key/values in an IRPA archive: the ``__SHARK_DATASET__`` entry.

IRPA has no file-level key/values. sharktank keeps a dataset's properties as
JSON in a data entry named ``__SHARK_DATASET__`` (``DatasetMetadata.save`` in
``sharktank/types/theta.py``: ``json.dumps(properties, indent=2)`` with
``"SHARK_DATASET_VERSION": 1`` added; read back with ``json.loads`` and
``properties.update``). When sharktank imports a GGUF file
(``sharktank/types/gguf_interop/base.py``, ``_load_properties``) the
properties are ``{"schema": "GGUF", KEY: VALUE, ...}``: every GGUF key at the
top level under its own dotted name, strings as strings, numbers and bools as
JSON numbers and bools, arrays as JSON lists. Its model configs read the
hyperparameters right there (``LlamaHParams.from_gguf_props(p)`` does
``int(p["llama.context_length"])``, ``float(p[...epsilon])``). The GGUF value
types are lost on the way: u32 and i64 are both JSON numbers.

Our encoding is that same object, so sharktank finds everything where it
looks, plus one extra top-level key that makes it lossless::

    {"schema": "GGUF",
     "general.architecture": "llama",
     "llama.context_length": 4096,
     "llama.attention.layer_norm_rms_epsilon": 9.999999747378752e-06,
     "tokenizer.ggml.tokens": ["<unk>", "<s>", ...],
     "SHARK_DATASET_VERSION": 1,
     "IRPA_GGUF": {"version": 1,
                   "types": {"general.architecture": "string",
                             "llama.context_length": "u32",
                             "llama.attention.layer_norm_rms_epsilon": "f32",
                             "tokenizer.ggml.tokens": "array[string]"}}}

- ``IRPA_GGUF.types`` lists every GGUF key, in GGUF order, with its exact
  type: a scalar type name, ``array[ELEM]`` for an array of scalars or
  strings, or for an array of arrays a JSON list ``["array", SPEC, ...]``
  with the spec of each inner array (they may differ).
- Values are as sharktank writes them. f32 values are the exact double of
  the f32 (sharktank's ``numpy.float32.tolist()`` gives the same), which
  round-trips through JSON and back to the same f32. Non-finite floats,
  which strict JSON lacks, are the strings ``"NaN"``, ``"-NaN"``,
  ``"Infinity"``, ``"-Infinity"`` (Python's ``float()``, which sharktank
  applies, reads them); a NaN with a payload other than the default quiet
  one is ``"NaN:0x7fc00001"`` with the bits of its GGUF type. Integers of
  any size are JSON integers. Strings that were not valid UTF-8 in the
  source keep their bytes (Python's ``surrogateescape``, JSON ``\\udcXX``).
- A GGUF key that collides with the envelope (``schema``,
  ``SHARK_DATASET_VERSION``, ``IRPA_GGUF``) or with an extra property keeps
  its value in ``IRPA_GGUF.values`` instead of the top level.
- The JSON is compact UTF-8 (sharktank indents; both parse the same).
  Big arrays read from a GGUF file go straight from their bytes to this
  text (``gguf_json``), without decoding every item.

``decode`` of a blob without ``IRPA_GGUF`` (written by sharktank itself)
guesses the types the way llama.cpp expects the usual keys: integers u32
when they fit (else i32, u64, i64), floats f32 when exact in f32 (else f64),
arrays by their items, ``tokenizer.ggml.token_type`` i32 and the ``split.*``
counts as GGUFWriter writes them; values GGUF cannot hold (objects, nulls,
mixed lists) and sharktank's reader fields ``GGUF.version``,
``GGUF.tensor_count`` and ``GGUF.kv_count`` are left to ``decode_properties``.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Mapping

from ..errors import ArchiveError
from . import gguf_json
from .gguf import INT_RANGES, T_ARRAY, T_STRING, GGUFArray

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing slows start-up (bench/RESULTS.md)
    from typing import Any

NAME = "__SHARK_DATASET__"
EXTENSION = "IRPA_GGUF"
VERSION = 1
_ENVELOPE = ("schema", "SHARK_DATASET_VERSION", EXTENSION)
_SHARKTANK_READER_FIELDS = ("GGUF.version", "GGUF.tensor_count", "GGUF.kv_count")
_FLOATS = ("f32", "f64")
FAST_ITEMS = 1024  # arrays this long or longer are encoded by gguf_json (numpy pays off)
_SCALARS = (*INT_RANGES, *_FLOATS, "bool", "string")
_FMT = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_U64 = struct.Struct("<Q")
_QNAN = {"f32": 0x7FC00000, "f64": 0x7FF8000000000000}
# Types GGUF writers give these keys, where the guess would differ.
_KNOWN = {
    "tokenizer.ggml.token_type": "array[i32]",
    "split.no": "u16",
    "split.count": "u16",
    "split.tensors.count": "i32",
}


# ---------------------------------------------------------------------------
# Encoding


def encode(
    file_metadata: Mapping[str, Any], metadata_types: Mapping[str, str], *, properties: Mapping[str, Any] | None = None
) -> bytes:
    """The ``__SHARK_DATASET__`` blob for GGUF key/values (values as our
    readers give them: ``GGUFArray`` or ``(element_type, items)`` pairs for
    arrays). ``properties``: other sharktank properties to keep (from
    ``decode_properties``); a GGUF key of the same name keeps its value in
    the extension. Raises ValueError for a value its type cannot hold."""
    extra = dict(properties or {})
    doc: dict[str, Any] = {"schema": "GGUF"}
    types: dict[str, Any] = {}
    moved: dict[str, Any] = {}
    texts: dict[str, bytes] = {}  # placeholder -> the JSON text of a big array
    nonce = os.urandom(8).hex()
    for key, value in file_metadata.items():
        tname = metadata_types.get(key)
        if tname is None:
            raise ValueError(f"metadata key '{key}' has no GGUF type")
        text = None
        if tname == "array" and isinstance(value, GGUFArray) and value.count >= FAST_ITEMS:
            text = gguf_json.array_json(value)
        if text is not None:
            # A string no data can hold (random, with NULs) stands in for the text until the end.
            spec, plain = f"array[{value.type_name}]", f"\0{nonce}:{len(texts)}\0"
            texts[json.dumps(plain)] = text
        else:
            try:
                spec, plain = _encode_value(tname, value)
            except (ValueError, TypeError) as e:
                raise ValueError(f"metadata key '{key}': {e}") from None
        types[key] = spec
        if key in _ENVELOPE or key in extra:
            moved[key] = plain
        else:
            doc[key] = plain
    for k, v in extra.items():
        if k not in _ENVELOPE:
            doc[k] = v
    doc["SHARK_DATASET_VERSION"] = 1
    ext: dict[str, Any] = {"version": VERSION, "types": types}
    if moved:
        ext["values"] = moved
    doc[EXTENSION] = ext
    try:
        blob = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        # Source bytes that were not UTF-8 (surrogateescape): JSON escapes.
        blob = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode("ascii")
    if not texts:
        return blob
    pieces: list[bytes] = []
    pos = 0
    for at, placeholder, text in sorted((blob.index(p.encode("ascii")), p, t) for p, t in texts.items()):
        pieces += (blob[pos:at], text)
        pos = at + len(placeholder)
    pieces.append(blob[pos:])
    return b"".join(pieces)


def _encode_value(tname: str, value: Any) -> tuple[Any, Any]:
    """(type spec, JSON value) of one value."""
    if tname == "array":
        return _encode_array(value)
    if tname not in _SCALARS:
        raise ValueError(f"unknown GGUF type {tname!r}")
    return tname, _plain(tname, value)


def _plain(tname: str, v: Any) -> Any:
    if tname in _FLOATS:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"{v!r} is not a number ({tname})")
        v = float(v)
        return v if math.isfinite(v) else _nonfinite(tname, v)
    if tname in INT_RANGES:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{v!r} is not an integer ({tname})")
        lo, hi = INT_RANGES[tname]
        if not lo <= v <= hi:
            raise ValueError(f"{v} is out of range for {tname}")
        return v
    if tname == "bool":
        if not isinstance(v, bool):
            raise TypeError(f"{v!r} is not a bool")
        return v
    if not isinstance(v, str):
        raise TypeError(f"{v!r} is not a string")
    return v


def _nonfinite(tname: str, v: float) -> str:
    if v == math.inf:
        return "Infinity"
    if v == -math.inf:
        return "-Infinity"
    bits = _float_bits(tname, v)
    top = 1 << (31 if tname == "f32" else 63)
    if bits & (top - 1) == _QNAN[tname]:
        return "-NaN" if bits & top else "NaN"
    return f"NaN:0x{bits:0{8 if tname == 'f32' else 16}x}"


def _float_bits(tname: str, v: float) -> int:
    if tname == "f32":
        return int.from_bytes(struct.pack("<f", v), "little")
    return int.from_bytes(struct.pack("<d", v), "little")


def _encode_array(value: Any) -> tuple[Any, list]:
    etype, items = _array_items(value)
    if etype == "array":
        specs: list[Any] = ["array"]
        plains = []
        for inner in items:
            spec, plain = _encode_array(inner)
            specs.append(spec)
            plains.append(plain)
        return specs, plains
    if etype not in _SCALARS:
        raise ValueError(f"unknown GGUF array element type {etype!r}")
    return f"array[{etype}]", _plain_items(etype, items)


def _plain_items(etype: str, items: list) -> list:
    # The checks run over whole lists in C where they can: a 262,144-token
    # vocabulary and its scores are the common case.
    if etype == "string":
        if not _all_of_type(items, str):
            _first_bad(etype, items)
        return items
    if etype in INT_RANGES:
        if not _all_of_type(items, int):
            _first_bad(etype, items)
        lo, hi = INT_RANGES[etype]
        if items and not (lo <= min(items) and max(items) <= hi):
            _first_bad(etype, items)
        return items
    if etype == "bool":
        if not _all_of_type(items, bool):
            _first_bad(etype, items)
        return items
    if _all_of_type(items, float) and all(map(math.isfinite, items)):
        return items
    out = []
    for i, x in enumerate(items):
        try:
            out.append(_plain(etype, x))
        except (ValueError, TypeError) as e:
            raise ValueError(f"array item {i}: {e}") from None
    return out


def _all_of_type(items: list, t: type) -> bool:
    """Every item is exactly of type ``t`` (no subclass: a bool is no int)."""
    return not items or set(map(type, items)) == {t}


def _first_bad(etype: str, items: list) -> None:
    for i, x in enumerate(items):
        try:
            _plain(etype, x)
        except (ValueError, TypeError) as e:
            raise ValueError(f"array item {i}: {e}") from None


def _array_items(value: Any) -> tuple[str, list]:
    """(element type name, items) of a GGUFArray or a pair; inner arrays of
    a GGUFArray stay GGUFArray."""
    if isinstance(value, GGUFArray):
        return value.type_name, read_array(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str):
        return value[0], list(value[1])
    raise TypeError(f"an array is a GGUFArray or an (element type, items) pair, not {value!r:.60}")


def read_array(arr: GGUFArray) -> list:
    """All items of a GGUF array, decoded from one read of its bytes (much
    faster than item by item for big vocabularies). Strings that are not
    UTF-8 keep their bytes through ``surrogateescape``; inner arrays are
    ``GGUFArray``."""
    raw = arr.raw()
    fmt = _FMT.get(arr.type)
    if fmt is not None:
        return list(struct.unpack_from(f"<{arr.count}{fmt}", raw))
    if arr.type == T_STRING:
        out = []
        pos = 0
        unpack = _U64.unpack_from
        try:
            for _ in range(arr.count):
                (n,) = unpack(raw, pos)
                pos += 8
                out.append(raw[pos : pos + n].decode("utf-8", "surrogateescape"))
                pos += n
        except struct.error:
            raise ArchiveError(arr.path, arr.offset + pos, "file ends inside a metadata array") from None
        return out
    if arr.type == T_ARRAY:
        return arr.items()
    raise ArchiveError(arr.path, arr.offset, f"metadata array has unknown element type {arr.type}")


# ---------------------------------------------------------------------------
# Decoding


def decode(blob: bytes) -> tuple[dict[str, Any], dict[str, str]]:
    """GGUF key/values from a ``__SHARK_DATASET__`` blob: (metadata, types),
    arrays as ``(element_type, items)`` pairs (what
    ``gguf_writer.encode_kv`` takes), types as our readers name them
    (``array`` for arrays). Raises ValueError with a sentence."""
    doc = _load(blob)
    ext = doc.get(EXTENSION)
    if ext is None:
        return _guess(doc)
    if not isinstance(ext, dict) or ext.get("version") != VERSION or not isinstance(ext.get("types"), dict):
        raise ValueError(f"{EXTENSION} is not version {VERSION} of irpa's GGUF encoding")
    moved = ext.get("values", {})
    if not isinstance(moved, dict):
        raise ValueError(f"{EXTENSION}.values is not an object")
    metadata: dict[str, Any] = {}
    types: dict[str, str] = {}
    for key, spec in ext["types"].items():
        if key in moved:
            plain = moved[key]
        elif key in doc:
            plain = doc[key]
        else:
            raise ValueError(f"metadata key '{key}' is listed in {EXTENSION}.types but has no value")
        try:
            metadata[key] = _decode_value(spec, plain)
        except (ValueError, TypeError) as e:
            raise ValueError(f"metadata key '{key}': {e}") from None
        types[key] = "array" if isinstance(spec, list) or str(spec).startswith("array[") else spec
    return metadata, types


def decode_properties(blob: bytes) -> dict[str, Any]:
    """The properties of a ``__SHARK_DATASET__`` blob that are not GGUF
    key/values (sharktank's own: ``hparams``, ``kv_cache_type``...), to
    pass back to ``encode`` when rewriting the blob."""
    doc = _load(blob)
    ext = doc.get(EXTENSION)
    if isinstance(ext, dict) and isinstance(ext.get("types"), dict):
        # A GGUF key kept in the extension's values leaves its top-level
        # slot to a property of the same name.
        moved = ext.get("values")
        gguf_keys = set(ext["types"]) - set(moved if isinstance(moved, dict) else ())
    else:
        gguf_keys = set(_guess(doc)[0])
    skip = set(_ENVELOPE) | set(_SHARKTANK_READER_FIELDS) | gguf_keys
    return {k: v for k, v in doc.items() if k not in skip}


def _load(blob: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(blob.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{NAME} is not UTF-8 (byte {e.start})") from None
    except RecursionError:
        raise ValueError(f"{NAME} JSON is nested too deeply") from None
    except ValueError as e:
        raise ValueError(f"{NAME} is not valid JSON ({e})") from None
    if isinstance(doc, dict):
        return doc
    raise ValueError(f"{NAME} is not a JSON object")


def _decode_value(spec: Any, plain: Any) -> Any:
    if isinstance(spec, list):
        if not spec or spec[0] != "array":
            raise ValueError(f"bad type {spec!r}")
        if not isinstance(plain, list) or len(plain) != len(spec) - 1:
            raise ValueError(f"expected a list of {len(spec) - 1} arrays")
        return ("array", [_decode_value(s, p) for s, p in zip(spec[1:], plain)])
    if not isinstance(spec, str):
        raise TypeError(f"bad type {spec!r}")
    if spec.startswith("array[") and spec.endswith("]"):
        etype = spec[6:-1]
        if etype not in _SCALARS:
            raise ValueError(f"unknown array element type {etype!r}")
        if not isinstance(plain, list):
            raise TypeError(f"expected a list for {spec}")
        return (etype, _decode_items(etype, plain))
    if spec not in _SCALARS:
        raise ValueError(f"unknown GGUF type {spec!r}")
    return _decode_scalar(spec, plain)


def _decode_scalar(tname: str, v: Any) -> Any:
    if tname in _FLOATS:
        if isinstance(v, str):
            return _parse_nonfinite(tname, v)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"{v!r} is not a number ({tname})")
        return float(v)
    return _plain(tname, v)


def _decode_items(etype: str, items: list) -> list:
    if etype in _FLOATS:
        if _all_of_type(items, float):
            return items
        out = []
        for i, x in enumerate(items):
            try:
                out.append(_decode_scalar(etype, x))
            except (ValueError, TypeError) as e:
                raise ValueError(f"array item {i}: {e}") from None
        return out
    return _plain_items(etype, items)


def _parse_nonfinite(tname: str, s: str) -> float:
    if s in ("NaN", "-NaN", "Infinity", "-Infinity"):
        return float(s)
    if s.startswith("NaN:0x"):
        try:
            bits = int(s[6:], 16)
            fmt = "<f" if tname == "f32" else "<d"
            (v,) = struct.unpack(fmt, bits.to_bytes(struct.calcsize(fmt), "little"))
            return float(v)
        except (ValueError, OverflowError):
            pass
    raise ValueError(f"{s!r} is not a number ({tname})")


def _guess(doc: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Key/values of a blob sharktank wrote (no types): see the module docstring."""
    metadata: dict[str, Any] = {}
    types: dict[str, str] = {}
    for key, v in doc.items():
        if key in _ENVELOPE or key in _SHARKTANK_READER_FIELDS:
            continue
        for spec in (_KNOWN.get(key), _guess_spec(v)):
            if spec is None:
                continue
            try:
                metadata[key] = _decode_value(spec, v)
            except (ValueError, TypeError):
                continue
            types[key] = "array" if isinstance(spec, list) or spec.startswith("array[") else spec
            break
    return metadata, types


def _guess_spec(v: Any) -> Any:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, str):
        return "string"
    if isinstance(v, int):
        return _int_type([v])
    if isinstance(v, float):
        return _float_type([v])
    if isinstance(v, list):
        if all(isinstance(x, list) for x in v) and v:
            inner = [_guess_spec(x) for x in v]
            return None if None in inner else ["array", *inner]
        if all(isinstance(x, bool) for x in v):
            return "array[bool]" if v else "array[u8]"
        if all(isinstance(x, str) for x in v):
            return "array[string]"
        if all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            t = _int_type(v)
            return None if t is None else f"array[{t}]"
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            return f"array[{_float_type(v)}]"
    return None


def _int_type(vs: list) -> str | None:
    lo, hi = min(vs), max(vs)
    for t in ("u32", "i32", "u64", "i64"):
        a, b = INT_RANGES[t]
        if a <= lo and hi <= b:
            return t
    return None


def _float_type(vs: list) -> str:
    for x in vs:
        x = float(x)
        if not math.isfinite(x):
            continue
        try:
            if struct.unpack("<f", struct.pack("<f", x))[0] != x:
                return "f64"
        except OverflowError:
            return "f64"
    return "f32"
