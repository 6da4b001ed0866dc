"""A virtualised list of one-line rows: a job's log, the verify table.

Only the lines on screen are rendered (Textual's line API), so a list of
100,000 rows appears, grows and scrolls at the cost of the visible ones:
appending a thousand finished entries to a log is setting a count. Rows are
``rich.text.Text`` made on demand by a callable; names from files stay data
(never markup) and control characters are shown escaped, so one row is
always one line.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# The keys of a line-based list with a cursor (actions cursor, page, jump).
CURSOR_BINDINGS = [
    Binding("up", "cursor(-1)", "Up", show=False),
    Binding("down", "cursor(1)", "Down", show=False),
    Binding("pageup", "page(-1)", "Page up", show=False),
    Binding("pagedown", "page(1)", "Page down", show=False),
    Binding("home", "jump(0)", "Top", show=False),
    Binding("end", "jump(-1)", "Bottom", show=False),
]


def scroll_into_view(view: ScrollView, row: int, height: int) -> None:
    """Scroll ``view`` (``height`` rows of lines shown) the least that shows ``row``."""
    top = int(view.scroll_y)
    if row < top:
        view.scroll_to(y=row, animate=False)
    elif row >= top + height:
        view.scroll_to(y=row - height + 1, animate=False)


def _one_line(text: str) -> str:
    """A safety net under the callers' ``display.escape``: no control
    character reaches a line (a newline would break it)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text) if _CONTROL.search(text) else text


class LineList(ScrollView, can_focus=True):
    """``count`` rows, row ``i`` drawn by ``line(i)``. With ``cursor`` a row
    is highlighted and ``Highlighted`` posted as it moves; with ``follow``
    the view stays at the end as rows are added, unless scrolled up."""

    COMPONENT_CLASSES = {"line-list--header", "line-list--cursor"}
    DEFAULT_CSS = """
    LineList { height: 1fr; overflow-x: hidden; }
    LineList > .line-list--header { text-style: bold; background: $panel; }
    LineList > .line-list--cursor { background: $accent 40%; }
    LineList:focus > .line-list--cursor { background: $accent; color: $text; }
    """
    BINDINGS = [*CURSOR_BINDINGS]

    cursor_row = reactive(0, always_update=True)

    class Highlighted(Message):
        """The row under the cursor changed (None: no rows)."""

        def __init__(self, row: int | None) -> None:
            self.row = row
            super().__init__()

    def __init__(
        self,
        line: Callable[[int], Text],
        *,
        header: Text | None = None,
        cursor: bool = False,
        follow: bool = False,
        **kw,
    ):
        super().__init__(**kw)
        self.line = line
        self.header = header
        self.cursor = cursor
        self.follow = follow
        self.count = 0
        self._sent: int | object | None = object()

    @property
    def _top(self) -> int:
        return 1 if self.header is not None else 0

    def set_count(self, n: int, *, reset: bool = False) -> None:
        """Show rows ``0..n-1`` (``reset``: back to the first row)."""
        height = self.scrollable_content_region.height
        at_end = self.scroll_y >= self.count + self._top - height - 1
        self.count = n
        self.virtual_size = Size(self.size.width, n + self._top)
        if reset:
            self.scroll_to(y=0, animate=False, immediate=True, force=True)
            self.cursor_row = 0
        elif self.follow and at_end:
            # force: the scrollbar that allows scrolling appears only at the next layout
            self.scroll_to(y=max(0, n + self._top - height), animate=False, immediate=True, force=True)
        if self.cursor:
            self.cursor_row = min(self.cursor_row, max(0, n - 1))
        self.refresh()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, self.count + self._top)

    # -- cursor -------------------------------------------------------------

    def watch_cursor_row(self, value: int) -> None:
        if not self.cursor:
            return
        scroll_into_view(self, value, max(1, self.size.height - self._top))
        self.refresh()
        row = value if self.count else None
        if row != self._sent:
            self._sent = row
            self.post_message(self.Highlighted(row))

    def action_cursor(self, delta: int) -> None:
        if self.cursor and self.count:
            self.cursor_row = max(0, min(self.count - 1, self.cursor_row + delta))
        elif not self.cursor:
            self.scroll_to(y=self.scroll_y + delta, animate=False)

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.size.height - self._top - 1))

    def action_jump(self, where: int) -> None:
        if self.cursor and self.count:
            self.cursor_row = 0 if where == 0 else self.count - 1
        elif not self.cursor:
            self.scroll_to(y=0 if where == 0 else self.max_scroll_y, animate=False)

    def on_click(self, event: Click) -> None:
        r = int(self.scroll_y) + event.y - self._top
        if self.cursor and event.y >= self._top and 0 <= r < self.count:
            self.cursor_row = r

    # -- rendering ----------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self.header is not None and y == 0:
            return self._strip(self.header, width, self.get_component_rich_style("line-list--header"))
        r = int(self.scroll_y) + y - self._top
        if r >= self.count or r < 0:
            return Strip.blank(width, self.rich_style)
        extra = self.get_component_rich_style("line-list--cursor") if self.cursor and r == self.cursor_row else None
        return self._strip(self.line(r), width, extra)

    def _strip(self, text: Text, width: int, extra: Style | None) -> Strip:
        base = self.rich_style
        segs = [
            Segment(_one_line(s.text), base + (s.style if isinstance(s.style, Style) else Style()))
            for s in text.render(self.app.console)
            if s.text
        ]
        if extra is not None:
            segs = [Segment(s.text, (s.style or Style()) + extra) for s in segs]
            base = base + extra
        return Strip(segs).extend_cell_length(width, base).crop(0, width)
