"""The per-layer chart of a comparison, laid out: ``MappedReport.by_layer()``
as a block x role grid on a log colour scale, with a bar per block.

Pure layout, no widget: the TUI draws it, tests check it. The error spans
decades (1e-4 for a good 8-bit quant, 1 for a broken tensor), so the scale
is logarithmic between the smallest and the largest positive value of the
chart; an exact zero is below the scale (``position`` 0, shown as ``0``),
and a cell without a value (A all zeros) has none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .heatmap import ABSMAX, colors

Value = float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerChart:
    roles: tuple[str, ...]  # the columns, as by_layer names them
    blocks: tuple[int, ...]  # the rows
    cells: tuple[tuple[Value, ...], ...]  # cells[i][j]: block i, role j (None: no tensor or no value)
    totals: tuple[Value, ...]  # per block, over all its tensors
    lo: float  # the log scale's ends (positive)
    hi: float
    left_out: int = 0  # roles equal in every block, not shown

    @property
    def empty(self) -> bool:
        return not self.blocks

    def position(self, v: Value) -> float | None:
        """Where ``v`` sits on the scale, 0 to 1 (None: no value)."""
        if v is None or not math.isfinite(v):
            return None if v is None or math.isnan(v) else 1.0
        if v <= 0:
            return 0.0
        span = math.log10(self.hi) - math.log10(self.lo)
        return min(1.0, max(0.0, (math.log10(v) - math.log10(self.lo)) / span)) if span > 0 else 1.0

    def color(self, v: Value) -> tuple[int, int, int] | None:
        """The RGB of ``v`` on the heatmaps' sequential scale (None: no value)."""
        t = self.position(v)
        if t is None:
            return None
        r, g, b = colors(np.array([t]), ABSMAX, (0.0, 1.0))[0]
        return int(r), int(g), int(b)

    def bar(self, v: Value, width: int) -> int:
        """Cells of a ``width``-cell bar for a block total: its position on
        the log scale, at least one cell for any non-zero value."""
        t = self.position(v)
        if t is None or v == 0:
            return 0
        return max(1, round(t * width))


def roles_that_differ(by_layer: dict) -> list[str]:
    """``by_layer()``'s roles with a non-zero value in some block: a role
    equal in every block (a norm kept in f32, say) says nothing, and both
    front ends leave it out (and say how many)."""
    blocks = by_layer.get("blocks", ())
    return [r for r in by_layer.get("roles", ()) if any(b.get("roles", {}).get(r) not in (0, None) for b in blocks)]


def layer_chart(by_layer: dict) -> LayerChart:
    """The chart of ``by_layer()``'s document (its ``blocks``, and the
    ``roles`` that differ somewhere: ``LayerChart.left_out`` counts the
    others)."""
    roles = tuple(roles_that_differ(by_layer))
    blocks, cells, totals = [], [], []
    for blk in by_layer.get("blocks", ()):
        blocks.append(int(blk["block"]))
        row = blk.get("roles", {})
        cells.append(tuple(_value(row.get(r)) for r in roles))
        totals.append(_value(blk.get("rel_rmse")))
    seen = [v for row in cells for v in row] + totals
    positive = [v for v in seen if v is not None and math.isfinite(v) and v > 0]
    hi = max(positive, default=1.0)
    lo = min(positive, default=hi / 10)
    if lo >= hi:
        lo = hi / 10
    left_out = len(by_layer.get("roles", ())) - len(roles)
    return LayerChart(
        roles=roles, blocks=tuple(blocks), cells=tuple(cells), totals=tuple(totals), lo=lo, hi=hi, left_out=left_out
    )


def _value(v) -> Value:
    """A JSON figure back to a float (``json_value`` writes inf as a string)."""
    if v is None:
        return None
    if isinstance(v, str):
        return {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}.get(v.lower())
    return float(v)


def short_role(role: str) -> str:
    """A column title: the role without its ``.weight`` (``attn_q``)."""
    return role.removesuffix(".weight")
