"""A heatmap drawn with half blocks: each character cell shows two pixels
(``▀`` in the top pixel's colour on the bottom pixel's colour).

The grid of values comes from ``irpa_core.heatmap``; this widget only maps
pixels to cells (stretching a small grid to the space it has), colours them
on the engine's colour scale, and marks the cursor cell. Colours are 24-bit
on a truecolor terminal and the nearest of the 256 xterm colours otherwise.
"""

from __future__ import annotations

import numpy as np
from rich.color import Color, ColorSystem
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from irpa_core import heatmap as H
from irpa_core.display import num

CURSOR = "╋"


def rich_color(rgb, truecolor: bool) -> Color:
    """A 24-bit colour, or its nearest xterm-256 colour."""
    c = Color.from_rgb(int(rgb[0]), int(rgb[1]), int(rgb[2]))
    return c if truecolor else c.downgrade(ColorSystem.EIGHT_BIT)


class HeatmapView(Widget, can_focus=True):
    DEFAULT_CSS = "HeatmapView { height: 1fr; }"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.heatmap: H.Heatmap | None = None
        self.rgb: np.ndarray | None = None
        self.cursor = (0, 0)  # grid cell (row, col)
        self._styles: dict[tuple, Style] = {}

    @property
    def truecolor(self) -> bool:
        return self.app.console.color_system == "truecolor"

    def show(self, hm: H.Heatmap | None) -> None:
        self.heatmap = hm
        self.rgb = H.colors(hm.values, hm.mode, hm.scale()) if hm is not None else None
        self._styles.clear()
        if hm is not None:
            n, m = hm.values.shape
            self.cursor = (min(self.cursor[0], n - 1), min(self.cursor[1], m - 1))
        self.refresh()

    def move(self, di: int, dj: int) -> None:
        if self.heatmap is None:
            return
        n, m = self.heatmap.values.shape
        self.cursor = (max(0, min(n - 1, self.cursor[0] + di)), max(0, min(m - 1, self.cursor[1] + dj)))
        self.refresh()

    def _cell_rows(self, height: int) -> np.ndarray:
        """Grid row of each pixel row (2 per character row)."""
        assert self.heatmap is not None
        n = self.heatmap.values.shape[0]
        return np.minimum(np.arange(2 * height) * n // max(1, 2 * height), n - 1)

    def _cell_cols(self, width: int) -> np.ndarray:
        assert self.heatmap is not None
        m = self.heatmap.values.shape[1]
        return np.minimum(np.arange(width) * m // max(1, width), m - 1)

    def _style(self, top, bottom, cursor: bool) -> Style:
        key = (*top, *bottom, cursor)
        st = self._styles.get(key)
        if st is None:
            tc = self.truecolor
            if cursor:
                mean = (np.asarray(top, float) + np.asarray(bottom, float)) / 2
                ink = (0, 0, 0) if mean @ np.array([0.299, 0.587, 0.114]) > 140 else (255, 255, 255)
                st = Style(color=rich_color(ink, tc), bgcolor=rich_color(mean.astype(int), tc), bold=True)
            else:
                st = Style(color=rich_color(top, tc), bgcolor=rich_color(bottom, tc))
            self._styles[key] = st
        return st

    def render_line(self, y: int) -> Strip:
        width, height = self.size.width, self.size.height
        if self.rgb is None or not width or not height:
            return Strip.blank(width, self.rich_style)
        rows = self._cell_rows(height)
        cols = self._cell_cols(width)
        top, bottom = self.rgb[rows[2 * y]], self.rgb[rows[2 * y + 1]]
        ci, cj = self.cursor
        on_cursor_row = ci in (rows[2 * y], rows[2 * y + 1])
        cursor_x = int(np.flatnonzero(cols == cj).mean()) if on_cursor_row else -1
        cursor_y = int(np.flatnonzero(rows == ci).mean()) // 2 if on_cursor_row else -1
        segs = []
        for x in range(width):
            j = cols[x]
            is_cursor = x == cursor_x and y == cursor_y
            segs.append(Segment(CURSOR if is_cursor else "▀", self._style(tuple(top[j]), tuple(bottom[j]), is_cursor)))
        return Strip(segs, width).simplify()


def scale_strip(hm: H.Heatmap, width: int, truecolor: bool) -> list[Segment]:
    """The colour scale as one row of ``width`` coloured cells."""
    lo, hi = hm.scale()
    vals = np.linspace(lo, hi, max(2, width))
    rgb = H.colors(vals, hm.mode, (lo, hi))
    return [Segment(" ", Style(bgcolor=rich_color(c, truecolor))) for c in rgb[:width]]


def cell_text(hm: H.Heatmap, cursor: tuple[int, int], what: str, missing: str) -> Text:
    """The cursor cell's line: the rows and columns it covers and its value
    (``what`` names it; ``missing`` when the cell has none)."""
    i, j = cursor
    r0, r1 = int(hm.row_edges[i]), int(hm.row_edges[i + 1])
    c0, c1 = int(hm.col_edges[j]), int(hm.col_edges[j + 1])
    v = hm.values[i, j]
    return Text.assemble(
        ("cell ", "bold"),
        f"rows {r0:,}..{r1 - 1:,}, columns {c0:,}..{c1 - 1:,}: ",
        (f"{what} {num(v, 5)}" if v == v else missing, "cyan"),
    )
