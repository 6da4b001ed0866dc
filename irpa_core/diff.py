"""Diff two arbitrary archives by name: structure, bytes, and values.

Entries pair up by name (after optional renames of A's names). Pairs of the
same length are compared byte for byte through a ``Locator`` (exact counts
of differing bytes and elements, the first difference located and decoded).
Pairs that are not byte-identical but decode to the same number of values
are then compared by value in one streaming pass (float64 accumulators):
max |A-B| and where it is, mean |A-B|, relative L2 error ||A-B||/||A||,
cosine similarity, and how many elements lie outside a tolerance. So an f16
copy of an f32 tensor, or a quantized one, compares by what it means. A
side without a dtype (a raw ``.irpa`` from the reference tools) is read as
the other side's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from .display import or_undefined
from .errors import Cancelled
from .locate import Difference, decode_dtypes, format_value, json_value, row_major, shape_for
from .model import Archive, Entry
from .plan import Plan
from .verify import Buffers, compare_entries, present
from .write import Progress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final, Literal

    Status = Literal[
        "identical",
        "within tolerance",
        "values differ",
        "bytes differ",
        "changed",
        "truncated",
        "only in A",
        "only in B",
    ]

IDENTICAL: Final = "identical"
WITHIN: Final = "within tolerance"  # bytes differ, every value within --atol/--rtol, nothing else changed
VALUES_DIFFER: Final = "values differ"
BYTES_DIFFER: Final = "bytes differ"
ONLY_A: Final = "only in A"
ONLY_B: Final = "only in B"
CHANGED: Final = "changed"  # kind, dtype, shape or length differ; the values, where comparable, within tolerance
TRUNCATED: Final = "truncated"  # a side's file ends inside its data
STATUSES: tuple[Status, ...] = (IDENTICAL, WITHIN, VALUES_DIFFER, BYTES_DIFFER, CHANGED, TRUNCATED, ONLY_A, ONLY_B)
OK_STATUSES: tuple[Status, ...] = (IDENTICAL, WITHIN)


@dataclass(frozen=True)
class Metrics:
    """Value figures of a pair. ``rel_l2`` and ``cosine`` are None where
    they are undefined (an all-zero side), never a made-up 0 or 1."""

    count: int
    max_abs: float
    max_at: int | None  # flat index of the first element where |A-B| is largest (None: no difference)
    max_index: tuple[int, ...] | None  # its row-major index (None without a shape)
    max_a: float | None  # the two values there
    max_b: float | None
    mean_abs: float
    rel_l2: float | None  # ||A-B|| / ||A||
    cosine: float | None
    outside: int  # elements outside the tolerance
    first_outside: int | None  # flat index of the first of them
    atol: float = 0.0
    rtol: float = 0.0
    dtype_a: str | None = None  # how each side was decoded
    dtype_b: str | None = None

    def text(self) -> str:
        """``key=value`` figures on one line (``undefined`` where undefined)."""
        at = ""
        if self.max_at is not None:
            where = list(self.max_index) if self.max_index is not None else self.max_at
            a, b = format_value(self.max_a, self.dtype_a), format_value(self.max_b, self.dtype_b)
            at = f" at {where} (A {a}, B {b})"
        return (
            f"max|d|={self.max_abs:.4g}{at} mean|d|={self.mean_abs:.4g} relL2={or_undefined(self.rel_l2, '.4g')} "
            f"cos={or_undefined(self.cosine, '.6f')} outside={self.outside:,} of {self.count:,} ({self.tolerance()})"
        )

    def tolerance(self) -> str:
        return "bit-exact" if not (self.atol or self.rtol) else f"atol={self.atol:g} rtol={self.rtol:g}"

    def to_json(self) -> dict:
        return {
            "count": self.count,
            "max_abs": json_value(self.max_abs),
            "max_at": self.max_at,
            "max_index": list(self.max_index) if self.max_index is not None else None,
            "max_a": json_value(self.max_a),
            "max_b": json_value(self.max_b),
            "mean_abs": json_value(self.mean_abs),
            "rel_l2": json_value(self.rel_l2),
            "cosine": json_value(self.cosine),
            "outside": self.outside,
            "first_outside": self.first_outside,
            "atol": self.atol,
            "rtol": self.rtol,
            "dtype_a": self.dtype_a,
            "dtype_b": self.dtype_b,
        }


@dataclass(frozen=True)
class Pair:
    name: str  # name in B (A's name after renames)
    status: Status
    a: Entry | None
    b: Entry | None
    notes: tuple[str, ...] = ()  # e.g. "dtype f32 -> f16"
    metrics: Metrics | None = None
    difference: Difference | None = None  # where the bytes differ (same-length pairs)

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "a": self.a.name if self.a else None,
            "notes": list(self.notes),
            "metrics": self.metrics.to_json() if self.metrics else None,
            "difference": self.difference.to_json() if self.difference else None,
        }


@dataclass(frozen=True)
class DiffReport:
    pairs: tuple[Pair, ...]
    counts: dict[Status, int] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return all(p.status == IDENTICAL for p in self.pairs)

    @property
    def ok(self) -> bool:
        """Every entry pairs up, and each pair is identical or within tolerance."""
        return all(p.ok for p in self.pairs)

    def to_json(self) -> dict:
        return {
            "identical": self.identical,
            "ok": self.ok,
            "counts": self.counts,
            "entries": [p.to_json() for p in self.pairs],
        }


def diff(
    a: Archive,
    b: Archive,
    *,
    rename: Plan | None = None,
    atol: float = 0.0,
    rtol: float = 0.0,
    progress: Callable[[Progress], None] | None = None,
    cancel=None,
) -> DiffReport:
    """Compare two archives by name, as ``irpa diff`` does: entries only in
    one, kind/dtype/shape changes, identical bytes, where bytes differ, and
    for tensors that differ but hold the same number of values (an f16 copy
    of an f32 tensor, a quantized one) value figures: max and mean
    ``|A-B|``, relative L2 error, cosine similarity, elements outside the
    tolerance (``|A-B| <= atol + rtol*|A|``; 0/0 is bit-exact).

    ``rename``: a ``Plan`` whose renames map A's names to B's
    (``Plan().rename("model.layers.*", "blk.*")``). The ``DiffReport`` has
    ``identical``, ``ok`` (every entry pairs up and is identical or within
    tolerance), ``counts`` per status, ``pairs`` (``name``, ``status`` such
    as ``"identical"``, ``"values differ"``, ``"only in A"``, ``notes``,
    ``metrics`` with ``max_abs``, ``rel_l2``, ``cosine``...) and
    ``to_json()``. ``progress`` gets a ``Progress`` per pair (index over
    A's entries) and per chunk of bytes compared; ``cancel.is_set()`` stops
    with ``Cancelled``.

    Example::

        report = diff_archives(open_archive("model.safetensors"), open_archive("model-f16.gguf"))
        for pair in report.pairs:
            print(pair.name, pair.status, pair.metrics.text() if pair.metrics else "")
    """
    rename = rename or Plan()
    b_by = b.by_name
    pairs: list[Pair] = []
    seen = set()
    names = [rename.fate(ea.name).name for ea in a.entries]
    total = sum(ea.length for ea, n in zip(a.entries, names) if n in b_by and b_by[n].length == ea.length)
    count = len(a.entries)
    done = 0
    buffers = Buffers()
    for i, (ea, name) in enumerate(zip(a.entries, names)):
        if cancel is not None and cancel.is_set():
            raise Cancelled("diff")
        if progress:
            progress(Progress(name, i, count, done, total))
        if name in seen:
            # Two A names renamed onto one: keep the later one visible rather
            # than dropping it from the report.
            pairs.append(Pair(ea.name, ONLY_A, ea, None, (f"renamed to '{name}', which another entry already took",)))
            continue
        seen.add(name)
        eb = b_by.get(name)
        if eb is None:
            pairs.append(Pair(name, ONLY_A, ea, None))
            continue

        def chunk(n: int, name: str = name, index: int = i) -> None:
            nonlocal done
            done += n
            if progress:
                progress(Progress(name, index, count, done, total))

        pairs.append(compare_pair(name, ea, eb, cancel, atol=atol, rtol=rtol, on_chunk=chunk, buffers=buffers))
    for eb in b.entries:
        if eb.name not in seen:
            seen.add(eb.name)
            pairs.append(Pair(eb.name, ONLY_B, None, eb))
    counts = dict.fromkeys(STATUSES, 0)
    for p in pairs:
        counts[p.status] += 1
    if progress:
        progress(Progress("", count, count, done, total))
    return DiffReport(tuple(pairs), counts)


def compare_pair(
    name: str,
    a: Entry,
    b: Entry,
    cancel=None,
    *,
    atol: float = 0.0,
    rtol: float = 0.0,
    on_chunk: Callable[[int], None] | None = None,
    buffers: Buffers | None = None,
) -> Pair:
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
    difference = None
    if a.length == b.length:
        cmp = compare_entries(a, b, cancel=cancel, buffers=buffers, on_chunk=on_chunk)
        present_a, present_b, difference = cmp.present_a, cmp.present_b, cmp.difference
    else:
        present_a, present_b = present(a), present(b)
    short = [
        f"{side}: the file ends after {n:,} of {e.length:,} bytes"
        for side, e, n in (("A", a, present_a), ("B", b, present_b))
        if n < e.length
    ]
    if short:
        return Pair(name, TRUNCATED, a, b, (*notes, *short), None, difference)
    if a.length == b.length and difference is None:
        # Same bytes under another kind, dtype or shape is still a change.
        if notes:
            return Pair(name, CHANGED, a, b, (*notes, "same bytes"))
        return Pair(name, IDENTICAL, a, b)
    m = value_metrics(a, b, cancel, atol=atol, rtol=rtol)
    if m is not None:
        # Every value within tolerance under another dtype (a lossless cast)
        # is a change of dtype, not of values.
        status: Status = VALUES_DIFFER if m.outside else CHANGED if notes else WITHIN
        return Pair(name, status, a, b, tuple(notes), m, difference)
    return Pair(name, CHANGED if notes else BYTES_DIFFER, a, b, tuple(notes), None, difference)


def value_metrics(a: Entry, b: Entry, cancel=None, *, atol: float = 0.0, rtol: float = 0.0) -> Metrics | None:
    """Streamed value comparison, or None when either side cannot be decoded
    (a side without a dtype is read as the other's) or the element counts
    differ."""
    from .stats import blas

    with blas.one_thread():  # its dot products on one thread: a second one would only spin
        return _value_metrics(a, b, cancel, atol=atol, rtol=rtol)


def _value_metrics(a: Entry, b: Entry, cancel, *, atol: float, rtol: float) -> Metrics | None:
    import numpy as np

    from . import stats as S

    da, db = decode_dtypes(a, b)
    if not (da and db and S.can_decode(a, da) and S.can_decode(b, db)):
        return None
    count = S.element_count(a, da)
    if count != S.element_count(b, db):
        return None
    ia, ib = S.iter_values(a, da, cancel=cancel), S.iter_values(b, db, cancel=cancel)
    buf_a = buf_b = np.zeros(0)
    n = 0
    max_abs = sum_abs = saa = sbb = sab = sdd = 0.0
    max_at: int | None = None
    max_ab: tuple[float | None, float | None] = (None, None)
    outside = 0
    first_outside: int | None = None
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
            if max_abs == max_abs:  # a NaN sticks, as in numpy (max() would drop it)
                nan = np.isnan(ad)
                j = int(np.argmax(nan)) if nan.any() else int(np.argmax(ad))
                if ad[j] != ad[j] or ad[j] > max_abs:
                    max_abs, max_at, max_ab = float(ad[j]), n + j, (float(x[j]), float(y[j]))
            sum_abs += float(ad.sum())
            saa += float(x @ x)
            sbb += float(y @ y)
            sab += float(x @ y)
            sdd += float(d @ d)
            if atol or rtol:
                ok = (ad <= atol + rtol * np.abs(x)) | (x == y) | (np.isnan(x) & np.isnan(y))
            else:
                ok = x.view(np.uint64) == y.view(np.uint64)
            bad = k - int(np.count_nonzero(ok))
            if bad and first_outside is None:
                first_outside = n + int(np.argmin(ok))
            outside += bad
        n += k
    shape = shape_for(a, b, count)
    return Metrics(
        count=n,
        max_abs=max_abs,
        max_at=max_at,
        max_index=row_major(max_at, shape) if max_at is not None and shape else None,
        max_a=max_ab[0],
        max_b=max_ab[1],
        mean_abs=sum_abs / n if n else 0.0,
        rel_l2=math.sqrt(sdd) / math.sqrt(saa) if saa > 0 or saa != saa else None,
        cosine=sab / math.sqrt(saa * sbb) if (saa > 0 and sbb > 0) or saa != saa or sbb != sbb else None,
        outside=outside,
        first_outside=first_outside,
        atol=atol,
        rtol=rtol,
        dtype_a=da.name,
        dtype_b=db.name,
    )
