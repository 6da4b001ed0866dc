"""safetensors reader: a u64 header size, a JSON header, then the data.

Checks follow the reference library where they protect the reader (header
size cap, length agreeing with shape x itemsize), but an unknown dtype lists
as raw bytes instead of failing the whole file, and data_offsets past the
end of the file are a cut-off download (the salvage view), not an error.
"""

from __future__ import annotations

import json
import struct

from .. import dtypes
from ..errors import ArchiveError
from ..model import DATA, Entry
from ..sources import Source, open_source

MAX_HEADER = 100 << 20  # the reference library's cap


def read_safetensors(source: Source | str, scope: str = "") -> tuple[list[Entry], dict, dict[str, str], int]:
    """Entries in data order, ``__metadata__`` (string -> string), its
    value types (all ``string``) and where the data ends (past the file's
    size when it is cut off: its tensors list, ``model.entry_state`` says
    how much of each is there). Reads 8 bytes, then the header."""
    if not isinstance(source, Source):  # a path: the entries keep the file open
        return read_safetensors(open_source(source), scope)
    path, size = source.name, source.size
    if size < 8:
        raise ArchiveError(path, 0, "file too small for a safetensors header")
    (n,) = struct.unpack("<Q", source.read(0, 8))
    if n > MAX_HEADER:
        raise ArchiveError(path, 0, f"header size {n} exceeds the {MAX_HEADER >> 20} MB limit")
    if n > size - 8:
        raise ArchiveError(path, 0, f"header size {n} runs past the end of the file ({size} bytes)")
    raw = source.read(8, n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ArchiveError(path, 8 + e.start, "header is not valid UTF-8") from None
    except RecursionError:
        raise ArchiveError(path, 8, "header JSON is nested too deeply") from None
    except ValueError as e:
        pos = getattr(e, "pos", None)
        raise ArchiveError(
            path, 8 + pos if pos is not None else 8, f"header is not valid JSON ({getattr(e, 'msg', e)})"
        ) from None
    if not isinstance(header, dict):
        raise ArchiveError(path, 8, "header is not a JSON object")
    data_start = 8 + n
    data_end = 0  # relative to data_start
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise ArchiveError(path, 8, "__metadata__ is not an object")
    metadata = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}

    # The hot loop for 100k-entry headers: plain checks inline, the slow
    # path (_entry) only to build the error message.
    entries = []
    by_label: dict = {}
    for name, info in header.items():
        try:
            label = info["dtype"]
            shape = info["shape"]
            begin, end = info["data_offsets"]
            dtype = by_label.get(label)
            if dtype is None:
                dtype = by_label[label] = dtypes.from_safetensors(label) or dtypes.raw(label)
            count = 1
            for d in shape:
                if type(d) is not int or d < 0:
                    raise ValueError
                count *= d
            if (
                type(begin) is not int
                or type(end) is not int
                or not 0 <= begin <= end
                or (dtype.kind != "raw" and count * dtype.type_size != end - begin)
            ):
                raise ValueError
        except (KeyError, TypeError, ValueError):
            _explain(path, name, info)  # raises the precise error
            raise ArchiveError(path, 8, f"tensor '{name}': malformed header entry") from None
        if end > data_end:
            data_end = end
        entries.append(Entry(
            name=name, kind=DATA, length=end - begin, file=path, offset=data_start + begin, dtype=dtype,
            shape=tuple(shape), scope=scope, source=source,
        ))  # fmt: skip
    # File order is data order; JSON key order is arbitrary.
    entries.sort(key=lambda e: e.start)
    return entries, metadata, dict.fromkeys(metadata, "string"), data_start + data_end


def _explain(path: str, name: str, info) -> None:
    """Raise the precise error for a header entry the fast path refused."""

    def bad(reason: str) -> ArchiveError:
        return ArchiveError(path, 8, f"tensor '{name}': {reason}")

    if not isinstance(info, dict):
        raise bad("header entry is not an object")
    label, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(label, str):
        raise bad("missing dtype")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise bad(f"shape {shape!r} is not a list of non-negative integers")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int and o >= 0 for o in offsets):
        raise bad(f"data_offsets {offsets!r} is not [begin, end]")
    begin, end = offsets
    if begin > end:
        raise bad(f"data_offsets [{begin}, {end}] end before they begin")
    dtype = dtypes.from_safetensors(label) or dtypes.raw(label)
    if dtype.kind != "raw":
        count = 1
        for d in shape:
            count *= d
        if count * dtype.type_size != end - begin:
            raise bad(f"{end - begin} bytes do not match shape {shape} of {label} ({count * dtype.type_size} bytes)")
