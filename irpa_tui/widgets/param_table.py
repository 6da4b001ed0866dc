"""The parameter table: a virtualised line widget.

Only the rows on screen are rendered (Textual's line API), so 100,000
entries scroll and filter as fast as 10. Rows come from ``TableView``
(filter/sort/tree) and marks from a callable, so editing can colour them
without this widget knowing about plans.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from irpa_core.display import human, shape_str

from ..view import TableView, TreeRow

# (title, width); the name column takes what is left.
COLUMNS = (("mark", 14), ("name", 0), ("dtype", 8), ("shape", 14), ("size", 10), ("kind", 6))

MarkFn = Callable[[int], tuple[str, str]]  # entry index -> (text, style name)


class ParamTable(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {
        "param-table--header",
        "param-table--cursor",
        "param-table--group",
        "param-table--keep",
        "param-table--exclude",
        "param-table--rename",
        "param-table--splat",
        "param-table--dim",
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
    ParamTable > .param-table--dim { color: $text-muted; }
    """
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "Top", show=False),
        Binding("end", "jump(-1)", "Bottom", show=False),
        Binding("enter,right", "expand", "Expand", show=False),
        Binding("left", "collapse", "Collapse", show=False),
    ]

    cursor = reactive(0, always_update=True)

    class Highlighted(Message):
        """The row under the cursor changed (``index`` None for a group)."""

        def __init__(self, index: int | None) -> None:
            self.index = index
            super().__init__()

    def __init__(self, view: TableView, mark: MarkFn | None = None, **kw):
        super().__init__(**kw)
        self.view = view
        self.mark = mark or (lambda i: ("", "keep"))
        self._last_sent: object = object()

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

    def refresh_rows(self, keep_entry: bool = True) -> None:
        """Call after the view changed (filter, sort, tree, marks)."""
        target = self.entry_at_cursor() if keep_entry else None
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
        self.virtual_size = Size(self.size.width, self.row_count + 1)

    def watch_cursor(self, value: int) -> None:
        self._scroll_cursor_into_view()
        self.refresh()
        index = self.entry_at_cursor()
        if index != self._last_sent:
            self._last_sent = index
            self.post_message(self.Highlighted(index))

    def _scroll_cursor_into_view(self) -> None:
        height = max(1, self.size.height - 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)

    # -- actions ----------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        if self.row_count:
            self.cursor = max(0, min(self.row_count - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.size.height - 2))

    def action_jump(self, where: int) -> None:
        if self.row_count:
            self.cursor = 0 if where == 0 else self.row_count - 1

    def _group_at_cursor(self) -> TreeRow | None:
        if self.view.tree and self.row_count:
            row = self.row_at(self.cursor)
            if row.index is None:
                return row
        return None

    def action_expand(self) -> None:
        g = self._group_at_cursor()
        if g is not None and g.key in self.view.collapsed:
            self.view.toggle_group(g.key)
            self.refresh_rows()
            self.cursor = self.view.tree_rows().index(g) if g in self.view.tree_rows() else self.cursor

    def action_collapse(self) -> None:
        g = self._group_at_cursor()
        if g is not None and g.key not in self.view.collapsed:
            self.view.toggle_group(g.key)
            rows = self.view.tree_rows()
            self.virtual_size = Size(self.size.width, len(rows) + 1)
            self.cursor = next((k for k, r in enumerate(rows) if r.key == g.key and r.index is None), 0)

    def on_click(self, event: Click) -> None:
        r = int(self.scroll_y) + event.y - 1
        if event.y >= 1 and 0 <= r < self.row_count:
            self.cursor = r
            g = self._group_at_cursor()
            if event.chain == 2 and g is not None:
                self.view.toggle_group(g.key)
                self.refresh_rows()

    # -- rendering ----------------------------------------------------------

    def _widths(self) -> list[int]:
        fixed = sum(w for _, w in COLUMNS) + len(COLUMNS) - 1
        name_w = max(12, self.size.width - fixed)
        return [w or name_w for _, w in COLUMNS]

    def _cells(self, texts: list[str], widths: list[int]) -> str:
        return " ".join(_fit(t, w, right=COLUMNS[k][0] == "size") for k, (t, w) in enumerate(zip(texts, widths)))

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        widths = self._widths()
        if y == 0:
            style = self.get_component_rich_style("param-table--header")
            text = self._cells([c for c, _ in COLUMNS], widths)
            return Strip([Segment(text.ljust(width)[:width], style)], width)
        r = int(self.scroll_y) + y - 1
        if r >= self.row_count:
            return Strip.blank(width, self.rich_style)
        row = self.row_at(r)
        base = self.rich_style
        if isinstance(row, TreeRow) and row.index is None:
            arrow = "▸ " if row.key in self.view.collapsed else "▾ "
            label = "  " * row.depth + arrow + row.label + f"  ({row.count})"
            text = self._cells(["", label, "", "", human(row.size), ""], widths)
            style = base + self.get_component_rich_style("param-table--group")
            segs = [Segment(text, style)]
        else:
            index = row.index if isinstance(row, TreeRow) else row
            assert index is not None  # a leaf
            e = self.view.archive.entries[index]
            label = ("  " * row.depth + "  " + row.label) if isinstance(row, TreeRow) else e.name
            mark_text, mark_style = self.mark(index)
            mark_cell = self._cells([mark_text], widths[:1])
            cells = [label, e.dtype_name or "?", shape_str(e.shape), human(e.length), e.kind]
            rest = " ".join(_fit(t, w, right=(k == 3)) for k, (t, w) in enumerate(zip(cells, widths[1:])))
            segs = [
                Segment(mark_cell, base + self.get_component_rich_style(f"param-table--{mark_style}")),
                Segment(
                    " " + rest,
                    base + (self.get_component_rich_style("param-table--dim") if mark_style == "exclude" else Style()),
                ),
            ]
        if r == self.cursor:
            cur = self.get_component_rich_style("param-table--cursor")
            segs = [Segment(s.text, (s.style or Style()) + cur) for s in segs]
        strip = Strip(segs)
        return strip.extend_cell_length(width, segs[-1].style).crop(0, width)


def _fit(t: str, w: int, right: bool = False) -> str:
    if len(t) > w:
        t = t[: w - 1] + "…"
    return t.rjust(w) if right else t.ljust(w)
