"""A GGUF metadata array as JSON text, built from its encoded items.

``dataset_meta`` keeps a GGUF file's key/values as JSON. Decoding a
262,144-token vocabulary into Python strings only to encode it again costs
far more than copying the model's tensors, so ``array_json`` builds the
text from the array's bytes with numpy, without a Python object per item
where it can:

- strings: the 8-byte length prefixes are found in one vectorised pass (a
  prefix of a string shorter than 256 bytes is 8 bytes whose little-endian
  value is below 256; the candidates are accepted only when they chain
  exactly from the first item to the end, else the prefixes are walked in
  Python), then each prefix becomes ``","``. The few strings that need JSON
  escapes (a quote, a backslash, a control character) are encoded one by
  one by ``json``.
- numbers and bools: ``numpy.frombuffer`` and ``tolist``; one-digit
  integers (token types) straight to text, whole-number floats as integers
  with ``.0``.

The text is byte for byte what ``json.dumps(items, ensure_ascii=False,
separators=(",", ":"))`` gives for the decoded items (a test checks it).
``None`` when this path does not apply (nested arrays, strings that are not
UTF-8, non-finite floats): the caller then decodes the items.
"""

from __future__ import annotations

import json
import struct
from itertools import repeat

from .gguf import T_STRING, GGUFArray

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing slows start-up (bench/RESULTS.md)
    from typing import Any

_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 10: "<u8", 11: "<i8", 6: "<f4", 12: "<f8"}
_BOOL = 7
_U64 = struct.Struct("<Q")


def array_json(arr: GGUFArray) -> bytes | None:
    """The JSON text of ``arr``'s items, or None (see the module docstring)."""
    if arr.type != T_STRING and arr.type != _BOOL and arr.type not in _NUMPY:
        return None
    raw = _read(arr)
    if arr.type == T_STRING:
        return _strings(raw, arr.count)
    return _numbers(raw, arr.type)


def _read(arr: GGUFArray) -> bytes:
    return arr.raw()  # from the header read at open (local or remote)


def _numbers(raw: bytes, type_id: int) -> bytes | None:
    import numpy as np

    if type_id == _BOOL:
        items: Any = (np.frombuffer(raw, np.uint8) != 0).tolist()
        return _dumps(items)
    x = np.frombuffer(raw, _NUMPY[type_id])
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            return None  # dataset_meta writes non-finite values as strings
        whole = x == np.trunc(x)
        if x.size and whole.all() and (np.abs(x) < 1e16).all() and not np.signbit(x[x == 0]).any():
            # Whole numbers (SentencePiece scores are -rank) print as the
            # integer and ".0" below 1e16: format integers, far cheaper than floats.
            return _dumps(x.astype(np.int64).tolist()).replace(b",", b".0,")[:-1] + b".0]"
        return _dumps(x.tolist())
    if x.size and x.min() >= 0 and x.max() <= 9:
        text = np.full(2 * x.size + 1, ord(","), np.uint8)
        text[0], text[-1] = ord("["), ord("]")
        text[1::2] = x.astype(np.uint8) + ord("0")
        return text.tobytes()
    return _dumps(x.tolist())


def _dumps(items: list) -> bytes:
    return json.dumps(items, separators=(",", ":")).encode("ascii")


def _strings(raw: bytes, count: int) -> bytes | None:
    import numpy as np

    if count == 0:
        return b"[]"
    found = _prefixes(raw, count)
    if found is None:
        return None
    starts, lens = found
    b = np.frombuffer(raw, np.uint8)
    # Each 8-byte prefix becomes '","': drop its first 5 bytes, write the
    # separator over the last 3; then '[' replaces the first ','.
    keep = np.ones(len(raw), bool)
    for k in range(5):
        keep[starts + k] = False
    buf = b.copy()
    buf[starts + 5] = ord('"')
    buf[starts + 6] = ord(",")
    buf[starts + 7] = ord('"')
    out = buf[keep]
    out[1] = ord("[")
    text = out[1:].tobytes() + b'"]'
    try:
        text.decode("utf-8")  # the separators are ASCII: valid as a whole means every item is
    except UnicodeDecodeError:
        return None
    # ``out`` still starts with the '"' the text leaves out: 2 quotes per item.
    if np.count_nonzero(out == ord('"')) == 2 * count and not (out < 0x20).any() and not (out == 0x5C).any():
        return text
    return _escape_some(raw, text, starts, lens)


def _prefixes(raw: bytes, count: int) -> tuple[Any, Any] | None:
    """(offset of each length prefix, each string's length) as int64 arrays,
    or None when the items run past the bytes."""
    import numpy as np

    n = len(raw)
    if n >= 8:
        at_every_byte = np.ndarray((n - 7,), "<u8", buffer=raw, strides=(1,))
        starts = np.flatnonzero(at_every_byte < 256)
        if len(starts) == count and starts[0] == 0:
            lens = np.frombuffer(raw, np.uint8)[starts].astype(np.int64)
            ends = starts + 8 + lens
            if ends[-1] == n and np.array_equal(starts[1:], ends[:-1]):
                return starts, lens
    # Long strings (or bytes that look like prefixes): walk the prefixes.
    pos = 0
    out_starts, out_lens = [], []
    unpack = _U64.unpack_from
    try:
        for _ in repeat(None, count):
            (k,) = unpack(raw, pos)
            out_starts.append(pos)
            out_lens.append(k)
            pos += 8 + k
    except struct.error:
        return None
    if pos != n:
        return None
    return np.array(out_starts, np.int64), np.array(out_lens, np.int64)


def _escape_some(raw: bytes, text: bytes, starts: Any, lens: Any) -> bytes:
    """``text`` with the items that need JSON escapes encoded by ``json``."""
    import numpy as np

    t = np.frombuffer(text, np.uint8)
    special = np.zeros(256, bool)
    special[:0x20] = True
    special[[ord('"'), ord("\\")]] = True
    bad = special[t]
    # Where each item's content starts in ``text``: after '[' or '","' and the opening quote.
    content = 2 + np.concatenate(([0], np.cumsum(lens[:-1] + 3)))
    bad[content - 1] = False  # opening quotes
    bad[content + lens] = False  # closing quotes
    items = np.unique(np.searchsorted(content, np.flatnonzero(bad), "right") - 1)
    pieces = []
    prev = 0
    for i in items.tolist():
        c, k, s = int(content[i]), int(lens[i]), int(starts[i]) + 8
        pieces.append(text[prev : c - 1])
        pieces.append(json.dumps(raw[s : s + k].decode("utf-8"), ensure_ascii=False).encode("utf-8"))
        prev = c + k + 1
    pieces.append(text[prev:])
    return b"".join(pieces)
