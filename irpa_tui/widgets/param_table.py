"""The parameter table: a virtualised line widget.

Only the rows on screen are rendered (Textual's line API), so 100,000
entries scroll and filter as fast as 10. Rows come from ``TableView``
(filter/sort/tree) and marks from a callable, so editing can colour them
without this widget knowing about plans.

Columns are sized to their content and the name gets the width first: the
mark column (every edit of a row: ``◆ zero → layers.0.attn_q``) takes what
its longest mark needs when there is room, the fixed columns what their
longest value needs, and optional columns (kind, shape, the scan figures)
are dropped on a narrow terminal before the name gets too short. A cut-off
archive gets a state column (complete, partial, missing). Names are
escaped (``display.escape``) and cut by display cells, so wide characters
and control characters cannot break a row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from irpa_core.display import escape, human, num, shape_str
from irpa_core.model import COMPLETE, PARTIAL, entry_state

from ..view import TableView, TreeRow
from .lines import CURSOR_BINDINGS, scroll_into_view

MarkFn = Callable[[int], tuple[str, str]]  # entry index -> (text, style name)
NAME_MIN = 24  # columns the name keeps before optional columns go
NAME_MAX_NEED = 120  # a longer name is cut rather than squeezing every other column
LEVELS_MAX = 16  # dotted parts a column's shortening goes through at most
FLAGS_MAX = 14  # more flags than that are cut (the detail pane says them all)


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int
    right: bool = False
    priority: int = 100  # lower goes first when the terminal is narrow
    sort: str | None = None  # the view sort a header click selects


class ParamTable(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {
        "param-table--header",
        "param-table--cursor",
        "param-table--group",
        "param-table--keep",
        "param-table--exclude",
        "param-table--rename",
        "param-table--splat",
        "param-table--cast",
        "param-table--dim",
        "param-table--flag",
    }
    DEFAULT_CSS = """
    ParamTable { height: 1fr; overflow-x: hidden; }
    ParamTable > .param-table--header { text-style: bold; background: $panel; }
    ParamTable > .param-table--cursor { background: $accent 40%; }
    ParamTable:focus > .param-table--cursor { background: $accent; color: $text; }
    ParamTable > .param-table--group { text-style: bold; color: $secondary; }
    ParamTable > .param-table--keep { color: $text-muted; }
    ParamTable > .param-table--exclude { color: $error; }
    ParamTable > .param-table--rename { color: $warning; }
    ParamTable > .param-table--splat { color: $success; }
    ParamTable > .param-table--cast { color: $accent; }
    ParamTable > .param-table--dim { color: $text-muted; }
    ParamTable > .param-table--flag { color: $warning; text-style: bold; }
    """
    BINDINGS = [
        *CURSOR_BINDINGS,
        Binding("enter,right", "expand", "Expand", show=False),
        Binding("left", "collapse", "Collapse", show=False),
    ]

    cursor = reactive(0, always_update=True)

    class Highlighted(Message):
        """The row under the cursor changed (``index`` None for a group,
        then ``group`` is its tree row)."""

        def __init__(self, index: int | None, group: TreeRow | None = None) -> None:
            self.index, self.group = index, group
            super().__init__()

    class SortClicked(Message):
        """A click on a sortable column header."""

        def __init__(self, sort: str) -> None:
            self.sort = sort
            super().__init__()

    def __init__(self, view: TableView, mark: MarkFn | None = None, mark_width: Callable[[], int] | None = None, **kw):
        super().__init__(**kw)
        self.view = view
        self.mark = mark or (lambda i: ("", "keep"))
        self.mark_width = mark_width or (lambda: 0)
        self._last_sent: object = object()
        self._content_widths: dict[str, int] | None = None
        self._layout: tuple[tuple[int, int, bool], list[tuple[Column, int]]] | None = None
        self._mix_at: tuple[list[TreeRow], int] | None = None  # (tree rows, where their mixes start)
        self._name_widths: np.ndarray | None = None  # name_widths of every entry, once names overflow
        self._level: tuple[int, list[int], int | None] | None = None  # (width, rows, the column's shortening)

    # -- rows -----------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self.view.tree_rows()) if self.view.tree else len(self.view.rows)

    def row_at(self, r: int):
        """An entry index (flat view) or a TreeRow (tree view)."""
        return self.view.tree_rows()[r] if self.view.tree else self.view.rows[r]

    def entry_at_cursor(self) -> int | None:
        if not self.row_count:
            return None
        row = self.row_at(min(self.cursor, self.row_count - 1))
        if isinstance(row, TreeRow):
            return row.index
        return row

    def group_at_cursor(self) -> TreeRow | None:
        """The tree's group row under the cursor, if it is on one."""
        row = self._tree_row()
        return row if row is not None and row.index is None else None

    def refresh_rows(self, keep_entry: bool = True) -> None:
        """Call after the view changed (filter, sort, tree, marks, scan):
        the cursor stays on the entry it was on when that entry is still
        shown (the one last highlighted: the rows have changed already)."""
        target = self._last_sent if keep_entry and isinstance(self._last_sent, int) else None
        self._layout = None
        self.virtual_size = Size(self.size.width, self.row_count + 1)
        new = 0
        if target is not None:
            if self.view.tree:
                rows = self.view.tree_rows()
                new = next((k for k, r in enumerate(rows) if r.index == target), 0)
            else:
                try:
                    new = self.view.rows.index(target)
                except ValueError:
                    new = 0
        self.cursor = min(new, max(0, self.row_count - 1))
        self.refresh()

    def on_mount(self) -> None:
        self.refresh_rows(keep_entry=False)

    def on_resize(self) -> None:
        self._layout = None
        self.virtual_size = Size(self.size.width, self.row_count + 1)

    def watch_cursor(self, value: int) -> None:
        self._scroll_cursor_into_view()
        self.refresh()
        index = self.entry_at_cursor()
        group = self._tree_row() if index is None else None
        # A group by what its pane says: another group, or the same with other totals.
        sent = index if group is None else (group.key, group.count, group.size)
        if sent != self._last_sent:
            self._last_sent = sent
            self.post_message(self.Highlighted(index, group))

    def _scroll_cursor_into_view(self) -> None:
        scroll_into_view(self, self.cursor, max(1, self.size.height - 1))

    # -- actions ----------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        if self.row_count:
            self.cursor = max(0, min(self.row_count - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.size.height - 2))

    def action_jump(self, where: int) -> None:
        if self.row_count:
            self.cursor = 0 if where == 0 else self.row_count - 1

    def _tree_row(self) -> TreeRow | None:
        if self.view.tree and self.row_count:
            row = self.row_at(min(self.cursor, self.row_count - 1))
            assert isinstance(row, TreeRow)
            return row
        return None

    def action_expand(self) -> None:
        """On a collapsed group: open it; on an open group: go to its first
        child (as file managers do)."""
        row = self._tree_row()
        if row is None or row.index is not None:
            return
        if row.key in self.view.collapsed:
            self.view.set_collapsed(row.key, False)
            self._after_tree_change(row.key)
        elif self.cursor + 1 < self.row_count:
            self.cursor += 1

    def action_collapse(self) -> None:
        """On an open group: close it; elsewhere: go to the enclosing group."""
        row = self._tree_row()
        if row is None:
            return
        if row.index is None and row.key not in self.view.collapsed:
            self.view.set_collapsed(row.key, True)
            self._after_tree_change(row.key)
            return
        parent = self.view.parent_row(self.cursor)
        if parent is not None:
            self.cursor = parent

    def _after_tree_change(self, key: str) -> None:
        rows = self.view.tree_rows()
        self.virtual_size = Size(self.size.width, len(rows) + 1)
        self.cursor = next((k for k, r in enumerate(rows) if r.index is None and r.key == key), 0)
        self.refresh()

    def on_click(self, event: Click) -> None:
        if event.y == 0:
            x = 0
            for col, w in self._columns():
                if x <= event.x < x + w and col.sort:
                    self.post_message(self.SortClicked(col.sort))
                x += w + 1
            return
        r = int(self.scroll_y) + event.y - 1
        if 0 <= r < self.row_count:
            self.cursor = r
            row = self._tree_row()
            if event.chain == 2 and row is not None and row.index is None:
                self.view.toggle_group(row.key)
                self._after_tree_change(row.key)

    # -- layout -------------------------------------------------------------

    def _content(self) -> dict[str, int]:
        """Widths the fixed columns' longest values need (once per archive)."""
        if self._content_widths is None:
            ents = self.view.archive.entries
            self._content_widths = {
                "dtype": min(10, max([5, *(len(e.dtype_name or "?") for e in ents)])),
                "shape": min(18, max([5, *(len(shape_str(e.shape)) for e in ents)])),
                "kind": max([4, *(len(e.kind) for e in ents)]),
                "longest": max([4, *(cell_len(escape(e.name)) for e in ents)]),
            }
            self._content_widths["name"] = min(NAME_MAX_NEED, self._content_widths["longest"])
        return self._content_widths

    def _name_level(self, w: int) -> int | None:
        """How far the names in view are shortened in a name column ``w``
        cells wide: one level for the whole column (``column_level``), so
        that neighbouring rows read alike; None when every name fits."""
        if self._content()["longest"] <= w:
            return None
        rows = self.view.rows
        if self._level is not None and self._level[0] == w and self._level[1] is rows:
            return self._level[2]
        if self._name_widths is None:
            names = [escape(e.name) for e in self.view.archive.entries]
            levels = min(LEVELS_MAX, max(n.count(".") for n in names) + 1)
            self._name_widths = np.array([name_widths(n, levels) for n in names], dtype=np.int32)
        level = column_level(self._name_widths[rows], w) if rows else None
        self._level = (w, rows, level)
        return level

    def natural_width(self) -> int:
        """Columns every column needs at full content (with a scrollbar)."""
        name = max(self._content()["name"], NAME_MIN) + 1
        mark = self.mark_width()
        return name + (mark + 1 if mark else 0) + sum(c.width + 1 for c in self._candidates()) + 2

    def _candidates(self) -> list[Column]:
        c = self._content()
        cols = [
            Column("dtype", "dtype", c["dtype"], priority=90, sort="dtype"),
            Column("shape", "shape", c["shape"], priority=30),
            Column("size", "size", 9, right=True, priority=80, sort="size"),
            Column("kind", "kind", c["kind"], priority=10),
        ]
        if self.view.archive.truncated:  # a cut-off file: how much of each entry is there
            cols.append(Column("state", "state", 8, priority=85))
        if self.view.scan:
            # As wide as their values: three digits of a figure >= 0 take 8
            # cells (1.23e-05, 0.000123), the flags what the longest needs.
            flags = max([5, *(len(" ".join(f)) for f in self.view.flags.values())])
            cols += [
                Column("std", "std", 8, right=True, priority=60, sort="std"),
                Column("absmax", "absmax", 8, right=True, priority=50, sort="absmax"),
                Column("zeros", "zeros%", 6, right=True, priority=40, sort="zeros"),
                Column("nonfinite", "nan/inf", 7, right=True, priority=35, sort="nonfinite"),
                Column("flags", "flags", min(FLAGS_MAX, flags), priority=70),
            ]
        return cols

    @property
    def _width(self) -> int:
        # Inside the scrollbar: what rows can really use.
        return self.scrollable_content_region.width or self.size.width

    def _columns(self) -> list[tuple[Column, int]]:
        """(column, width) left to right for the current width."""
        width = self._width
        mark_need = self.mark_width()
        key = (width, mark_need, bool(self.view.scan))
        if self._layout is not None and self._layout[0] == key:
            return self._layout[1]
        rest = self._candidates()
        name_need = self._content()["name"]
        floor = min(name_need, max(NAME_MIN, width * 2 // 5))

        def avail(cols: list[Column]) -> int:
            return width - sum(c.width + 1 for c in cols) - (mark_need + 1 if mark_need else 0)

        while rest and avail(rest) < floor:
            rest.remove(min(rest, key=lambda c: c.priority))
        room = avail(rest)
        mark_w = 0
        if mark_need:
            # The name first; the mark gets its need when there is room, else
            # what is left after the name's need, at least a third.
            room += mark_need + 1
            mark_w = min(mark_need, max(room - 1 - name_need, min(mark_need, max(8, room // 3))))
            room -= mark_w + 1
        # The name takes what it needs (all of the room when it is long);
        # what is left stays at the end, so the other columns sit close.
        name_w = max(4, min(room, max(name_need, NAME_MIN) + 1))
        out: list[tuple[Column, int]] = []
        if mark_w:
            out.append((Column("mark", "edit", mark_w), mark_w))
        out.append((Column("name", "name", name_w, sort="name"), name_w))
        out += [(c, c.width) for c in rest]
        self._layout = (key, out)
        return out

    # -- rendering ----------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self._width
        cols = self._columns()
        if y == 0:
            style = self.get_component_rich_style("param-table--header")
            # The sorted column says so (file order has no column).
            text = " ".join(_fit(c.title + (" ▾" if c.sort == self.view.sort else ""), w, c.right) for c, w in cols)
            return Strip([Segment(set_cell_size(text, width), style)], width)
        r = int(self.scroll_y) + y - 1
        if r >= self.row_count:
            return Strip.blank(width, self.rich_style)
        row = self.row_at(r)
        base = self.rich_style
        if isinstance(row, TreeRow) and row.index is None:
            segs = self._group_segments(row, cols, base)
        else:
            index = row.index if isinstance(row, TreeRow) else row
            assert index is not None  # a leaf
            segs = self._entry_segments(index, row, cols, base)
        if r == self.cursor:
            cur = self.get_component_rich_style("param-table--cursor")
            segs = [Segment(s.text, (s.style or Style()) + cur) for s in segs]
        strip = Strip(segs)
        return strip.extend_cell_length(width, segs[-1].style if segs else base).crop(0, width)

    def _group_segments(self, row: TreeRow, cols: list[tuple[Column, int]], base: Style) -> list[Segment]:
        """The label, count and dtype mix over the name column and the
        columns after it up to the size (groups have no dtype or shape)."""
        group = base + self.get_component_rich_style("param-table--group")
        dim = base + self.get_component_rich_style("param-table--dim")
        segs: list[Segment] = []
        keys = [c.key for c, _ in cols]
        k = 0
        while k < len(cols):
            c, w = cols[k]
            sep = "" if k == 0 else " "
            if c.key == "name":
                end = keys.index("size") if "size" in keys else k + 1
                w = sum(cw for _, cw in cols[k:end]) + (end - k - 1)
                head = self._group_head(row)
                if cell_len(head) >= w:
                    segs.append(Segment(sep + _fit(head, w), group))
                else:
                    # The mixes line up (blk.9 and blk.10 alike) when there is room.
                    at = self._mix_column()
                    pad = " " * (at - cell_len(head)) if at + 6 <= w else ""
                    segs.append(Segment(sep + head, group))
                    segs.append(Segment(_fit(pad + "  " + row.mix, w - cell_len(head)), dim))
                k = end
                continue
            if c.key == "size":
                segs.append(Segment(sep + _fit(human(row.size), w, True), group))
            else:
                segs.append(Segment(sep + " " * w, base))
            k += 1
        return segs

    def _group_head(self, row: TreeRow) -> str:
        arrow = "▸ " if row.key in self.view.collapsed else "▾ "
        return "  " * row.depth + arrow + escape(row.label) + f"  ({row.count:,})"

    def _mix_column(self) -> int:
        """Where the groups' dtype mixes start: after the longest group
        head of the tree (once per tree)."""
        rows = self.view.tree_rows()
        if self._mix_at is None or self._mix_at[0] is not rows:
            heads = [cell_len(self._group_head(r)) for r in rows if r.index is None]
            self._mix_at = (rows, max(heads, default=0))
        return self._mix_at[1]

    def _entry_segments(self, index: int, row, cols: list[tuple[Column, int]], base: Style) -> list[Segment]:
        e = self.view.archive.entries[index]
        mark_text, mark_style = self.mark(index)
        dim = self.get_component_rich_style("param-table--dim")
        plain = base + (dim if mark_style == "exclude" else Style())
        scan = self.view.scan.get(index)
        segs: list[Segment] = []
        for k, (c, w) in enumerate(cols):
            sep = "" if k == 0 else " "
            style = plain
            if c.key == "mark":
                text, style = mark_text, base + self.get_component_rich_style(f"param-table--{mark_style}")
            elif c.key == "name":
                if not isinstance(row, TreeRow):
                    segs.append(Segment(sep + fit_name(escape(e.name), w, self._name_level(w)), style))
                    continue
                text = "  " * row.depth + "  " + escape(row.label)
            elif c.key == "dtype":
                text = e.dtype_name or "?"
            elif c.key == "shape":
                text = shape_str(e.shape)
            elif c.key == "size":
                text = human(e.length)
            elif c.key == "kind":
                text = e.kind
            elif c.key == "state":
                text = entry_state(e)
                if text != COMPLETE:
                    style = base + self.get_component_rich_style(
                        "param-table--flag" if text == PARTIAL else "param-table--exclude"
                    )
            elif c.key == "flags":
                text = " ".join(self.view.flags.get(index, ()))
                style = base + self.get_component_rich_style("param-table--flag")
            else:
                text = _scan_cell(c.key, scan)
            segs.append(Segment(sep + _fit(text, w, c.right), style))
        return segs


def _scan_cell(key: str, r) -> str:
    if r is None:
        return ""
    if key == "std":
        return num(r.std, 3)
    if key == "absmax":
        return num(r.absmax, 3)
    if key == "zeros":
        return f"{r.zeros_pct:.1f}"
    if key == "nonfinite":
        return f"{r.nonfinite:,}" if r.nonfinite else "0"
    return ""


def _shortens(part: str) -> bool:
    # Numbers stay whole (they tell the blocks apart), and so does an
    # escaped control character, which must stay in sight.
    return len(part) > 1 and not part.isdigit() and not part.startswith("\\")


def short_name(name: str, level: int) -> str:
    """``name`` with each of its first ``level`` dotted parts cut to its
    first character, except numbers and the last two parts
    (encoder.layer.0.attention.output.dense.bias at 4 -> e.l.0.a.output.dense.bias)."""
    parts = name.split(".")
    for i in range(min(level, len(parts) - 2)):
        if _shortens(parts[i]):
            parts[i] = parts[i][0]
    return ".".join(parts)


def name_widths(name: str, levels: int) -> list[int]:
    """The cells of ``short_name(name, level)`` for each level below
    ``levels``."""
    parts = name.split(".")
    cells = len if name.isascii() else cell_len  # (once per entry of a 100,000-entry archive)
    n = cells(name)
    out = [n]
    for i in range(min(levels - 1, len(parts) - 2)):
        if _shortens(parts[i]):
            n -= cells(parts[i]) - 1
        out.append(n)
    return out + [n] * (levels - len(out))


def column_level(widths: np.ndarray, w: int) -> int:
    """One shortening for a whole column (``widths``: a row per name, as
    ``name_widths``): the least level at which every name that can fit in
    ``w`` cells does, so that neighbouring rows read alike."""
    fits = widths <= w
    can = fits[:, -1]
    if not can.any():
        return widths.shape[1] - 1
    return int(fits[can].argmax(axis=1).max())


def fit_name(name: str, w: int, level: int | None = None) -> str:
    """``name`` in exactly ``w`` cells. A dotted name too long for them is
    shortened (``short_name``) at ``level`` (the column's), else as little
    as it needs: the rows of a model differ at the end and in their block
    number, which an ordinary cut would hide. Still too long, it is cut in
    the middle."""
    if level is None and (cell_len(name) <= w or w < 2):
        return _fit(name, w)
    if level is None:
        sizes = name_widths(name, name.count(".") + 1)
        level = next((k for k, n in enumerate(sizes) if n <= w), len(sizes) - 1)
    short = short_name(name, level)
    if cell_len(short) <= w or w < 2:
        return _fit(short, w)
    tail_w = (w - 1) * 3 // 5
    tail, cells = "", 0
    for ch in reversed(short):
        if cells + cell_len(ch) > tail_w:
            break
        tail, cells = ch + tail, cells + cell_len(ch)
    return _fit(set_cell_size(short, w - 1 - cells) + "…" + tail, w)


def _fit(t: str, w: int, right: bool = False) -> str:
    """``t`` in exactly ``w`` display cells: cut with … or padded."""
    if w <= 0:
        return ""
    n = cell_len(t)
    if n > w:
        return set_cell_size(t, w - 1) + "…"
    pad = " " * (w - n)
    return pad + t if right else t + pad
