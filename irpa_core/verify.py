"""Verify: does an output archive hold exactly what a plan applied to its
sources must give?

Every expected entry must be present under its expected name with the same
kind and length; data entries byte-identical (compared in bounded chunks,
never whole tensors), splats with the same pattern; nothing extra.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .errors import Cancelled
from .model import CHUNK, DATA, SPLAT, Archive, Entry, open_data, read_bytes, read_exact
from .plan import Plan, Target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final, Literal

    Status = Literal["same", "bytes differ", "missing", "extra", "kind differs", "length differs", "pattern differs"]

SAME: Final = "same"
BYTES_DIFFER: Final = "bytes differ"
MISSING: Final = "missing"
EXTRA: Final = "extra"
KIND_DIFFERS: Final = "kind differs"
LENGTH_DIFFERS: Final = "length differs"
PATTERN_DIFFERS: Final = "pattern differs"
STATUSES: tuple[Status, ...] = (SAME, BYTES_DIFFER, MISSING, EXTRA, KIND_DIFFERS, LENGTH_DIFFERS, PATTERN_DIFFERS)


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
    """Check ``output`` against ``plan.apply(sources)``. ``progress(name,
    bytes_done, bytes_total)`` after each chunk; ``cancel.is_set()`` stops."""
    expected = plan.apply(sources)
    return compare_targets(expected, output, progress=progress, cancel=cancel)


def compare_targets(expected: list[Target], output: Archive, *, progress=None, cancel=None) -> Report:
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
        if t.kind == SPLAT:
            if e.pattern != t.pattern:
                want, found = (t.pattern or b"").hex(), (e.pattern or b"").hex()
                checks.append(Check(t.name, PATTERN_DIFFERS, f"expected pattern {want}, found {found}", src))
            else:
                checks.append(Check(t.name, SAME, "", src))
            continue
        at = None
        for n, diff_at in compare_streams(t.source, e, cancel, buffers):
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
    counts = dict.fromkeys(STATUSES, 0)
    for c in checks:
        counts[c.status] += 1
    return Report(tuple(checks), done, counts)


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
