"""Plain data every reader produces: ``Entry``, ``SourceFile``, ``Archive``.

An ``Entry`` points into its source file; nothing here holds tensor data.
Bytes are reached on demand with ``read_bytes``/``iter_chunks`` through the
entry's ``Source`` (``irpa_core.sources``: a local file opened once, or a
remote one read by ranges), so opening an archive never touches tensor data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from .dtypes import DType
from .errors import ArchiveError
from .sources import Source, shared_source

TYPE_CHECKING = False
if TYPE_CHECKING:  # only for the type checker: importing typing slows start-up (bench/RESULTS.md)
    from typing import Final, Literal

    Kind = Literal["data", "splat", "external"]

DATA: Final = "data"
SPLAT: Final = "splat"
EXTERNAL: Final = "external"
KINDS: tuple[Kind, ...] = (DATA, SPLAT, EXTERNAL)
# How much of an entry's value its file holds (a cut-off download): all of
# it, the first bytes of it, or none of it. ``entry_state`` decides.
COMPLETE: Final = "complete"
PARTIAL: Final = "partial"
MISSING: Final = "missing"
STATES = (COMPLETE, PARTIAL, MISSING)
CHUNK = 8 << 20  # bytes per read when streaming an entry: bounds memory, paces progress and cancel


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One parameter.

    ``file``/``offset``: for ``data`` and ``external`` entries, the file that
    holds the bytes and the absolute offset of the first byte in it. For
    ``splat`` entries ``offset`` is None and ``file`` is the archive the entry
    was declared in. ``shape`` is row-major; ``dtype``/``shape`` are None when
    the source does not say (a raw irpa entry without metadata). ``source``:
    the open ``Source`` of ``file`` when a reader made the entry (the bytes
    of the file as it was opened); None for entries built by hand, which
    are read through ``shared_source(file)``.
    """

    name: str
    kind: Kind
    length: int
    file: str
    offset: int | None = None
    dtype: DType | None = None
    shape: tuple[int, ...] | None = None
    pattern: bytes | None = None
    metadata: bytes = b""
    alignment: int = 0
    scope: str = ""
    source: Source | None = field(default=None, compare=False, repr=False)

    @property
    def start(self) -> int:
        """Absolute offset of the first byte in ``file`` (data and external
        entries; a splat has no bytes in a file)."""
        if self.offset is None:
            raise ValueError(f"'{self.name}' is a splat: it has no bytes in a file")
        return self.offset

    @property
    def element_count(self) -> int | None:
        if self.shape is None:
            return None
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def dtype_name(self) -> str | None:
        return self.dtype.name if self.dtype is not None else None


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One opened file. ``metadata`` is the format's file-level key/values
    (GGUF kv pairs, safetensors ``__metadata__``); GGUF arrays stay lazy
    objects until asked for. ``metadata_types`` gives each key's value type
    by its GGUF name (``u32``, ``f32``, ``string``, ``array``...; every
    safetensors value is a ``string``). ``source``: the open file (its
    ``bytes_fetched``/``requests`` say what reading it cost). ``data_end``:
    where the last byte its entries need lies, as its header says; past
    ``size`` when the file is cut off (``truncated``)."""

    path: str
    format: str
    size: int
    metadata: dict[str, object] = field(default_factory=dict)
    scope: str = ""
    metadata_types: dict[str, str] = field(default_factory=dict)
    source: Source | None = field(default=None, compare=False, repr=False)
    data_end: int = 0

    @property
    def truncated(self) -> bool:
        """The header parses but the data does not reach its end."""
        return self.data_end > self.size

    @property
    def expected_size(self) -> int:
        """The bytes the file should have at least (its size when whole)."""
        return max(self.size, self.data_end)


@dataclass(frozen=True)
class Archive:
    """Entries of one or more files, in file order."""

    files: tuple[SourceFile, ...]
    entries: tuple[Entry, ...]

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    @cached_property
    def by_name(self) -> dict[str, Entry]:
        """Name -> entry. With duplicate names (several files) the first wins,
        like the reference runtime's lookup."""
        out: dict[str, Entry] = {}
        for e in self.entries:
            out.setdefault(e.name, e)
        return out

    @cached_property
    def total_bytes(self) -> int:
        return sum(e.length for e in self.entries)

    @cached_property
    def truncated(self) -> bool:
        """Some file is cut off: entries may be partial or missing
        (``entry_state``; ``irpa_core.salvage`` sums it up)."""
        return any(f.truncated for f in self.files)

    @property
    def sources(self) -> list[Source]:
        """The open source of each file (remote ones count what they fetched)."""
        return [f.source for f in self.files if f.source is not None]

    def close(self) -> None:
        """Close the files now rather than when the last entry is dropped."""
        for s in self.sources:
            s.close()


# ---------------------------------------------------------------------------
# Reaching the bytes of an entry


def source_of(entry: Entry) -> Source:
    """The open source holding the entry's bytes (data and external entries)."""
    return entry.source if entry.source is not None else shared_source(entry.file)


def bytes_present(entry: Entry) -> int:
    """How many bytes of the entry's value its file holds: ``length`` unless
    the file was cut off inside or before them. A splat has no bytes in a
    file and an external entry's file is checked when read: both count as
    whole here."""
    src, off = entry.source, entry.offset
    if src is None or off is None or off + entry.length <= src.size:
        return entry.length
    return max(src.size - off, 0)


def entry_state(entry: Entry) -> str:
    """``complete``, ``partial`` (the file ends inside the value) or
    ``missing`` (it ends before it): the one rule every front end asks."""
    src, off = entry.source, entry.offset
    if src is None or off is None or off + entry.length <= src.size:
        return COMPLETE
    return PARTIAL if off < src.size else MISSING


def incomplete_detail(entry: Entry) -> str:
    """How much of a partial or missing entry is there: ``only 1.2 MiB of
    4.0 MiB present (the file is cut off at byte 95000000)``."""
    from .display import human

    size = entry.source.size if entry.source is not None else 0
    have = bytes_present(entry)
    amount = f"only {human(have)} of {human(entry.length)}" if have else f"none of its {human(entry.length)}"
    return f"{amount} present (the file is cut off at byte {size})"


def incomplete_reason(entry: Entry) -> str | None:
    """Why the entry's value cannot be read whole (a cut-off file), or None:
    ``'x' is partial: only 1.2 MiB of 4.0 MiB present (...)``."""
    state = entry_state(entry)
    if state == COMPLETE:
        return None
    return f"'{entry.name}' is {state}: {incomplete_detail(entry)}"


def require_complete(entry: Entry) -> None:
    """Raise the ``ArchiveError`` that reading a partial or missing entry's
    whole value gives."""
    reason = incomplete_reason(entry)
    if reason is not None:
        raise ArchiveError(entry.file, None, reason)


def read_bytes(entry: Entry, start: int = 0, size: int | None = None) -> bytes:
    """Bytes ``[start, start+size)`` of the entry's value (splats expand).
    Bytes past the end of a cut-off file raise ``ArchiveError`` naming the
    entry and what is present; those before it can be read."""
    if size is None:
        size = entry.length - start
    if start < 0 or size < 0 or start + size > entry.length:
        raise ValueError(f"range {start}+{size} outside {entry.name!r} ({entry.length} bytes)")
    if start + size > bytes_present(entry):
        require_complete(entry)
    if entry.kind == SPLAT:
        pat = entry.pattern or b"\0"
        k = len(pat)
        first = start % k
        reps = (first + size + k - 1) // k
        return (pat * reps)[first : first + size]
    return source_of(entry).read(entry.start + start, size, data_of(entry))


def iter_chunks(entry: Entry, chunk: int = CHUNK) -> Iterator[bytes]:
    """The entry's value in order, ``chunk`` bytes at a time (last shorter).
    Memory stays bounded by ``chunk`` whatever the entry size."""
    if entry.kind == SPLAT:
        pos = 0
        while pos < entry.length:
            n = min(chunk, entry.length - pos)
            yield read_bytes(entry, pos, n)
            pos += n
        return
    require_complete(entry)
    src = source_of(entry)
    src.check_range(entry.start, entry.length, data_of(entry))
    yield from src.iter_chunks(entry.start, entry.length, chunk)


def data_of(entry: Entry) -> str:
    """How errors name the entry's bytes."""
    return f"the data of '{entry.name}' ({entry.length} bytes at offset {entry.offset})"
