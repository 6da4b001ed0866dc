"""The whole archive at once: exact statistics of every entry and the
anomalies they show (``irpa stats --anomalies``, the TUI's ``S``).

Flags, each a fact about the values, not a guess about intent:

- ``nan`` / ``inf``: the tensor holds NaN or infinite values;
- ``zero``: every value is zero (a stripped or never-trained tensor);
- ``constant``: every value is the same non-zero number: a splat would
  hold it in a few bytes;
- ``std``: the standard deviation is more than ``STD_FACTOR`` times above
  or below the median of its siblings (the same role in the other blocks,
  ``naming.layer_group``), when there are at least ``MIN_SIBLINGS``.

Splat entries are constant by construction and are not flagged as
``zero``/``constant``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from . import naming
from .display import num, plural
from .model import SPLAT, Entry
from .stats import DecodeError, Stats, stats_many

NAN = "nan"
INF = "inf"
ZERO = "zero"
CONSTANT = "constant"
STD = "std"
FLAGS = (NAN, INF, ZERO, CONSTANT, STD)
STD_FACTOR = 10.0
MIN_SIBLINGS = 4


@dataclass(frozen=True, slots=True)
class Row:
    """The figures of one entry the table shows and sorts by: small, so a
    scan of 100,000 entries stays a few MB."""

    count: int
    min: float
    max: float
    mean: float
    std: float
    zeros: int
    nans: int
    infs: int

    @classmethod
    def of(cls, st: Stats) -> Row:
        return cls(st.count, st.min, st.max, st.mean, st.std, st.zeros, st.nans, st.infs)

    @property
    def absmax(self) -> float:
        return max(abs(self.min), abs(self.max)) if self.min == self.min else math.nan

    @property
    def zeros_pct(self) -> float:
        return 100.0 * self.zeros / self.count if self.count else 0.0

    @property
    def nonfinite(self) -> int:
        return self.nans + self.infs


@dataclass(frozen=True, slots=True)
class Flag:
    kind: str  # one of FLAGS
    text: str  # a sentence for people

    def to_json(self) -> dict:
        return {"flag": self.kind, "detail": self.text}


def scan(
    entries: Sequence[Entry],
    *,
    progress: Callable[[int, int, Entry], None] | None = None,
    cancel=None,
    threads: int | None = None,
) -> Iterator[tuple[int, Stats | None]]:
    """Exact statistics of each entry, in order, as ``(index, Stats)``;
    ``None`` for an entry that cannot be decoded (no dtype, unknown type),
    that holds metadata rather than values (``__SHARK_DATASET__``) or that
    a cut-off file does not hold whole (``model.entry_state``).
    Results come from and go to the statistics cache."""
    from .model import COMPLETE, entry_state
    from .summary import METADATA_ENTRIES

    skip = {i for i, e in enumerate(entries) if e.name in METADATA_ENTRIES or entry_state(e) != COMPLETE}
    chosen = [e for i, e in enumerate(entries) if i not in skip]
    results = stats_many(chosen, progress=progress, cancel=cancel, threads=threads)
    for i in range(len(entries)):
        if i in skip:
            yield i, None
            continue
        _e, result = next(results)
        if isinstance(result, DecodeError):
            yield i, None
        elif isinstance(result, Exception):
            raise result
        else:
            yield i, result


def anomalies(entries: Sequence[Entry], rows: Mapping[int, Row]) -> dict[int, tuple[Flag, ...]]:
    """The flags of every entry with a row (entry index -> flags; entries
    without a flag are left out)."""
    found: dict[int, list[Flag]] = {}

    def add(i: int, flag: Flag) -> None:
        found.setdefault(i, []).append(flag)

    for i, r in rows.items():
        if r.nans:
            add(i, Flag(NAN, f"{r.nans:,} NaN of {plural(r.count, 'value')}"))
        if r.infs:
            add(i, Flag(INF, f"{r.infs:,} infinite of {plural(r.count, 'value')}"))
        if entries[i].kind == SPLAT or not r.count or r.nonfinite == r.count:
            continue
        if r.zeros == r.count:
            add(i, Flag(ZERO, f"all {r.count:,} values are zero" if r.count > 1 else "its one value is zero"))
        elif r.min == r.max and r.count > 1 and not r.nonfinite:
            add(i, Flag(CONSTANT, f"all {r.count:,} values are {num(r.min)}: a splat would do"))
    for i, flag in _std_outliers(entries, rows):
        add(i, flag)
    return {i: tuple(f) for i, f in sorted(found.items())}


def _std_outliers(entries: Sequence[Entry], rows: Mapping[int, Row]) -> Iterator[tuple[int, Flag]]:
    groups: dict[str, list[int]] = {}
    for i, r in rows.items():
        if entries[i].kind != SPLAT and r.std == r.std and naming.block_index(entries[i].name) is not None:
            groups.setdefault(naming.layer_group(entries[i].name), []).append(i)
    for group, members in groups.items():
        if len(members) < MIN_SIBLINGS:
            continue
        median = statistics.median(rows[i].std for i in members)
        if not median > 0:
            continue
        for i in members:
            s = rows[i].std
            ratio = s / median
            if ratio > STD_FACTOR or ratio < 1 / STD_FACTOR:
                yield (
                    i,
                    Flag(
                        STD,
                        f"std {num(s)} is {num(ratio, 3)}x the median {num(median)} of {len(members)} "
                        f"siblings ({group})",
                    ),
                )


def scan_in_batches(
    entries: Sequence[Entry],
    *,
    progress: Callable[..., None],
    cancel=None,
    every: float = 0.25,
    keep_stats: bool = False,
    threads: int | None = None,
) -> tuple[dict[int, Row], dict[int, Stats]]:
    """``scan`` for a caller in another process: ``progress(done, total,
    count, rows, stats)`` at most every ``every`` seconds with the rows
    found since the last call (full ``Stats`` too with ``keep_stats``);
    returns the rest. ``done``/``total`` are bytes, ``count`` entries."""
    import time

    rows: dict[int, Row] = {}
    full: dict[int, Stats] = {}
    state = {"done": 0, "total": 0, "last": time.monotonic(), "count": 0}

    def flush() -> None:
        progress(state["done"], state["total"], state["count"], dict(rows), dict(full))
        rows.clear()
        full.clear()
        state["last"] = time.monotonic()

    def on_bytes(done: int, total: int, _entry: Entry) -> None:
        state["done"], state["total"] = done, total

    for i, st in scan(entries, progress=on_bytes, cancel=cancel, threads=threads):
        state["count"] += 1
        if st is not None:
            rows[i] = Row.of(st)
            if keep_stats:
                full[i] = st
        if time.monotonic() - state["last"] >= every:
            flush()
    return rows, full
