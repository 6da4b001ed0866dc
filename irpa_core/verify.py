"""Verify: does an output archive hold exactly what a plan applied to its
sources must give?

The expectation is ``Plan.output`` for the output's format (read from the
file). Every expected entry must be present under its expected name with
the same kind, length, and dtype and shape where both sides record them;
data entries hold exactly ``output.target_chunks`` of their target (the
source's bytes, a splat expanded, the cast values, a generated entry),
compared in bounded chunks, never whole tensors; splats have the same
pattern; nothing extra. The file metadata must equal the expected one (GGUF
key/values with their types, safetensors ``__metadata__``; an irpa's
``__SHARK_DATASET__`` is an entry like the others), and a file that goes
beside the output (a pruned checkpoint's ``config.json``) must be there with
the same JSON. Under a ``prune_blocks`` op the expected name of a kept
block's tensor is its renumbered one and its bytes its source block's, so a
wrong renumbering shows as bytes that differ (``Check.source`` names the
source tensor).

Bytes go through a ``Locator`` (locate.py), which counts every differing
byte and element and says where the first one is and what both sides hold
there; reading the bytes (``compare_entries``, ``compare_target``,
``_Reader``) is kept apart from that reporting.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import ArchiveError, Cancelled
from .formats.registry import DATASET_ENTRY, KEY_VALUES
from .locate import Difference, Locator
from .model import CHUNK, DATA, SPLAT, Archive, Entry, read_bytes, source_of
from .output import Output, build, format_of, target_chunks
from .plan import CAST_STREAM, COPY, MEMORY, Plan, Target
from .write import Progress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final, Literal

    Status = Literal[
        "same",
        "bytes differ",
        "missing",
        "extra",
        "kind differs",
        "length differs",
        "pattern differs",
        "type differs",
        "metadata differs",
        "truncated",
    ]

SAME: Final = "same"
BYTES_DIFFER: Final = "bytes differ"
MISSING: Final = "missing"
EXTRA: Final = "extra"
KIND_DIFFERS: Final = "kind differs"
LENGTH_DIFFERS: Final = "length differs"
PATTERN_DIFFERS: Final = "pattern differs"
TYPE_DIFFERS: Final = "type differs"  # dtype or shape
METADATA_DIFFERS: Final = "metadata differs"  # a file-level key (its check is named "[metadata] KEY")
TRUNCATED: Final = "truncated"  # the output's file ends inside the entry's data
STATUSES: tuple[Status, ...] = (
    SAME,
    BYTES_DIFFER,
    MISSING,
    EXTRA,
    KIND_DIFFERS,
    LENGTH_DIFFERS,
    PATTERN_DIFFERS,
    TYPE_DIFFERS,
    METADATA_DIFFERS,
    TRUNCATED,
)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str = ""
    source: str | None = None  # source parameter name (None for extras)
    offset: int | None = None  # first differing byte in the entry, when bytes differ
    difference: Difference | None = None  # counts, first element, values (whenever compared bytes differ)

    @property
    def ok(self) -> bool:
        return self.status == SAME

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "source": self.source,
            "offset": self.offset,
            "difference": self.difference.to_json() if self.difference else None,
        }


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]
    bytes_compared: int = 0
    counts: dict[Status, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def summary(self) -> str:
        parts = [f"{n} {s}" for s, n in self.counts.items() if n]
        verdict = "OK" if self.ok else "FAILED"
        return (
            f"{verdict}: {len(self.checks)} entries checked ({', '.join(parts) or 'none'}), "
            f"{self.bytes_compared} bytes compared"
        )

    def to_json(self, all_entries: bool = False) -> dict:
        return {
            "ok": self.ok,
            "counts": self.counts,
            "bytes_compared": self.bytes_compared,
            "entries": [c.to_json() for c in self.checks if all_entries or not c.ok],
        }


def verify(
    sources: Archive,
    plan: Plan,
    output: Archive,
    *,
    progress: Callable[[Progress], None] | None = None,
    cancel=None,
) -> Report:
    """Check ``output`` against ``build(plan, sources, its format)``.
    ``progress`` gets a ``Progress`` (entry index and count, bytes compared
    and to compare) as each entry starts and after each chunk;
    ``cancel.is_set()`` stops. From cut-off sources only what could be
    written is expected: the complete entries (``build(salvage=True)``)."""
    expected = build(plan, sources, format_of(output), salvage=True)
    return compare_targets(list(expected.targets), output, progress=progress, cancel=cancel, metadata=expected)


def compare_beside(expected: Output, output: Archive) -> list[Check]:
    """A check per file that must sit beside the output (``Output.beside``:
    a pruned checkpoint's config.json) and is missing or holds other JSON."""
    checks = []
    for name, text in expected.beside:
        path = os.path.join(os.path.dirname(os.path.abspath(output.files[0].path)), name)
        try:
            with open(path, "rb") as fh:
                got = fh.read()
        except OSError:
            checks.append(Check(f"[{name}]", METADATA_DIFFERS, "expected beside the output, not found"))
            continue
        try:
            same = json.loads(got) == json.loads(text)
        except ValueError:
            same = False
        if not same:
            checks.append(Check(f"[{name}]", METADATA_DIFFERS, "differs from the expected one"))
    return checks


def expected_entry(t: Target) -> Entry:
    """What the output must hold for ``t``, as an entry: its source when the
    bytes are copied; else an entry with no bytes in a file (``offset``
    None) with the target's dtype and shape: a splat of the pattern (a
    planned splat is its pattern, not the source data it replaces), or, for
    cast or generated bytes, data that only ``target_chunks`` produces."""
    src = t.source
    how = t.how
    if how == COPY:
        return src
    computed = how in (CAST_STREAM, MEMORY)
    pattern = None if computed else (t.pattern if t.pattern is not None else (src.pattern or b"\0"))
    if pattern is not None and src.kind == SPLAT and src.pattern == pattern and src.length == t.length:
        return src
    return Entry(
        name=src.name,
        kind=DATA if computed else SPLAT,
        length=t.length,
        file=src.file,
        dtype=t.dtype,
        shape=t.shape,
        pattern=pattern,
        metadata=t.metadata,
    )


def compare_targets(
    expected: list[Target],
    output: Archive,
    *,
    progress: Callable[[Progress], None] | None = None,
    cancel=None,
    metadata: Output | None = None,
) -> Report:
    """Check ``output`` against ``expected`` targets (and, given the
    ``Output`` they belong to, its file metadata)."""
    got = output.by_name
    pairs = [(t, got.get(t.name)) for t in expected]
    total = sum(min(t.length, e.length) for t, e in pairs if e is not None and _reads(t, e))
    count = len(expected)
    done = 0
    buffers = Buffers()
    checks: list[Check] = []
    for i, (t, e) in enumerate(pairs):
        if cancel is not None and cancel.is_set():
            raise Cancelled("verify")
        if progress:
            progress(Progress(t.name, i, count, done, total))
        src = t.source.name
        if e is None:
            checks.append(Check(t.name, MISSING, f"expected {t.kind} of {t.length} bytes", src))
            continue
        out_kind = SPLAT if e.kind == SPLAT else DATA
        if out_kind == t.kind and e.length == t.length:
            typed = _type_difference(t, e)
            if typed:
                checks.append(Check(t.name, TYPE_DIFFERS, typed, src))
                continue
        if not _reads(t, e):
            checks.append(Check(t.name, SAME, "", src))
            continue

        def chunk(n: int, name: str = t.name, index: int = i) -> None:
            nonlocal done
            done += n
            if progress:
                progress(Progress(name, index, count, done, total))

        cmp = compare_target(t, e, cancel=cancel, buffers=buffers, on_chunk=chunk)
        d = cmp.difference
        status: Status
        if out_kind != t.kind:
            status, detail = KIND_DIFFERS, f"expected {t.kind}, found {out_kind}"
        elif e.length != t.length:
            status, detail = LENGTH_DIFFERS, f"expected {t.length} bytes, found {e.length}"
        elif cmp.present_b < e.length:
            status, detail = TRUNCATED, f"the file ends after {cmp.present_b:,} of its {e.length:,} bytes"
        elif t.kind == SPLAT:
            want_p, found = (t.pattern or b"").hex(), (e.pattern or b"").hex()
            status, detail = PATTERN_DIFFERS, f"expected pattern {want_p}, found {found}"
        elif d is not None:
            status, detail = BYTES_DIFFER, d.summary()
        else:
            status, detail = SAME, ""
        if status not in (SAME, BYTES_DIFFER):
            detail += "; " + (d.summary() if d else f"the first {cmp.compared:,} bytes agree")
        checks.append(Check(t.name, status, detail, src, d.first_byte if d else None, d))
    expected_names = {t.name for t in expected}
    for e in output.entries:
        if got[e.name] is not e:
            # A later duplicate name: lookups find the first, so this one is
            # dead weight at best (and hides nothing we checked).
            checks.append(Check(e.name, EXTRA, f"duplicate name: {e.kind} of {e.length} bytes never looked up"))
        elif e.name not in expected_names:
            checks.append(Check(e.name, EXTRA, f"{e.kind} of {e.length} bytes not expected"))
    if metadata is not None:
        checks += compare_metadata(metadata, output)
        checks += compare_beside(metadata, output)
    counts = dict.fromkeys(STATUSES, 0)
    for c in checks:
        counts[c.status] += 1
    if progress:
        progress(Progress("", count, count, done, total))
    return Report(tuple(checks), done, counts)


def _reads(t: Target, e: Entry) -> bool:
    """Whether checking ``e`` against ``t`` compares bytes: not for two
    equal splats (a pattern decides it)."""
    return not (t.kind == SPLAT and e.kind == SPLAT and e.length == t.length and e.pattern == t.pattern)


def _type_difference(t: Target, e: Entry) -> str:
    """How the output's dtype/shape differ from the target's, where both are
    recorded ("" when they agree or one side does not say)."""
    if t.dtype is not None and e.dtype is not None and t.dtype != e.dtype:
        return f"expected dtype {t.dtype.name}, found {e.dtype.name}"
    if t.shape is not None and e.shape is not None and tuple(t.shape) != tuple(e.shape):
        return f"expected shape {list(t.shape)}, found {list(e.shape)}"
    return ""


def compare_metadata(expected: Output, output: Archive) -> list[Check]:
    """One check per file metadata key that is missing, unexpected or
    different (GGUF: type and encoded value; safetensors: the string)."""
    kind = expected.spec.file_metadata
    if kind == DATASET_ENTRY:
        return []  # irpa: the __SHARK_DATASET__ entry is compared as an entry
    got_file = output.files[0]
    want: dict[str, object]
    got: dict[str, object]
    if kind == KEY_VALUES:
        from .formats.gguf import SPLIT_KEYS
        from .formats.gguf_writer import kv_blobs_from, kv_key

        # A split set's keys say where its shards are: layout, not metadata.
        want = {kv_key(b): b for b in expected.kvs if kv_key(b) not in SPLIT_KEYS}
        got = {kv_key(b): b for b in kv_blobs_from(got_file) if kv_key(b) not in SPLIT_KEYS}
    else:
        want = dict(expected.metadata or {})
        got = dict(got_file.metadata)
    checks = []
    for key, value in want.items():
        if key not in got:
            checks.append(Check(f"[metadata] {key}", METADATA_DIFFERS, "expected, not found"))
        elif got[key] != value:
            what = "type or value" if kind == KEY_VALUES else "value"
            checks.append(Check(f"[metadata] {key}", METADATA_DIFFERS, f"{what} differs from the expected one"))
    for key in got:
        if key not in want:
            checks.append(Check(f"[metadata] {key}", METADATA_DIFFERS, "found, not expected"))
    return checks


class Buffers:
    """Read buffers reused across entries, one pair per chunk size (a model
    has few distinct tensor sizes). Fresh multi-megabyte buffers per entry
    would cost more in page faults than the reads; exact sizes let the
    compare run on whole bytearrays (memcmp) with no slicing."""

    def __init__(self, keep: int = 8):
        self.pairs: dict[int, tuple[bytearray, bytearray]] = {}
        self.keep = keep

    def get(self, n: int) -> tuple[bytearray, bytearray]:
        pair = self.pairs.get(n)
        if pair is None:
            if len(self.pairs) >= self.keep:
                self.pairs.pop(next(iter(self.pairs)))
            pair = self.pairs[n] = (bytearray(n), bytearray(n))
        return pair


@dataclass(frozen=True)
class Compared:
    difference: Difference | None  # None: the compared bytes are equal
    compared: int  # bytes compared: the shorter present length
    present_a: int  # bytes of each side present (== length unless a file is cut short)
    present_b: int


def compare_entries(
    a: Entry, b: Entry, *, cancel=None, buffers: Buffers | None = None, on_chunk: Callable[[int], None] | None = None
) -> Compared:
    """The bytes of two entries compared over their common present length,
    in bounded chunks read into reused buffers (splats expand); how they
    differ comes from a ``Locator``. ``on_chunk(n)`` after each chunk."""
    buffers = buffers or Buffers(2)
    ra = _Reader(a)
    try:
        rb = _Reader(b)
        try:
            length = min(ra.present, rb.present)
            loc = Locator(a, b)
            pos = 0
            while pos < length:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("verify")
                n = min(CHUNK, length - pos)
                bufs = buffers.get(n)
                loc.feed(ra.read(pos, n, bufs[0]), rb.read(pos, n, bufs[1]))
                pos += n
                if on_chunk:
                    on_chunk(n)
            return Compared(loc.result(), length, ra.present, rb.present)
        finally:
            rb.close()
    finally:
        ra.close()


def compare_target(
    t: Target, e: Entry, *, cancel=None, buffers: Buffers | None = None, on_chunk: Callable[[int], None] | None = None
) -> Compared:
    """``e`` against the bytes target ``t`` must hold (``target_chunks``:
    the source's, a pattern, cast values, generated bytes). A source cut
    short is an ArchiveError (the sources are broken, not the output)."""
    want = expected_entry(t)
    if t.how == COPY:
        cmp = compare_entries(want, e, cancel=cancel, buffers=buffers, on_chunk=on_chunk)
        if cmp.present_a < want.length:
            raise ArchiveError(want.file, None, f"data of '{want.name}' runs past the end of the file")
        return cmp
    buffers = buffers or Buffers(2)
    rb = _Reader(e)
    try:
        length = min(t.length, rb.present)
        loc = Locator(want, e)
        pos = 0
        for part in target_chunks(t, CHUNK, cancel):
            if pos >= length:
                break
            n = min(len(part), length - pos)
            loc.feed(part[:n], rb.read(pos, n, buffers.get(n)[1]))
            pos += n
            if on_chunk:
                on_chunk(n)
        return Compared(loc.result(), length, t.length, rb.present)
    finally:
        rb.close()


def present(e: Entry) -> int:
    """How many bytes of the entry's data its file holds (its length unless
    the file was cut short)."""
    r = _Reader(e)
    r.close()
    return r.present


class _Reader:
    """Reads of one entry into a caller's buffer through the entry's open
    source (``Source.readinto``: no allocation per chunk, no open per entry;
    a remote source fetches only these ranges); splats expand. A file that
    shrank while read is an ArchiveError."""

    def __init__(self, e: Entry):
        self.e = e
        self.src = None if e.kind == SPLAT else source_of(e)
        self.present = e.length  # bytes of the entry the file holds
        if self.src is not None:
            self.present = max(0, min(e.length, self.src.size_now() - e.start))

    def read(self, pos: int, n: int, buf: bytearray) -> bytes | bytearray:
        if self.src is None:
            return read_bytes(self.e, pos, n)
        self.src.readinto(self.e.start + pos, buf)
        return buf

    def close(self) -> None:
        self.src = None
