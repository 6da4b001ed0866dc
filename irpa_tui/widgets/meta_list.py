"""The rows of the metadata screen: a ``MetadataModel`` drawn line by
line with a cursor (a 262,144-token vocabulary scrolls like ten items).
Every string from the file is escaped and drawn as text, never markup;
the plan's edits are marked as a diff marks lines."""

from __future__ import annotations

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

from irpa_core.display import clip, escape, shown

from ..metadata_view import ARRAY, FILE, KEY, NOTE, OBJECT, Line, Match, MetadataModel, value_text
from .lines import CURSOR_BINDINGS, scroll_into_view

VALUE_LIMIT = 400  # characters of a value drawn on its row
PREVIEW_ITEMS = 4
EDIT_MARKS = {"edited": "*", "added": "+", "deleted": "-"}  # as a diff marks lines


class MetaList(ScrollView, can_focus=True):
    """The rows of a ``MetadataModel`` with a cursor."""

    COMPONENT_CLASSES = {
        "meta-list--cursor",
        "meta-list--key",
        "meta-list--type",
        "meta-list--note",
        "meta-list--dim",
        "meta-list--file",
        "meta-list--match",
        "meta-list--edited",
        "meta-list--added",
        "meta-list--deleted",
    }
    DEFAULT_CSS = """
    MetaList { height: 1fr; overflow-x: hidden; }
    MetaList > .meta-list--cursor { background: $accent 40%; }
    MetaList:focus > .meta-list--cursor { background: $accent; color: $text; }
    MetaList > .meta-list--key { text-style: bold; }
    MetaList > .meta-list--type { color: $text-muted; }
    MetaList > .meta-list--note { color: $secondary; }
    MetaList > .meta-list--dim { color: $text-muted; }
    MetaList > .meta-list--file { text-style: bold; color: $secondary; }
    MetaList > .meta-list--match { background: $warning 30%; }
    MetaList > .meta-list--edited { color: $warning; text-style: bold; }
    MetaList > .meta-list--added { color: $success; text-style: bold; }
    MetaList > .meta-list--deleted { color: $error; text-style: strike; }
    """
    BINDINGS = [
        *CURSOR_BINDINGS,
        Binding("enter,right", "expand", "Expand", show=False),
        Binding("left", "collapse", "Collapse", show=False),
    ]
    cursor = reactive(0, always_update=True)

    class Moved(Message):
        pass

    def __init__(self, model: MetadataModel, **kw):
        super().__init__(**kw)
        self.model = model
        self.match: Match | None = None
        keys = [cell_len(escape(n.label)) for r in model.roots for n in r.children if n.kind in (KEY, ARRAY)]
        self.key_width = min(48, max([8, *keys]))

    def refresh_rows(self) -> None:
        self.virtual_size = Size(self.size.width, self.model.row_count)
        self.cursor = min(self.cursor, max(0, self.model.row_count - 1))
        self.refresh()

    def on_mount(self) -> None:
        self.refresh_rows()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, self.model.row_count)

    def watch_cursor(self, value: int) -> None:
        scroll_into_view(self, value, max(1, self.size.height))
        self.refresh()
        self.post_message(self.Moved())

    def go(self, row: int, center: bool = True) -> None:
        self.refresh_rows()
        self.cursor = max(0, min(row, self.model.row_count - 1))
        if center:
            self.scroll_to(y=max(0, self.cursor - self.size.height // 2), animate=False)

    def action_cursor(self, delta: int) -> None:
        self.cursor = max(0, min(self.model.row_count - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.size.height - 1))

    def action_jump(self, where: int) -> None:
        self.cursor = 0 if where == 0 else self.model.row_count - 1

    def action_expand(self) -> None:
        line = self.model.row(self.cursor)
        if line.index is None and line.node.expandable and not line.node.expanded:
            self.model.toggle(line.node, True)
            self.refresh_rows()
        elif line.index is None and line.node.expandable:
            self.action_cursor(1)

    def action_collapse(self) -> None:
        line = self.model.row(self.cursor)
        if line.index is None and line.node.expandable and line.node.expanded:
            self.model.toggle(line.node, False)
            self.refresh_rows()
            return
        # Elsewhere: go to the enclosing array or group.
        target = line.node if line.index is not None else None
        for r in range(self.cursor - 1, -1, -1):
            up = self.model.row(r)
            if up.index is None and (up.node is target or (target is None and up.node.depth < line.node.depth)):
                self.cursor = r
                return

    def on_click(self, event: Click) -> None:
        r = int(self.scroll_y) + event.y
        if 0 <= r < self.model.row_count:
            self.cursor = r
            if event.chain == 2:
                line = self.model.row(r)
                if line.index is None and line.node.expandable:
                    self.model.toggle(line.node)
                    self.refresh_rows()

    # -- drawing ------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        r = int(self.scroll_y) + y
        if r >= self.model.row_count:
            return Strip.blank(width, self.rich_style)
        line = self.model.row(r)
        base = self.rich_style
        parts = self.parts(line, width)
        segs = [Segment(t, base + self.get_component_rich_style(f"meta-list--{s}") if s else base) for t, s in parts]
        if self.match is not None and line.node is self.match.node and line.index == self.match.index:
            hl = self.get_component_rich_style("meta-list--match")
            segs = [Segment(s.text, (s.style or Style()) + hl) for s in segs]
        if r == self.cursor:
            cur = self.get_component_rich_style("meta-list--cursor")
            segs = [Segment(s.text, (s.style or Style()) + cur) for s in segs]
        strip = Strip(segs)
        return strip.extend_cell_length(width, segs[-1].style if segs else base).crop(0, width)

    def parts(self, line: Line, width: int = 200) -> list[tuple[str, str]]:
        """The row as (text, style name) pieces; all file text escaped, a
        long value cut to the width (saying how long it is)."""
        n = line.node
        indent = "  " * line.depth
        if line.index is not None:
            v = n.items[line.index]
            label = f"{indent}  [{line.index}] "
            out = [(label, "dim"), (_value(v, n.elem_type, max(24, width - len(label))), "")]
            note = n.item_note(v) if n.item_note is not None else None
            if note:
                out.append((f"  {note}", "note"))
            return out
        arrow = ("▾ " if n.expanded else "▸ ") if n.expandable else "  "
        if n.kind == FILE:
            return [(f"{arrow}{n.type_name}  ", "file"), (escape(n.label), "file")]
        if n.kind == NOTE:
            return [(indent + "  " + n.label, "dim")]
        key = _pad(escape(n.label), self.key_width)
        # An edit of the plan: a mark where the indent is, the key and value in its colour.
        edit = n.status
        if edit and indent:
            indent = indent[:-2] + EDIT_MARKS[edit] + " "
        key_style = edit or "key"
        if n.kind == OBJECT:
            return [(indent + arrow, ""), (key, "key"), (f"  {n.type_name}", "type")]
        if n.kind == ARRAY:
            head = [(indent + arrow, edit), (key, key_style), (f"  {n.type_name} × {n.count:,}", "type")]
            if not n.expanded and n.count:
                try:
                    first = n.first(PREVIEW_ITEMS)
                except Exception as e:  # a damaged array: say so on its row
                    return [*head, (f"  (cannot read: {escape(str(e))})", "dim")]
                preview = ", ".join(_value(v, n.elem_type, 40) for v in first)
                head.append((f"  {preview}{', …' if n.count > PREVIEW_ITEMS else ''}", edit or "dim"))
            if edit:
                head.append((f"  {edit}", edit))
            return head
        used = len(indent) + 2 + cell_len(key) + 2 + max(7, len(n.type_name)) + 1
        value = _value(n.value, n.type_name, max(24, width - used - 2 - (len(edit) + 2 if edit else 0)))
        out = [(indent + "  ", edit), (key, key_style), (f"  {n.type_name:<7} ", "type"), (value, edit)]
        if edit:
            out.append((f"  {edit}", edit))
        if n.note:
            out.append((f"  ({escape(clip(n.note, 200))})", "note"))
        return out


def _value(v, type_name: str, limit: int = VALUE_LIMIT) -> str:
    limit = min(limit, VALUE_LIMIT)
    if isinstance(v, str):
        return '"' + shown(v, limit - 2) + '"'
    if hasattr(v, "count") and hasattr(v, "type_name"):  # a nested GGUF array
        return f"array[{v.type_name}] × {v.count:,}"
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], list):
        return f"array × {len(v[1]):,}"
    return shown(value_text(v, type_name), limit)


def _pad(text: str, width: int) -> str:
    n = cell_len(text)
    return text + " " * (width - n) if n <= width else set_cell_size(text, width - 1) + "…"
