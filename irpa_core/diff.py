"""Diff two arbitrary archives by name: structure, bytes, and values.

Entries pair up by name (after optional renames of A's names). Pairs that
are not byte-identical but both decode are compared by value in one
streaming pass (float64 accumulators): max and mean absolute difference,
relative L2 error ||a-b||/||a|| and cosine similarity. So an f16 copy of an
f32 tensor, or a quantized one, compares by what it means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import Cancelled
from .model import SPLAT, Archive, Entry
from .plan import Plan
from .verify import compare_streams

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final, Literal

    Status = Literal["identical", "values differ", "bytes differ", "changed", "only in A", "only in B"]

IDENTICAL: Final = "identical"
VALUES_DIFFER: Final = "values differ"
BYTES_DIFFER: Final = "bytes differ"
ONLY_A: Final = "only in A"
ONLY_B: Final = "only in B"
CHANGED: Final = "changed"  # kind, dtype, shape or length differ and values cannot be compared
STATUSES: tuple[Status, ...] = (IDENTICAL, VALUES_DIFFER, BYTES_DIFFER, CHANGED, ONLY_A, ONLY_B)


@dataclass(frozen=True)
class Metrics:
    max_abs: float
    mean_abs: float
    rel_l2: float
    cosine: float
    count: int

    def to_json(self) -> dict:
        f = lambda x: x if math.isfinite(x) else None  # noqa: E731
        return {
            "max_abs": f(self.max_abs),
            "mean_abs": f(self.mean_abs),
            "rel_l2": f(self.rel_l2),
            "cosine": f(self.cosine),
            "count": self.count,
        }


@dataclass(frozen=True)
class Pair:
    name: str  # name in B (A's name after renames)
    status: Status
    a: Entry | None
    b: Entry | None
    notes: tuple[str, ...] = ()  # e.g. "dtype f32 -> f16"
    metrics: Metrics | None = None

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "a": self.a.name if self.a else None,
            "notes": list(self.notes),
            "metrics": self.metrics.to_json() if self.metrics else None,
        }


@dataclass(frozen=True)
class DiffReport:
    pairs: tuple[Pair, ...]
    counts: dict[Status, int] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return all(p.status == IDENTICAL for p in self.pairs)

    def to_json(self) -> dict:
        return {"identical": self.identical, "counts": self.counts, "entries": [p.to_json() for p in self.pairs]}


def diff(a: Archive, b: Archive, *, rename: Plan | None = None, progress=None, cancel=None) -> DiffReport:
    """``rename``: a Plan whose rename ops map A's names to B's."""
    rename = rename or Plan()
    b_by = b.by_name
    pairs: list[Pair] = []
    seen = set()
    total = len(a.entries) + len(b.entries)
    for i, ea in enumerate(a.entries):
        if cancel is not None and cancel.is_set():
            raise Cancelled("diff")
        name = rename.fate(ea.name).name
        if name in seen:
            # Two A names renamed onto one: keep the later one visible rather
            # than dropping it from the report.
            pairs.append(Pair(ea.name, ONLY_A, ea, None, (f"renamed to '{name}', which another entry already took",)))
            continue
        seen.add(name)
        eb = b_by.get(name)
        pairs.append(compare_pair(name, ea, eb, cancel) if eb is not None else Pair(name, ONLY_A, ea, None))
        if progress:
            progress(name, i + 1, total)
    for eb in b.entries:
        if eb.name not in seen:
            seen.add(eb.name)
            pairs.append(Pair(eb.name, ONLY_B, None, eb))
    counts = dict.fromkeys(STATUSES, 0)
    for p in pairs:
        counts[p.status] += 1
    return DiffReport(tuple(pairs), counts)


def compare_pair(name: str, a: Entry, b: Entry, cancel=None) -> Pair:
    notes = []
    if a.kind != b.kind:
        notes.append(f"kind {a.kind} -> {b.kind}")
    # An unknown dtype or shape (e.g. an IRPA written without metadata) is
    # no evidence of a change: only two known values that differ count.
    if a.dtype_name != b.dtype_name and a.dtype_name and b.dtype_name:
        notes.append(f"dtype {a.dtype_name} -> {b.dtype_name}")
    if a.shape != b.shape and a.shape is not None and b.shape is not None:
        notes.append(f"shape {list(a.shape)} -> {list(b.shape)}")
    if a.length != b.length:
        notes.append(f"length {a.length} -> {b.length}")
    if a.length == b.length and _same_bytes(a, b, cancel):
        # Same bytes under another kind, dtype or shape is still a change.
        if notes:
            return Pair(name, CHANGED, a, b, (*tuple(notes), "same bytes"))
        return Pair(name, IDENTICAL, a, b)
    m = value_metrics(a, b, cancel)
    if m is not None:
        return Pair(name, VALUES_DIFFER, a, b, tuple(notes), m)
    if not notes:
        return Pair(name, BYTES_DIFFER, a, b)
    return Pair(name, CHANGED, a, b, tuple(notes))


def _same_bytes(a: Entry, b: Entry, cancel) -> bool:
    if a.kind == SPLAT and b.kind == SPLAT and a.pattern == b.pattern:
        return True
    return all(at is None for _, at in compare_streams(a, b, cancel))


def value_metrics(a: Entry, b: Entry, cancel=None) -> Metrics | None:
    """Streamed value comparison, or None when either side cannot be decoded
    or the element counts differ."""
    import numpy as np

    from . import stats as S

    if not (a.dtype and b.dtype and S.can_decode(a) and S.can_decode(b)):
        return None
    if S.element_count(a, a.dtype) != S.element_count(b, b.dtype):
        return None
    ia, ib = S.iter_values(a, cancel=cancel), S.iter_values(b, cancel=cancel)
    buf_a = buf_b = np.zeros(0)
    n = 0
    max_abs = sum_abs = saa = sbb = sab = sdd = 0.0
    while True:
        if buf_a.size == 0:
            buf_a = next(ia, np.zeros(0))
        if buf_b.size == 0:
            buf_b = next(ib, np.zeros(0))
        k = min(buf_a.size, buf_b.size)
        if k == 0:
            break
        x, y = buf_a[:k].astype(np.float64), buf_b[:k].astype(np.float64)
        buf_a, buf_b = buf_a[k:], buf_b[k:]
        with np.errstate(all="ignore"):
            d = x - y
            ad = np.abs(d)
            m = float(np.max(ad))
            if m != m or m > max_abs:  # a NaN sticks, as in numpy (max() would drop it)
                max_abs = m
            sum_abs += float(ad.sum())
            saa += float(x @ x)
            sbb += float(y @ y)
            sab += float(x @ y)
            sdd += float(d @ d)
        n += k
    if n == 0:
        return Metrics(0.0, 0.0, 0.0, 1.0, 0)
    rel = math.sqrt(sdd) / math.sqrt(saa) if saa > 0 else (0.0 if sdd == 0 else math.inf)
    cos = sab / math.sqrt(saa * sbb) if saa > 0 and sbb > 0 else (1.0 if saa == sbb == 0 else 0.0)
    return Metrics(max_abs, sum_abs / n, rel, cos, n)
