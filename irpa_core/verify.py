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
``__SHARK_DATASET__`` is an entry like the others).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .errors import Cancelled
from .model import CHUNK, DATA, SPLAT, Archive, Entry, open_data, read_bytes, read_exact
from .output import GGUF, SAFETENSORS, Output, format_of, target_chunks
from .plan import COPY, Plan, Target

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
)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str = ""
    source: str | None = None  # source parameter name (None for extras)
    offset: int | None = None  # first differing byte, for BYTES_DIFFER

    @property
    def ok(self) -> bool:
        return self.status == SAME


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
            "entries": [
                {"name": c.name, "status": c.status, "detail": c.detail, "source": c.source, "offset": c.offset}
                for c in self.checks
                if all_entries or not c.ok
            ],
        }


def verify(
    sources: Archive,
    plan: Plan,
    output: Archive,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    cancel=None,
) -> Report:
    """Check ``output`` against ``plan.output(sources, its format)``.
    ``progress(name, bytes_done, bytes_total)`` after each chunk;
    ``cancel.is_set()`` stops."""
    expected = plan.output(sources, format_of(output))
    return compare_targets(list(expected.targets), output, progress=progress, cancel=cancel, metadata=expected)


def compare_targets(
    expected: list[Target], output: Archive, *, progress=None, cancel=None, metadata: Output | None = None
) -> Report:
    """Check ``output`` against ``expected`` targets (and, given the
    ``Output`` they belong to, its file metadata)."""
    got = output.by_name
    total = sum(
        t.length
        for t in expected
        if t.kind == DATA and t.name in got and got[t.name].kind != SPLAT and got[t.name].length == t.length
    )
    done = 0
    buffers = Buffers()
    checks: list[Check] = []
    expected_names = set()
    for t in expected:
        expected_names.add(t.name)
        e = got.get(t.name)
        src = t.source.name
        if e is None:
            checks.append(Check(t.name, MISSING, f"expected {t.kind} of {t.length} bytes", src))
            continue
        out_kind = SPLAT if e.kind == SPLAT else DATA
        if out_kind != t.kind:
            checks.append(Check(t.name, KIND_DIFFERS, f"expected {t.kind}, found {out_kind}", src))
            continue
        if e.length != t.length:
            checks.append(Check(t.name, LENGTH_DIFFERS, f"expected {t.length} bytes, found {e.length}", src))
            continue
        typed = _type_difference(t, e)
        if typed:
            checks.append(Check(t.name, TYPE_DIFFERS, typed, src))
            continue
        if t.kind == SPLAT:
            if e.pattern != t.pattern:
                want, found = (t.pattern or b"").hex(), (e.pattern or b"").hex()
                checks.append(Check(t.name, PATTERN_DIFFERS, f"expected pattern {want}, found {found}", src))
            else:
                checks.append(Check(t.name, SAME, "", src))
            continue
        at = None
        if t.how == COPY:
            stream = compare_streams(t.source, e, cancel, buffers)
        else:
            stream = compare_expected(t, e, cancel, buffers)
        for n, diff_at in stream:
            done += n
            if progress:
                progress(t.name, done, total)
            if diff_at is not None:
                at = diff_at
                break
        if at is None:
            checks.append(Check(t.name, SAME, "", src))
        else:
            checks.append(Check(t.name, BYTES_DIFFER, f"first difference at byte {at} of {t.length}", src, at))
    for e in output.entries:
        if got[e.name] is not e:
            # A later duplicate name: lookups find the first, so this one is
            # dead weight at best (and hides nothing we checked).
            checks.append(Check(e.name, EXTRA, f"duplicate name: {e.kind} of {e.length} bytes never looked up"))
        elif e.name not in expected_names:
            checks.append(Check(e.name, EXTRA, f"{e.kind} of {e.length} bytes not expected"))
    if metadata is not None:
        checks += compare_metadata(metadata, output)
    counts = dict.fromkeys(STATUSES, 0)
    for c in checks:
        counts[c.status] += 1
    return Report(tuple(checks), done, counts)


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
    if expected.format not in (GGUF, SAFETENSORS):
        return []  # irpa: the __SHARK_DATASET__ entry is compared as an entry
    got_file = output.files[0]
    want: dict[str, object]
    got: dict[str, object]
    if expected.format == GGUF:
        from .formats.gguf_writer import kv_blobs_from, kv_key

        want = {kv_key(b): b for b in expected.kvs}
        got = {kv_key(b): b for b in kv_blobs_from(got_file)}
    else:
        want = dict(expected.metadata or {})
        got = dict(got_file.metadata)
    checks = []
    for key, value in want.items():
        if key not in got:
            checks.append(Check(f"[metadata] {key}", METADATA_DIFFERS, "expected, not found"))
        elif got[key] != value:
            what = "type or value" if expected.format == GGUF else "value"
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


def compare_streams(
    a: Entry, b: Entry, cancel=None, buffers: Buffers | None = None
) -> Iterator[tuple[int, int | None]]:
    """The bytes of two entries of the same length, compared in bounded
    chunks: yields (bytes compared, first differing offset or None) per
    chunk and stops at the first difference. Reads with preadv into reused
    buffers; splats expand."""
    fa = _Reader(a)
    fb = _Reader(b)
    buffers = buffers or Buffers(2)
    try:
        pos = 0
        while pos < a.length:
            if cancel is not None and cancel.is_set():
                raise Cancelled("verify")
            n = min(CHUNK, a.length - pos)
            bufs = buffers.get(n)
            x, y = fa.read(pos, n, bufs[0]), fb.read(pos, n, bufs[1])
            if x != y:
                i = next(i for i in range(n) if x[i] != y[i]) if n < 4096 else _first_diff(bytes(x), bytes(y))
                yield n, pos + i
                return
            pos += n
            yield n, None
    finally:
        fa.close()
        fb.close()


def compare_expected(
    t: Target, e: Entry, cancel=None, buffers: Buffers | None = None
) -> Iterator[tuple[int, int | None]]:
    """Like ``compare_streams``, with the expected side produced by
    ``output.target_chunks(t)`` (a pattern, cast values, generated bytes)."""
    reader = _Reader(e)
    buffers = buffers or Buffers(2)
    try:
        pos = 0
        for want in target_chunks(t, CHUNK, cancel):
            if cancel is not None and cancel.is_set():
                raise Cancelled("verify")
            n = len(want)
            got = reader.read(pos, n, buffers.get(n)[1])
            if got != want:
                x, y = bytes(want), bytes(got)
                i = next(i for i in range(n) if x[i] != y[i]) if n < 4096 else _first_diff(x, y)
                yield n, pos + i
                return
            pos += n
            yield n, None
    finally:
        reader.close()


def _first_diff(x: bytes, y: bytes) -> int:
    # Bisect on slices (memcmp) instead of a Python loop over megabytes.
    lo, hi = 0, len(x)
    while hi - lo > 64:
        mid = (lo + hi) // 2
        if x[lo:mid] != y[lo:mid]:
            hi = mid
        else:
            lo = mid
    return next(i for i in range(lo, hi) if x[i] != y[i])


class _Reader:
    """Reads of one entry into a caller's buffer (preadv: no allocation per
    chunk); splats expand. Short files are an ArchiveError."""

    def __init__(self, e: Entry):
        self.e = e
        self.fd: int | None = None
        if e.kind != SPLAT:
            self.fd = open_data(e)

    def read(self, pos: int, n: int, buf: bytearray) -> bytes | bytearray:
        if self.fd is None:
            return read_bytes(self.e, pos, n)
        start = self.e.start + pos
        got = os.preadv(self.fd, [buf], start)
        if got != n:
            read_exact(self.fd, self.e, start, n)  # raises the ArchiveError
        return buf

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
