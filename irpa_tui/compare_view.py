"""What the compare screen's table shows: the pairs of a ``MappedReport``
and the unpaired tensors as rows, sorted and filtered.

Plain Python, no widgets (as ``view.py`` for the browse table). Filtering is
the filter language of ``filtering`` (a name term matches A's or B's name;
``verdict:`` by prefix); the sorts order by name, verdict (problems first),
or a metric (the worst first: largest error, lowest cosine and SNR).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from irpa_core.model import Archive, Entry
from irpa_core.verdict import (
    DIFFERS,
    IDENTICAL,
    LOSSLESS,
    REQUANTIZED,
    TRANSFORM,
    WITHIN_NOISE,
    MappedPair,
    MappedReport,
)

from .filtering import ONLY_A, ONLY_B, Filter, Row, parse
from .view import natural_key

VERDICT_STYLE = {
    IDENTICAL: "green",
    LOSSLESS: "green",
    REQUANTIZED: "green",
    WITHIN_NOISE: "cyan",
    TRANSFORM: "yellow",
    DIFFERS: "bold red",
    ONLY_A: "magenta",
    ONLY_B: "magenta",
}
VERDICT_LABEL = {ONLY_A: "only in A", ONLY_B: "only in B"}
# Problems first: what is wrong, then what is unpaired, then the good ones.
SEVERITY = (DIFFERS, TRANSFORM, ONLY_A, ONLY_B, WITHIN_NOISE, REQUANTIZED, LOSSLESS, IDENTICAL)

SORTS = ("report", "name", "verdict", "max_abs", "rel_rmse", "cosine", "snr_db")
SORT_LABELS = {
    "report": "report order",
    "name": "name",
    "verdict": "verdict (problems first)",
    "max_abs": "max |A-B| (largest first)",
    "rel_rmse": "rel rmse (largest first)",
    "cosine": "cosine (lowest first)",
    "snr_db": "SNR (lowest first)",
}


@dataclass(frozen=True, slots=True)
class CompareRow:
    """One row: a pair, or a tensor of one side only (``pair`` None)."""

    a: str | None  # A's name (a fused pair's parts joined with " + ")
    b: str | None
    verdict: str  # a verdict of the engine, ONLY_A or ONLY_B
    pair: MappedPair | None = None
    reason: str = ""  # why a tensor is unpaired

    @property
    def name(self) -> str:
        """The name the row sorts by: B's (the converted model's), else A's."""
        return self.b if self.b is not None else self.a or ""

    @property
    def label(self) -> str:
        return VERDICT_LABEL.get(self.verdict, self.verdict)

    def metric(self, key: str) -> float | None:
        m = self.pair.metrics if self.pair is not None else None
        return None if m is None else getattr(m, key)


def rows_of(report: MappedReport) -> list[CompareRow]:
    """The report's pairs, then A's unpaired tensors, then B's."""
    return [
        *(CompareRow(p.a, p.b, p.verdict, p) for p in report.pairs),
        *(CompareRow(n, None, ONLY_A, reason=r) for n, r in report.only_a),
        *(CompareRow(None, n, ONLY_B, reason=r) for n, r in report.only_b),
    ]


def _metric_key(key: str, worst_high: bool) -> Callable[[CompareRow], tuple]:
    def k(r: CompareRow) -> tuple:
        v = r.metric(key)
        if v is None or math.isnan(v):
            return (1, 0.0)  # no value: last
        return (0, -v if worst_high else v)

    return k


def sort_key(sort: str) -> Callable[[CompareRow], object] | None:
    """The key of a sort (None: report order)."""
    if sort == "name":
        return lambda r: natural_key(r.name)
    if sort == "verdict":
        return lambda r: SEVERITY.index(r.verdict)
    if sort in ("max_abs", "rel_rmse"):
        return _metric_key(sort, True)
    if sort in ("cosine", "snr_db"):
        return _metric_key(sort, False)
    return None


class CompareView:
    """The rows in view: ``rows`` (all) filtered by ``query`` and sorted."""

    def __init__(self, rows: list[CompareRow], a: Archive, b: Archive):
        self.all = rows
        self.sort = "verdict"
        self.filter: Filter = parse("")
        self._entries: list[Entry] = [_entry(r, a, b) for r in rows]
        names = [(r.a or r.b or "").lower() for r in rows]
        other = [(r.b or "").lower() if r.a is not None else None for r in rows]
        self._row = Row(
            names=names,
            new_names=lambda i: other[i],
            any_renamed=True,
            entries=self._entries,
            mark=lambda i: "kept",
            renamed=lambda i: False,
            flags=lambda i: (),
            verdict=lambda i: rows[i].verdict,
        )
        self.shown: list[int] = []
        self._apply()

    @property
    def query(self) -> str:
        return self.filter.query

    def set_filter(self, query: str) -> None:
        """Raises ``FilterError`` (the view keeps its filter)."""
        self.filter = parse(query)
        self._apply()

    def set_sort(self, sort: str) -> None:
        self.sort = sort
        self._apply()

    def _apply(self) -> None:
        order = list(range(len(self.all)))
        key = sort_key(self.sort)
        if key is not None:
            order.sort(key=lambda i: key(self.all[i]))  # type: ignore[arg-type,return-value]
        self.shown = self.filter.select(order, self._row)

    def index_of(self, row: CompareRow) -> int | None:
        """Where ``row`` is in view (None: filtered out)."""
        return next((i for i, k in enumerate(self.shown) if self.all[k] is row), None)

    def __len__(self) -> int:
        return len(self.shown)

    def __getitem__(self, i: int) -> CompareRow:
        return self.all[self.shown[i]]


def _entry(r: CompareRow, a: Archive, b: Archive) -> Entry:
    """The entry the dtype/kind/size/file terms look at: B's, else A's."""
    if r.b is not None and r.b in b.by_name:
        return b.by_name[r.b]
    if r.a is not None and r.a in a.by_name:
        return a.by_name[r.a]
    parts = r.pair.a_parts if r.pair is not None else ()
    return a.by_name[parts[0]] if parts else Entry(name=r.name, kind="data", length=0, file="")
