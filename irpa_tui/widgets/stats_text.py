"""The statistics of one tensor as text: the figures, percentiles, a
histogram with its axis and bins, what is exact, and a window of values.
Pure renderables laid out for a width (the detail pane draws them)."""

from __future__ import annotations

import numpy as np
from rich.table import Table
from rich.text import Text

from irpa_core import stats as S
from irpa_core.display import NARROW, num

BARS = " ▁▂▃▄▅▆▇█"


def per_column(bins: int, width: int) -> int:
    """Bins drawn in one column so that ``bins`` fit in ``width`` columns:
    whole neighbouring bins, the same number in every column (the last
    may hold fewer)."""
    return max(1, -(-bins // max(1, width)))


def merge_bins(counts: list[int], width: int) -> list[float]:
    """The height of each column when ``counts`` are drawn in at most
    ``width`` columns: every bin its own column when they fit, else
    ``per_column`` neighbouring bins a column, each column the mean count
    of its bins. Equal bins stay equal at any width (a plain resampling
    gives some columns one bin and others two: dips the data does not
    have)."""
    per = per_column(len(counts), width)
    if per == 1:
        return [float(c) for c in counts]
    return [sum(counts[k : k + per]) / len(counts[k : k + per]) for k in range(0, len(counts), per)]


def histogram_text(counts: list[int], width: int = 64, height: int = 4) -> Text:
    """Vertical bars, ``height`` lines of block characters, one column a
    bin or ``per_column`` bins (``merge_bins``)."""
    if not counts:
        return Text("(no finite values)", style="dim")
    heights = merge_bins(counts, width)
    top = max(heights) or 1
    levels = [round(c / top * height * 8) for c in heights]
    lines = []
    for row in range(height - 1, -1, -1):
        lines.append("".join(BARS[max(0, min(8, lv - row * 8))] for lv in levels))
    return Text("\n".join(lines), style="cyan")


def histogram_axis(st: S.Stats, bars: int) -> Text:
    """The axis under ``bars`` bars: the minimum at the left end, the
    maximum at the right end, and ``0`` under the bar holding zero when
    zero is inside the range."""
    if not st.hist_counts or bars < 2:
        return Text("")
    lo, hi = st.hist_edges[0], st.hist_edges[-1]
    ticks = ["─"] * bars
    ticks[0], ticks[-1] = "└", "┘"
    labels = [" "] * bars
    left, right = _g(st.min), _g(st.max)
    labels[: len(left)] = left[:bars]
    if len(left) + 1 + len(right) <= bars:
        labels[bars - len(right) :] = right
    if lo < 0 < hi:
        k = min(bars - 1, int(-lo / (hi - lo) * bars))
        ticks[k] = "┴" if 0 < k < bars - 1 else ticks[k]
        if len(left) < k < bars - len(right) - 1:
            labels[k] = "0"
    return Text("".join(ticks) + "\n" + "".join(labels), style="dim")


def bins_table(st: S.Stats) -> Table:
    """Every bin of the histogram: its range and count (``b``)."""
    t = Table.grid(padding=(0, 2))
    t.add_column(justify="right", style="dim")
    t.add_column(justify="right")
    t.add_column(justify="right")
    edges, counts = st.hist_edges, st.hist_counts
    for k, c in enumerate(counts):
        if st.integer:
            a, b = int(edges[k]), int(edges[k + 1]) - 1
            rng = f"{a}" if a == b else f"{a} .. {b}"
        else:
            rng = f"{_g(edges[k])} .. {_g(edges[k + 1])}"
        t.add_row(str(k), rng, f"{c:,}")
    return t


def _g(x: float) -> str:
    return num(x, NARROW)


def stats_table(st: S.Stats, width: int = 60) -> Table:
    """The figures as label/value pairs, two pairs a line when ``width``
    allows, else one."""
    pairs = [
        ("count", f"{st.count:,}"),
        ("min", _g(st.min)),
        ("mean", _g(st.mean)),
        ("max", _g(st.max)),
        ("std", _g(st.std)),
        ("zeros", f"{st.zeros:,} ({st.sparsity:.1f}%)"),
        ("NaN", f"{st.nans:,}"),
        ("Inf", f"{st.infs:,}"),
    ]
    two = width >= 48
    t = Table.grid(padding=(0, 2))
    for style in ("bold", "", "bold", "")[: 4 if two else 2]:
        t.add_column(style=style, no_wrap=True)
    step = 2 if two else 1
    for k in range(0, len(pairs), step):
        t.add_row(*[x for pair in pairs[k : k + step] for x in pair])
    return t


def percentiles_table(st: S.Stats, width: int = 60) -> Table:
    """Each percentile label beside its value, never wrapped apart: as many
    pairs on a line as ``width`` holds."""
    t = Table.grid(padding=(0, 1))
    items = list(st.percentiles.items())
    per_row = max(1, min(4, (width + 1) // 15))
    for k in range(per_row):
        t.add_column(style="bold", no_wrap=True, justify="right")
        t.add_column(no_wrap=True, min_width=9 if k < per_row - 1 else 0)
    for r in range(0, len(items), per_row):
        cells: list[str] = []
        for p, v in items[r : r + per_row]:
            cells += [f"p{p}", _g(v)]
        t.add_row(*cells)
    return t


def exactness(st: S.Stats, cached: bool = False, note: str | None = None) -> Text:
    """What is exact and what is not, said plainly."""
    if not st.exact:
        return Text(f"estimate from {st.sampled:,} sampled values ({note or 'exact pass running'})", style="yellow")
    head = Text("exact", style="green")
    if cached:
        head.append(" (cached)", style="dim")
    if st.percentiles_exact:
        head.append("; percentiles exact", style="green")
    else:
        head.append(f"; percentiles within ±{st.percentile_error * 100:.2g}%", style="yellow")
    if st.integer:
        head.append("; integer bins", style="dim")
    return head


def values_grid(values: np.ndarray, row0: int = 0, col0: int = 0, width: int = 60) -> Table:
    """A window of the matrix with its row and column indices: as many
    columns as ``width`` holds."""
    cells = [[f"{float(v):.4g}" for v in row] for row in values]
    cols = values.shape[1] if values.ndim == 2 else 0
    index_w = len(f"[{row0 + len(cells) - 1}]") if cells else 3
    col_w = [max([len(f"[{col0 + j}]"), *(len(r[j]) for r in cells)]) for j in range(cols)]
    fit, used = 0, index_w
    while fit < cols and used + 1 + col_w[fit] <= width:
        used += 1 + col_w[fit]
        fit += 1
    t = Table(box=None, padding=(0, 0, 0, 1), show_edge=False, header_style="dim", pad_edge=False)
    t.add_column("", justify="right", style="dim", no_wrap=True)
    for j in range(fit):
        t.add_column(f"[{col0 + j}]", justify="right", no_wrap=True)
    for i, row in enumerate(cells):
        t.add_row(f"[{row0 + i}]", *row[:fit])
    return t
