"""IRPA v0 (IREE parameter archive): byte layout and reader.

The layout constants live here once; the writer (``irpa_writer.py``) imports
them. Everything the reader trusts from the file is checked against the file
size first, so a malformed archive raises ``ArchiveError`` and nothing else.
"""

from __future__ import annotations

import os
import posixpath
import struct

from ..errors import ArchiveError
from ..model import DATA, EXTERNAL, SPLAT, Entry
from ..sources import Source, open_source
from . import pytorch_meta

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..model import Kind

MAGIC = b"IRPA"
VERSION_MAJOR = 0
VERSION_MINOR = 0

# Header: magic, major, minor, header_size, next_header_offset, flags,
# entry_count, entry/metadata/storage segments (offset, length each).
HEADER = struct.Struct("<4sHHQQQQQQQQQQ")
assert HEADER.size == 88

# Common entry header: entry_size, type, flags, name (off, len),
# metadata (off, len), minimum_alignment. Packed: 60 bytes.
ENTRY = struct.Struct("<QIQQQQQQ")
assert ENTRY.size == 60
SPLAT_TAIL = struct.Struct("<Q16sB")  # length, pattern, pattern_length
DATA_TAIL = struct.Struct("<QQ")  # storage offset, length
EXTERNAL_TAIL = struct.Struct("<QQQQ")  # path (off, len), range (off, len)

TYPE_SKIP, TYPE_SPLAT, TYPE_DATA, TYPE_EXTERNAL = 0, 1, 2, 3
ENTRY_ALIGNMENT = 16  # each entry starts on 16 bytes
STORAGE_ALIGNMENT = 64  # what the reference tools use
FILE_ALIGNMENT = 4096  # files are padded to this

_TAIL = {TYPE_SPLAT: SPLAT_TAIL, TYPE_DATA: DATA_TAIL, TYPE_EXTERNAL: EXTERNAL_TAIL}
_TYPE_NAME = {TYPE_SPLAT: "splat", TYPE_DATA: "data", TYPE_EXTERNAL: "external"}
_MAX_ARCHIVES = 1 << 16  # linked headers; a loop is caught earlier


def read_irpa(source: Source | str, scope: str = "") -> tuple[list[Entry], dict, dict[str, str], int]:
    """Entries of every archive linked in the file, in order.

    Returns (entries, file metadata, metadata types, where the data ends).
    Both dicts are empty: the format has no file-level key/values
    (archive-level JSON blobs are ordinary entries). The header, the entry
    table and the metadata segment must lie in the file; a storage segment
    that runs past its end is a cut-off download: its entries list, and
    ``model.entry_state`` says how much of each is there.
    """
    if not isinstance(source, Source):  # a path: the entries keep the file open
        source = open_source(source)
    entries = _read_chain(source, source.name, source.size, scope)
    data_end = 0
    for e in entries:
        if e.source is source and e.offset is not None and e.offset + e.length > data_end:
            data_end = e.offset + e.length
    return entries, {}, {}, data_end


def _read_exact(f: Source, path: str, offset: int, size: int, what: str) -> bytes:
    return f.read(offset, size, f"the {what}")


def _segment(
    path: str, base: int, seg: tuple[int, int], file_size: int, what: str, cut_off: bool = False
) -> tuple[int, int]:
    """Absolute (offset, length) of a header segment, checked to lie in the
    file unless it may be ``cut_off`` (the storage segment: reads of it are
    checked, and what a cut-off file lacks is the salvage view's to say)."""
    off, length = seg
    start = base + off
    if not cut_off and (off > file_size or length > file_size or start + length > file_size):
        raise ArchiveError(
            path,
            base,
            f"{what} segment (offset {off}, length {length}) runs past the end of the file ({file_size} bytes)",
        )
    return start, length


def _read_chain(f, path: str, file_size: int, scope: str) -> list[Entry]:
    entries: list[Entry] = []
    seen: set[int] = set()
    base = 0
    while True:
        if base in seen:
            raise ArchiveError(path, base, "linked archive headers form a loop")
        seen.add(base)
        if len(seen) > _MAX_ARCHIVES:
            raise ArchiveError(path, base, "too many linked archive headers")
        next_rel = _read_one(f, path, file_size, base, scope, entries)
        if next_rel == 0:
            return entries
        nxt = base + next_rel
        if nxt >= file_size or nxt + HEADER.size > file_size:
            raise ArchiveError(path, base + 16, f"next_header_offset {next_rel} points past the end of the file")
        base = nxt


def _read_one(f, path: str, file_size: int, base: int, scope: str, out: list[Entry]) -> int:
    """Read the archive whose header is at ``base``; append its entries to
    ``out`` and return its next_header_offset."""
    if file_size - base < HEADER.size:
        raise ArchiveError(path, base, f"file too small for an IRPA header ({file_size - base} bytes)")
    (magic, major, minor, header_size, next_rel, _flags, count, e_off, e_len, m_off, m_len, s_off, s_len) = (
        HEADER.unpack(_read_exact(f, path, base, HEADER.size, "header"))
    )
    if magic != MAGIC:
        raise ArchiveError(path, base, f"not an IRPA archive (magic {magic!r})")
    if major != VERSION_MAJOR or minor > VERSION_MINOR:
        raise ArchiveError(
            path,
            base + 4,
            f"IRPA version {major}.{minor} is not supported (this reader knows {VERSION_MAJOR}.{VERSION_MINOR})",
        )
    if header_size < HEADER.size:
        raise ArchiveError(path, base + 8, f"header_size {header_size} is smaller than {HEADER.size}")
    e_start, e_len = _segment(path, base, (e_off, e_len), file_size, "entry")
    m_start, m_len = _segment(path, base, (m_off, m_len), file_size, "metadata")
    s_start, s_len = _segment(path, base, (s_off, s_len), file_size, "storage", cut_off=True)
    if count > e_len // ENTRY.size:
        raise ArchiveError(path, base + 32, f"entry_count {count} does not fit in an entry table of {e_len} bytes")
    table = _read_exact(f, path, e_start, e_len, "entry table")
    meta = _read_exact(f, path, m_start, m_len, "metadata segment") if m_len else b""
    arch_dir = posixpath.dirname(path) if f.remote else os.path.dirname(os.path.abspath(path))

    def span(at: int, off: int, length: int, what: str) -> bytes:
        if off > m_len or length > m_len - off:
            raise ArchiveError(
                path, at, f"{what} (offset {off}, length {length}) is outside the metadata segment ({m_len} bytes)"
            )
        return meta[off : off + length]

    pos = 0
    for index in range(count):
        at = e_start + pos
        if e_len - pos < ENTRY.size:
            raise ArchiveError(path, at, f"entry {index} runs past the end of the entry table")
        size, etype, _eflags, n_off, n_len, md_off, md_len, align = ENTRY.unpack_from(table, pos)
        if size > e_len - pos:
            raise ArchiveError(path, at, f"entry {index} size {size} runs past the end of the entry table")
        tail = _TAIL.get(etype)
        if etype != TYPE_SKIP:
            if tail is None:
                raise ArchiveError(path, at + 8, f"entry {index} has unknown type {etype}")
            if size < ENTRY.size + tail.size:
                raise ArchiveError(
                    path,
                    at,
                    f"entry {index} size {size} is too small for a "
                    f"{_TYPE_NAME[etype]} entry ({ENTRY.size + tail.size} bytes)",
                )
            raw_name = span(at + 20, n_off, n_len, f"name of entry {index}")
            # IRPA names are bytes (the runtime compares them as such): bytes
            # that are not UTF-8 are kept through surrogateescape.
            name = raw_name.decode("utf-8", "surrogateescape")
            metadata = span(at + 36, md_off, md_len, f"metadata of '{name}'") if md_len else b""
            fields = tail.unpack_from(table, pos + ENTRY.size)
            out.append(
                _entry(
                    f,
                    path,
                    at,
                    name,
                    etype,
                    fields,
                    metadata,
                    align,
                    scope,
                    base,
                    s_start,
                    s_len,
                    file_size,
                    arch_dir,
                    span,
                )
            )
        elif size < ENTRY.size:
            raise ArchiveError(path, at, f"entry {index} size {size} is smaller than an entry header")
        # Next entry starts on the next 16-byte boundary relative to the header.
        end = pos + size
        pos = -(-(e_start - base + end) // ENTRY_ALIGNMENT) * ENTRY_ALIGNMENT - (e_start - base)
        if index + 1 < count and pos > e_len:
            raise ArchiveError(path, at, f"entry table ends after {index + 1} of {count} entries")
    return next_rel


def _entry(
    source, path, at, name, etype, fields, metadata, align, scope, base, s_start, s_len, file_size, arch_dir, span
) -> Entry:
    decoded = pytorch_meta.decode(metadata) if metadata else None
    dtype, shape = decoded if decoded else (None, None)

    def entry(
        kind: Kind, length: int, file: str, offset: int | None = None, pattern: bytes | None = None, src=None
    ) -> Entry:
        return Entry(
            name=name, kind=kind, length=length, file=file, offset=offset, dtype=dtype, shape=shape,
            pattern=pattern, metadata=metadata, alignment=align, scope=scope, source=src,
        )  # fmt: skip

    if etype == TYPE_SPLAT:
        length, pattern, plen = fields
        if plen not in (1, 2, 4, 8, 16):
            raise ArchiveError(path, at + 84, f"splat '{name}' has pattern length {plen} (must be 1, 2, 4, 8 or 16)")
        if length % plen:
            raise ArchiveError(
                path, at + 60, f"splat '{name}' length {length} is not a multiple of its {plen}-byte pattern"
            )
        return entry(SPLAT, length, path, pattern=pattern[:plen])
    if etype == TYPE_DATA:
        off, length = fields
        if off > s_len or length > s_len - off:
            raise ArchiveError(
                path,
                at + 60,
                f"data of '{name}' (offset {off}, length {length}) is outside the storage segment ({s_len} bytes)",
            )
        return entry(DATA, length, path, s_start + off, src=source)
    p_off, p_len, r_off, r_len = fields
    raw = span(at + 60, p_off, p_len, f"external path of '{name}'")
    try:
        ext = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ArchiveError(path, at + 60, f"external path of '{name}' is not valid UTF-8") from None
    if not ext or "\0" in ext:
        raise ArchiveError(path, at + 60, f"external entry '{name}' has an invalid file path {ext!r}")
    if source.remote:
        full = posixpath.join(arch_dir, ext)
    else:
        full = ext if os.path.isabs(ext) else os.path.join(arch_dir, ext)
    return entry(EXTERNAL, r_len, full, r_off)  # opened when read (shared_source): it may not exist
