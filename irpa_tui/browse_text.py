"""What the main screen says besides its table: the header, the plan bar,
and the mark column of edited rows. Pure text from the session and the
view (file text escaped); the screen decides when to redraw."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text

from irpa_core import blocks
from irpa_core.display import clip, escape, human, plural, shown
from irpa_core.model import Archive
from irpa_core.plan import EXCLUDE, SPLAT_OP, Plan

from .editing import EditSession
from .fetching import Fetched
from .view import SORT_LABELS, TableView, TreeRow


@dataclass(frozen=True, slots=True)
class Totals:
    """Bytes of some rows, and those bytes per dtype, largest first."""

    bytes: int
    dtypes: list[str]


def totals(archive: Archive, rows: Iterable[int] | None = None) -> Totals:
    """What the header says of ``rows`` (all entries when None): the screen
    sums the archive once and the rows a filter shows once per filter."""
    ents = archive.entries
    per: dict[str, int] = {}
    for e in ents if rows is None else (ents[i] for i in rows):
        per[e.dtype_name or "?"] = per.get(e.dtype_name or "?", 0) + e.length
    parts = [f"{k} {human(v)}" for k, v in sorted(per.items(), key=lambda kv: -kv[1])]
    return Totals(sum(per.values()), parts)


def dtype_parts(archive: Archive) -> list[str]:
    """Bytes per dtype, largest first (the archive never changes under the
    screen: summed once)."""
    return totals(archive).dtypes


def header_text(
    title: str,
    archive: Archive,
    view: TableView,
    dtypes: list[str],
    fetched: Fetched | None,
    width: int,
    in_view: Totals | None = None,
) -> Text:
    """The title, formats, rows shown, size, fetched bytes and sort, then
    as many dtype figures as fit. A filter shows ``in_view`` (the totals of
    its rows): their size of the whole, and the dtypes of those rows,
    labelled so."""
    a = archive
    formats = "+".join(sorted({f.format for f in a.files}))
    shown_rows = len(view.rows)
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(clip(escape(title), max(12, width // 3)), style="bold")
    t.append(f"  [{formats}]  ")
    filtered = view.filtered and in_view is not None
    if view.filtered:
        t.append(f"{shown_rows:,} of {len(a):,} shown", style="bold yellow")
    else:
        t.append(plural(len(a), "parameter"))
    if filtered and in_view is not None:
        t.append(f"  {human(in_view.bytes)}", style="yellow")
        t.append(f" of {human(a.total_bytes)}")
        dtypes = in_view.dtypes
    else:
        t.append(f"  {human(a.total_bytes)}")
    if fetched is not None:
        t.append(f"  fetched {human(fetched.bytes)}", style="cyan")
    if view.sort != "file":
        t.append(f"  by {SORT_LABELS[view.sort].split(' (')[0]}", style="italic")
    label = "  shown:" if filtered else ""  # these dtypes are the shown rows'
    room = width - 2 - cell_len(t.plain) - len(label)
    dts = ""
    for part in dtypes:
        if cell_len(dts) + len(part) + 2 > room:
            dts += "  …" if room > cell_len(dts) + 3 else ""
            break
        dts += "  " + part
    if label and dts.strip(" …"):
        dts = label + dts[1:]
    t.append(dts, style="dim")
    return t


def group_summary(row: TreeRow, view: TableView) -> Group:
    """What the detail pane says of a group of the tree: its totals (over
    the rows the filter shows), and how many of them the scan flagged."""
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    t.add_row("group", Text(shown(row.key, 200)))
    t.add_row("parameters", f"{row.count:,}" + (" shown by the filter" if view.filtered else ""))
    t.add_row("bytes", f"{row.size:,} ({human(row.size)})")
    t.add_row("dtypes", Text(escape(row.mix)))
    if view.scan:
        prefix = row.key + "."
        flagged = [i for i in view.flags if view.names[i].startswith(prefix)]
        if view.filtered and flagged:
            rows = set(view.rows)
            flagged = [i for i in flagged if i in rows]
        per: dict[str, int] = {}
        for i in flagged:
            for kind in view.flags[i]:
                per[kind] = per.get(kind, 0) + 1
        what = "  ".join(f"{k}×{n}" for k, n in sorted(per.items(), key=lambda kv: (-kv[1], kv[0])))
        t.add_row("flagged", f"{len(flagged):,}" + (f"  {what}" if what else ""))
    return Group(t, Text("\nenter opens the group, left closes it", style="dim"))


def plan_bar_text(session: EditSession, scan_state: str) -> Text:
    """The scan's state, then what the plan does (or how to start one)."""
    s = session.summary()
    t = Text(no_wrap=True, overflow="ellipsis")
    if scan_state:
        t.append(scan_state, style="cyan")
        t.append("  ")
    if not session.plan.ops:
        t.append(
            f"no edits yet: space e K x s r mark parameters, w writes ({len(session.archive):,} parameters, "
            f"{human(s.bytes_before)})",
            style="dim",
        )
        return t
    t.append("plan ", style="bold")
    t.append(f"{s.kept:,} kept  ")
    t.append(f"{s.excluded:,} excluded", style="red")
    t.append("  ")
    t.append(f"{s.renamed:,} renamed", style="yellow")
    t.append("  ")
    t.append(f"{s.splatted:,} splatted", style="green")
    if s.cast:
        t.append(f"  {s.cast:,} cast", style="cyan")
    for container, removed in session.plan.pruned.items():
        t.append(f"  {escape(container)}N: blocks {blocks.format_list(removed)} removed", style="red")
    if session.plan.metadata_ops:
        meta = session.metadata()
        n = len(meta.status)
        t.append(
            "  metadata edits do not apply" if meta.problem else f"  {n:,} metadata key{'s' if n != 1 else ''}",
            style="red" if meta.problem else "magenta",
        )
    t.append(f"  {human(s.bytes_before)} -> {human(s.bytes_after)}")
    if session.dirty:
        t.append("  (unsaved)", style="dim italic")
    return t


class Marks:
    """The mark column of the table: a row's edits, and the width the
    longest needs."""

    def __init__(self, session: EditSession) -> None:
        self.session = session
        self._width: tuple[Plan, int] | None = None

    def __call__(self, index: int) -> tuple[str, str]:
        """Every edit of the row: excluded, splatted (with the value),
        renamed (with the new name), cast (with the dtype, when the cast
        applies: a glob leaves alone what it cannot cast)."""
        if not self.session.plan.ops:
            return "", "keep"
        f = self.session.fate(index)
        parts: list[str] = []
        style = "keep"
        if f.action == EXCLUDE:
            parts.append("✗ excluded")
            style = "exclude"
        elif f.action == SPLAT_OP:
            parts.append("◆ " + escape(f.value or "zero"))
            style = "splat"
        if f.renamed:
            parts.append("→ " + escape(f.name))
            style = "rename" if style == "keep" else style
        if f.cast and index in self.session.casts():
            parts.append("⇒ " + f.cast)
            style = "cast" if style == "keep" else style
        return " ".join(parts), style

    def width(self) -> int:
        """Cells the longest mark needs (once per plan)."""
        plan = self.session.plan
        if self._width is None or self._width[0] is not plan:
            width = 0
            if plan.ops:
                width = max((cell_len(self(i)[0]) for i in range(len(self.session.archive))), default=0)
            self._width = (plan, width)
        return self._width[1]
