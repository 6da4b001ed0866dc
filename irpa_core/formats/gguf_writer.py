"""GGUF v3 output: key/value encoding, metadata edits and the file layout.

Pure functions, no numpy, no I/O: a source array's encoded items are
copied from the header its reader kept (``GGUFArray.raw``). The layout is the one llama.cpp's ``gguf`` package
(``GGUFWriter``) and ggml's own ``gguf_write_to_file`` produce, so both read
it and a file built from the same content is byte-identical to theirs:

- header: ``GGUF``, version 3, tensor count (u64), kv count (u64);
- the key/values in the given order;
- tensor infos: name, n_dims, dims fastest-varying first (the row-major
  shape reversed), ggml type, offset relative to the data start; each offset
  is the previous one plus the previous size rounded up to the alignment
  (llama.cpp refuses any other offset);
- zero padding to the alignment, then each tensor followed by zero padding
  to the alignment, the last one included (ggml reads the data section as
  the sum of the padded sizes).

The alignment is ``general.alignment`` when the key/values carry it (a u32
power of two; both readers refuse any other type), else 32.

Split models
------------
As llama.cpp's ``gguf-split --split`` writes them (tools/gguf-split/
gguf-split.cpp; ``llama_split_path`` in src/llama.cpp names the files):

- shard files ``PREFIX-00001-of-00003.gguf`` (``shards.shard_paths``: the output
  name without its ``.gguf``, or without an ``-NNNNN-of-NNNNN.gguf`` it
  already has, is the prefix);
- tensors in order, a new shard starting when the next tensor would take
  the current one past ``max_size`` bytes of tensor data (each tensor's
  size rounded up to the alignment; the header is not counted), or every
  ``max_tensors`` tensors (``shard_bounds``). A tensor larger than
  ``max_size`` goes alone in its shard (gguf-split refuses it when it is
  the very first tensor; the ``gguf`` package's writer does the same as
  here);
- the first shard keeps every key/value, then ``split.no`` (u16, 0-based),
  ``split.count`` (u16) and ``split.tensors.count`` (i32, the tensors of
  all shards), set the way gguf-split sets them (an existing key of that
  name is removed and the key appended); the other shards hold only these
  three keys (``split_kvs``), and ``general.alignment`` when the output
  sets one, so that every shard's data lies where its own header says.

Values
------
``encode_kv(key, type_name, value)`` takes our GGUF type names (``u8 i8 u16
i16 u32 i32 f32 bool string u64 i64 f64 array``). An ``array`` value is a
``GGUFArray`` from our reader (its encoded items are copied verbatim from its
file: a 262,144-token vocabulary is never decoded) or an
``(element_type_name, items)`` pair; nested arrays are pairs (or
``GGUFArray``) inside a pair whose element type is ``array``.

Metadata edits
--------------
A ``MetadataEdit`` is ``set`` or ``unset`` of one key, applied in order (the
last edit of a key wins, as for the other plan operations):

- ``MetadataEdit("set", KEY, VALUE)``: VALUE is text, parsed with the type
  the key has in the source (``parse_value``); an existing key keeps its
  type and its position. Arrays take JSON text (``["a", "b"]``).
- ``MetadataEdit("set", KEY, VALUE, type=TYPE)``: TYPE is a GGUF type name,
  or ``array[ELEM]`` for arrays (``array[string]``, ``array[array[u8]]``).
  Required for a key the source does not have (appended after the source's
  keys, in edit order); for an existing key it changes the type in place.
- ``MetadataEdit("unset", KEY)``: drop the key (a missing key is no error:
  a later edit may have re-added what an earlier one removed).

These become the plan ops ``set_metadata KEY=VALUE`` / ``KEY=TYPE:VALUE`` and
``unset_metadata KEY``. The text form ``KEY=TYPE:VALUE`` is ambiguous for
strings holding a colon (chat templates do): whoever parses it should take
``TYPE:`` as a type only for a key the source lacks.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..dtypes import DType
from ..errors import PlanError
from ..model import SourceFile
from .gguf import (
    DEFAULT_ALIGNMENT,
    INT_RANGES,
    MAGIC,
    SPLIT_COUNT,
    SPLIT_NO,
    SPLIT_TENSORS_COUNT,
    T_ARRAY,
    T_STRING,
    TYPE_NAMES,
    GGUFArray,
)
from .irpa_writer import Layout

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing slows start-up (bench/RESULTS.md)
    from typing import Any

VERSION = 3
TYPE_IDS: dict[str, int] = {name: tid for tid, name in TYPE_NAMES.items()}
SCALAR_TYPES = ("u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "u64", "i64", "f64")
_FORMATS = {
    "u8": "B",
    "i8": "b",
    "u16": "H",
    "i16": "h",
    "u32": "I",
    "i32": "i",
    "f32": "f",
    "bool": "?",
    "u64": "Q",
    "i64": "q",
    "f64": "d",
}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_HEADER = struct.Struct("<4sIQQ")

# What llama.cpp's loader accepts (ggml.h): longer names or more dimensions
# make it refuse the whole file.
GGML_MAX_NAME = 64
GGML_MAX_DIMS = 4

# A lossless dtype to suggest with --cast for types GGUF cannot hold.
_CAST_HINT = {
    "u8": "i16",
    "u16": "i32",
    "u32": "i64",
    "f8_e4m3fn": "f16",
    "f8_e5m2": "f16",
    "f8_e4m3fnuz": "f16",
    "f8_e5m2fnuz": "f16",
    "f8_e8m0fnu": "bf16",
}


# ---------------------------------------------------------------------------
# Values


def encode_kv(key: str, type_name: str, value: Any) -> bytes:
    """One GGUF key/value: the key string, the u32 value type, the value.
    Raises ValueError (a sentence naming the key) for a value its type
    cannot hold."""
    try:
        if isinstance(value, GGUFArray) and type_name.startswith("array"):
            return value.encoded(_string(key, "the key") + _U32.pack(T_ARRAY))  # one copy of the items
        return _string(key, "the key") + _value(type_name, value)
    except (ValueError, TypeError) as e:
        raise ValueError(f"metadata key '{key}': {e}") from None


def _value(type_name: str, value: Any) -> bytes:
    tid = TYPE_IDS.get(type_name)
    if tid is None:
        raise ValueError(f"unknown GGUF type {type_name!r} (known: {', '.join(TYPE_IDS)})")
    if tid == T_ARRAY:
        return _array(value)
    return _U32.pack(tid) + _payload(type_name, value)


def _payload(type_name: str, value: Any) -> bytes:
    """The encoded value without its type (one array item, or a scalar)."""
    if type_name == "string":
        return _string(value, "the value")
    return struct.pack("<" + _FORMATS[type_name], _scalar(type_name, value))


def _string(s: Any, what: str) -> bytes:
    if not isinstance(s, str):
        raise TypeError(f"{what} {_short(s)} is not a string")
    try:
        # surrogateescape: bytes that were not UTF-8 in a source (decoded that
        # way by dataset_meta) go back as the same bytes.
        b = s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise ValueError(f"{what} {_short(s)} cannot be encoded as UTF-8") from None
    return _U64.pack(len(b)) + b


def _scalar(type_name: str, v: Any) -> Any:
    """``v`` checked for ``type_name``, ready for struct.pack."""
    if type_name in INT_RANGES:
        if isinstance(v, bool) or not hasattr(v, "__index__"):
            raise TypeError(f"{_short(v)} is not an integer ({type_name})")
        v = v.__index__()
        lo, hi = INT_RANGES[type_name]
        if not lo <= v <= hi:
            raise ValueError(f"{v} is out of range for {type_name} ({lo} to {hi})")
        return v
    if type_name in ("f32", "f64"):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"{_short(v)} is not a number ({type_name})")
        v = float(v)
        if type_name == "f32" and math.isfinite(v):
            try:
                struct.pack("<f", v)
            except OverflowError:
                raise ValueError(f"{v!r} is out of range for f32 (largest finite value 3.4028235e+38)") from None
        return v
    if type_name == "bool":
        if v is True or v is False or (type(v) is int and v in (0, 1)):
            return bool(v)
        raise TypeError(f"{_short(v)} is not a bool (true or false)")
    raise ValueError(f"unknown GGUF type {type_name!r}")


def _array(value: Any) -> bytes:
    if isinstance(value, GGUFArray):
        return value.encoded(_U32.pack(T_ARRAY))
    return _U32.pack(T_ARRAY) + _array_body(value)


def _copied_items(arr: GGUFArray) -> bytes:
    """Element type, count and the encoded items copied from the source header."""
    return arr.encoded(b"")


def _array_body(value: Any) -> bytes:
    """Element type, count and items of an ``(element_type, items)`` pair."""
    if isinstance(value, GGUFArray):
        return _copied_items(value)
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str)):
        raise TypeError(f"an array value is a GGUFArray or an (element type, items) pair, not {_short(value)}")
    etype, items = value
    tid = TYPE_IDS.get(etype)
    if tid is None:
        raise ValueError(f"unknown GGUF array element type {etype!r}")
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"array items must be a list, not {type(items).__name__}")
    head = _U32.pack(tid) + _U64.pack(len(items))
    if tid == T_ARRAY:
        return head + b"".join(_array_body(x) for x in items)
    if tid == T_STRING:
        fast = _strings_body(items)
        if fast is not None:
            return head + fast
        parts = [head]
        for i, s in enumerate(items):
            try:
                parts.append(_string(s, "item"))
            except (ValueError, TypeError) as e:
                raise ValueError(f"array item {i}: {e}") from None
        return b"".join(parts)
    return head + _pack_items(etype, items)


def _strings_body(items: Sequence[Any]) -> bytes | None:
    """The encoded items of a list of strings with the per-item work in C
    (a vocabulary back from a ``__SHARK_DATASET__``), or None to let the
    item-by-item path find and name a bad item."""
    if not _all_of_type(items, str):
        return None
    try:
        encoded = [s.encode("utf-8", "surrogateescape") for s in items]
    except UnicodeEncodeError:
        return None
    parts: list[bytes] = [b""] * (2 * len(encoded))
    parts[0::2] = map(_U64.pack, map(len, encoded))
    parts[1::2] = encoded
    return b"".join(parts)


def _all_of_type(items: Sequence[Any], t: type) -> bool:
    """Every item is exactly of type ``t`` (a bool is no int), checked in C."""
    return set(map(type, items)) <= {t}


def _pack_items(etype: str, items: Sequence[Any]) -> bytes:
    fmt = _FORMATS[etype]
    if etype in INT_RANGES and _all_of_type(items, int):
        # Fast path for big token-id arrays: one range check, one pack.
        lo, hi = INT_RANGES[etype]
        if not items or (lo <= min(items) and max(items) <= hi):
            return struct.pack(f"<{len(items)}{fmt}", *items)
    elif etype in ("f32", "f64") and _all_of_type(items, float):
        try:
            return struct.pack(f"<{len(items)}{fmt}", *items)
        except OverflowError:
            pass  # find the item below, for the message
    checked = []
    for i, x in enumerate(items):
        try:
            checked.append(_scalar(etype, x))
        except (ValueError, TypeError) as e:
            raise ValueError(f"array item {i}: {e}") from None
    return struct.pack(f"<{len(checked)}{fmt}", *checked)


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


# ---------------------------------------------------------------------------
# Parsing values from text


def parse_value(type_name: str, text: str) -> Any:
    """A value of ``type_name`` from text, in the form ``encode_kv`` takes.

    Integers: decimal, or ``0x``/``0o``/``0b`` prefixed. Floats: anything
    ``float()`` reads (``1e-5``, ``nan``, ``inf``). Bools: ``true``/``false``
    (or ``1``/``0``). Strings: the text exactly. Arrays: ``array[ELEM]`` with
    a JSON list (``array[string]`` and ``["a", "b"]``; floats may be written
    ``"nan"``/``"inf"``), giving an ``(ELEM, items)`` pair. Raises ValueError
    with a sentence."""
    if type_name == "string":
        return text
    if type_name in INT_RANGES:
        s = text.strip()
        try:
            v = int(s)
        except ValueError:
            try:
                v = int(s, 0)
            except ValueError:
                raise ValueError(f"{text!r} is not an integer ({type_name})") from None
        return _scalar(type_name, v)
    if type_name in ("f32", "f64"):
        try:
            f = float(text.strip())
        except ValueError:
            raise ValueError(f"{text!r} is not a number ({type_name})") from None
        return _scalar(type_name, f)
    if type_name == "bool":
        s = text.strip().lower()
        if s in ("true", "1"):
            return True
        if s in ("false", "0"):
            return False
        raise ValueError(f"{text!r} is not a bool (true or false)")
    elem = array_element(type_name)
    if elem is None:
        if type_name == "array":
            raise ValueError("an array needs its element type: array[u32], array[string], ...")
        raise ValueError(f"unknown GGUF type {type_name!r} (known: {', '.join(SCALAR_TYPES)}, string, array[TYPE])")
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ValueError(f"an {type_name} value is a JSON list: {e}") from None
    try:
        return _from_json(type_name, doc)
    except TypeError as e:
        raise ValueError(str(e)) from None


def array_element(type_name: str) -> str | None:
    """``u32`` for ``array[u32]``, ``array[string]`` for
    ``array[array[string]]``; None when ``type_name`` is no array type."""
    if type_name.startswith("array[") and type_name.endswith("]"):
        inner = type_name[6:-1]
        if (inner in TYPE_IDS and inner != "array") or array_element(inner) is not None:
            return inner
    return None


def _from_json(type_name: str, doc: Any) -> Any:
    elem = array_element(type_name)
    if elem is None:
        if type_name in ("f32", "f64") and isinstance(doc, str):
            return parse_value(type_name, doc)
        return _scalar(type_name, doc) if type_name != "string" else _checked_str(doc)
    if not isinstance(doc, list):
        raise TypeError(f"an {type_name} value is a JSON list, not {_short(doc)}")
    out = []
    for i, x in enumerate(doc):
        try:
            out.append(_from_json(elem, x))
        except (ValueError, TypeError) as e:
            raise ValueError(f"item {i}: {e}") from None
    return ("array" if array_element(elem) else elem, out)


def _checked_str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"{_short(v)} is not a string")
    return v


def type_spec(type_name: str, value: Any) -> str:
    """The full type of a value (``array[string]`` where the reader says
    ``array``), as ``parse_value`` takes it; nested arrays of mixed item
    types have none (ValueError)."""
    if type_name != "array":
        return type_name
    if isinstance(value, GGUFArray):
        etype = value.type_name
        if etype != "array":
            return f"array[{etype}]"
        inner = {type_spec("array", x) for x in value.items()}
    else:
        etype, items = value
        if etype != "array":
            return f"array[{etype}]"
        inner = {type_spec("array", x) for x in items}
    if len(inner) != 1:
        raise ValueError("is an empty or mixed array of arrays: give its type explicitly (array[array[...]])")
    return f"array[{inner.pop()}]"


# ---------------------------------------------------------------------------
# Edits


@dataclass(frozen=True)
class MetadataEdit:
    """Set or unset one file-level key (see the module docstring)."""

    action: str  # "set" or "unset"
    key: str
    value: str = ""  # set: the value as text
    type: str = ""  # set: GGUF type name or array[ELEM]; "" = the existing key's type

    def __post_init__(self) -> None:
        if self.action not in ("set", "unset"):
            raise PlanError(None, f"unknown metadata action {self.action!r} (set or unset)")
        if not self.key:
            raise PlanError(None, f"{self.action}_metadata needs a key")

    def describe(self) -> str:
        if self.action == "unset":
            return f"unset metadata {self.key}"
        shown = self.value if len(self.value) <= 40 else self.value[:37] + "..."
        typed = f"{self.type}:" if self.type else ""
        return f"set metadata {self.key} = {typed}{shown!r}"


def apply_edits(
    metadata: Mapping[str, Any], types: Mapping[str, str], edits: Iterable[MetadataEdit]
) -> tuple[dict[str, Any], dict[str, str]]:
    """New (metadata, types) with ``edits`` applied in order; the inputs are
    not changed. Raises PlanError naming the key for a value that does not
    parse or a new key without a type."""
    md = dict(metadata)
    ty = dict(types)
    for e in edits:
        if e.action == "unset":
            md.pop(e.key, None)
            ty.pop(e.key, None)
            continue
        spec = e.type
        if not spec:
            if e.key not in ty:
                raise PlanError(
                    None,
                    f"metadata key '{e.key}' is not in the source: give its type "
                    f"({e.key}=TYPE:VALUE, e.g. string, u32, f32, array[string])",
                )
            try:
                spec = type_spec(ty[e.key], md[e.key])
            except ValueError as err:
                raise PlanError(None, f"metadata key '{e.key}' {err}") from None
        try:
            value = parse_value(spec, e.value)
        except ValueError as err:
            raise PlanError(None, f"metadata key '{e.key}': {err}") from None
        md[e.key] = value
        ty[e.key] = "array" if array_element(spec) else spec
    return md, ty


def kv_blobs(metadata: Mapping[str, Any], types: Mapping[str, str], edits: Iterable[MetadataEdit] = ()) -> list[bytes]:
    """Encoded key/values in order, after ``edits``. Raises PlanError."""
    md, ty = apply_edits(metadata, types, edits)
    out = []
    for key, value in md.items():
        try:
            out.append(encode_kv(key, ty.get(key, ""), value))
        except ValueError as e:
            raise PlanError(None, str(e)) from None
    return out


def kv_blobs_from(source: SourceFile, edits: Iterable[MetadataEdit] = ()) -> list[bytes]:
    """The key/values of a source file (every key, in source order, with its
    exact type; safetensors ``__metadata__`` become strings), edited."""
    return kv_blobs(source.metadata, source.metadata_types, edits)


def kv_key(blob: bytes) -> str:
    """The key an encoded key/value starts with."""
    (n,) = _U64.unpack_from(blob, 0)
    return blob[8 : 8 + n].decode("utf-8", "surrogateescape")


# ---------------------------------------------------------------------------
# Layout


def _round_up(n: int, a: int) -> int:
    return -(-n // a) * a


def layout(
    targets: Sequence[Any], kv_blobs: Sequence[bytes], alignment: int = DEFAULT_ALIGNMENT, *, llama_limits: bool = True
) -> Layout:
    """Header bytes and data offsets of a GGUF file holding ``targets``
    (``name``, ``dtype``, ``shape``, ``length``; splats are written as data)
    after the encoded ``kv_blobs``.

    ``alignment`` is used when the key/values have no ``general.alignment``;
    as readers then assume 32, any other value is refused. Targets GGUF
    cannot hold raise ``PlanError`` naming them. ``llama_limits`` also
    refuses what llama.cpp's loader rejects (names of 64 bytes or more, more
    than 4 dimensions, empty inner dimensions)."""
    if alignment < 1 or alignment & (alignment - 1):
        raise ValueError(f"alignment {alignment} is not a power of two")
    align = kv_alignment(kv_blobs)
    if align is None:
        if alignment != DEFAULT_ALIGNMENT:
            raise ValueError(
                f"alignment {alignment} needs a general.alignment key (u32): "
                f"without it readers assume {DEFAULT_ALIGNMENT}"
            )
        align = alignment

    infos = []
    rel = 0
    rel_offsets = []
    seen: set[str] = set()
    for t in targets:
        gtype, dims = _tensor_type(t, llama_limits)
        if t.name in seen:
            raise PlanError(t.name, "appears twice (GGUF tensor names must be unique)")
        seen.add(t.name)
        try:
            name = _string(t.name, "the name")
        except (ValueError, TypeError):
            raise PlanError(t.name, "the name cannot be encoded as UTF-8") from None
        infos.append(
            name + _U32.pack(len(dims)) + struct.pack(f"<{len(dims)}Q", *dims) + _U32.pack(gtype) + _U64.pack(rel)
        )
        rel_offsets.append(rel)
        rel += _round_up(t.length, align)

    parts = [_HEADER.pack(MAGIC, VERSION, len(targets), len(kv_blobs)), *kv_blobs, *infos]
    size = sum(len(p) for p in parts)
    data_start = _round_up(size, align)
    head = b"".join([*parts, bytes(data_start - size)])  # one copy of the key/values, padding included
    return Layout(head, tuple(data_start + r for r in rel_offsets), data_start, data_start + rel)


def kv_alignment(kv_blobs: Sequence[bytes]) -> int | None:
    """``general.alignment`` from the encoded key/values (checked as both
    readers check it); refuses duplicate keys, which both readers reject."""
    keys: set[str] = set()
    found = None
    for blob in kv_blobs:
        key = kv_key(blob)
        if key in keys:
            raise PlanError(None, f"metadata key '{key}' appears twice")
        keys.add(key)
        if key != "general.alignment":
            continue
        at = 8 + _U64.unpack_from(blob, 0)[0]  # the value type follows the key
        (vtype,) = _U32.unpack_from(blob, at)
        if vtype != TYPE_IDS["u32"]:
            raise PlanError(
                None,
                f"general.alignment must be a u32 (it is {TYPE_NAMES.get(vtype, vtype)}): "
                "GGUF readers refuse any other type",
            )
        (value,) = _U32.unpack_from(blob, at + 4)
        if not value or value & (value - 1):
            raise PlanError(None, f"general.alignment {value} is not a power of two")
        found = value
    return found


def _tensor_type(t: Any, llama_limits: bool) -> tuple[int, tuple[int, ...]]:
    """(ggml type id, dims in GGUF order) of a target, or PlanError."""
    d: DType | None = t.dtype
    if d is None or t.shape is None:
        raise PlanError(t.name, "has no dtype or shape (a raw irpa entry without metadata): GGUF needs both")
    if d.ggml is None:
        raise PlanError(t.name, _no_ggml_reason(t.name, d))
    shape = tuple(t.shape)
    count = 1
    for s in shape:
        count *= s
    if d.block_size > 1 and (not shape or shape[-1] % d.block_size):
        raise PlanError(
            t.name,
            f"shape {list(shape)}: the last dimension must be a multiple of the {d.name} block size {d.block_size}",
        )
    if count % d.block_size or count // d.block_size * d.type_size != t.length:
        raise PlanError(t.name, f"{t.length} bytes do not match shape {list(shape)} of {d.name}")
    if llama_limits:
        n = len(t.name.encode("utf-8", "surrogateescape"))
        if n >= GGML_MAX_NAME:
            raise PlanError(
                t.name,
                f"the name is {n} bytes; llama.cpp reads GGUF tensor names of at most "
                f"{GGML_MAX_NAME - 1} (shorten it with --rename)",
            )
        if len(shape) > GGML_MAX_DIMS:
            raise PlanError(
                t.name, f"has {len(shape)} dimensions; llama.cpp reads GGUF tensors of at most {GGML_MAX_DIMS}"
            )
        if 0 in shape[:-1]:
            raise PlanError(t.name, f"shape {list(shape)} is empty in an outer dimension, which llama.cpp cannot read")
    return d.ggml, tuple(reversed(shape))


def _no_ggml_reason(name: str, d: DType) -> str:
    if d.kind == "raw":
        return f"its dtype {d.name} is unknown here, so it cannot be written to GGUF"
    what = {"bool": "bool", "uint": "unsigned integer", "complex": "complex"}.get(d.kind, d.name)
    hint = _CAST_HINT.get(d.name)
    tail = f": cast it, e.g. --cast={name}={hint}" if hint else ""
    return f"GGUF has no {what} tensor type ({d.name}){tail}"


# ---------------------------------------------------------------------------
# Split models

MAX_SHARDS = 0xFFFF  # split.count is a u16


def shard_bounds(lengths: Sequence[int], alignment: int, max_size: int = 0, max_tensors: int = 0) -> list[range]:
    """The tensor indices of each shard, in order (see the module
    docstring). ``max_size``: bytes of tensor data per shard, each tensor
    rounded up to ``alignment``; ``max_tensors``: tensors per shard; 0 is no
    limit. Never an empty shard, except the only one of an output without
    tensors."""
    bounds = []
    start = size = 0
    for i, n in enumerate(lengths):
        padded = _round_up(n, alignment)
        if i > start and ((max_tensors and i - start >= max_tensors) or (max_size and size + padded > max_size)):
            bounds.append(range(start, i))
            start, size = i, 0
        size += padded
    bounds.append(range(start, len(lengths)))
    return bounds


def split_kvs(no: int, count: int, tensors: int) -> tuple[bytes, bytes, bytes]:
    """The three key/values of shard ``no`` (0-based) of ``count``, in the
    order gguf-split writes them."""
    return (
        encode_kv(SPLIT_NO, "u16", no),
        encode_kv(SPLIT_COUNT, "u16", count),
        encode_kv(SPLIT_TENSORS_COUNT, "i32", tensors),
    )
