"""The main screen: header, parameter table, detail pane, filter, plan bar.

Layout follows the terminal: the detail pane sits beside the table when
there are 100 columns or more, below it on a tall narrow terminal, and is
hidden on a small one (``p`` shows or hides it). The header and the plan bar
keep what matters first and cut the rest.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.events import Resize
from textual.message import Message
from textual.widgets import Footer, Input, Static

from irpa_core import scan as SC
from irpa_core import stats as S
from irpa_core.display import clip, escape, human, shown
from irpa_core.dtypes import DType
from irpa_core.errors import Cancelled, IrpaError
from irpa_core.formats import registry
from irpa_core.output import build
from irpa_core.plan import CAST, EXCLUDE, SPLAT_OP, Op, Plan, cast_dtype
from irpa_core.sources import is_remote

from .. import background
from ..editing import EditSession, cast_check
from ..fetching import POLL, Fetched, FetchMeter, asks, remote_bytes
from ..stats_cache import CACHE
from ..view import SCAN_SORTS, SORT_LABELS, SORTS, FilterError, TableView
from ..widgets.detail import DetailPane
from ..widgets.param_table import ParamTable
from .base import IrpaScreen

SIDE_MIN_WIDTH = 100  # the detail pane goes beside the table from this width
BELOW_MIN_HEIGHT = 30  # else below it from this height, else hidden


@dataclass(frozen=True)
class Key:
    """One key of the main screen: the binding, the footer, the help screen
    and the command palette are all generated from the table below."""

    key: str
    action: str  # BrowseScreen.action_<action>
    label: str  # footer and palette
    help: str
    args: tuple[str, ...] = ()
    footer: bool = False

    @property
    def binding_action(self) -> str:
        return f"{self.action}({', '.join(map(repr, self.args))})" if self.args else self.action

    @property
    def display(self) -> str:
        return {"slash": "/", "question_mark": "?", "space": "space"}.get(self.key, self.key)


# Footer keys first by what a newcomer needs (they stay visible at 80 columns).
KEYS: tuple[Key, ...] = (
    Key("slash", "filter", "Filter", "filter (see below); enter keeps it, escape clears it", footer=True),
    Key("question_mark", "help", "Help", "this help", footer=True),
    Key("q", "quit", "Quit", "quit (asks when there are unsaved edits)", footer=True),
    Key("i", "info", "Info", "model summary: architecture, sizes, dtype mix per layer group", footer=True),
    Key("h", "heatmap", "Heatmap", "the row's tensor as a heatmap (mean or abs-max per cell, zoomable)", footer=True),
    Key(
        "S",
        "scan",
        "Scan",
        "exact statistics of every tensor: std/absmax/zeros/NaN columns, anomaly flags",
        footer=True,
    ),
    Key(
        "m",
        "metadata",
        "Metadata",
        "file metadata: / searches, g goes to an index, e a d edit, add, delete keys",
        footer=True,
    ),
    Key("space", "toggle_keep", "Keep/Excl", "toggle keep / exclude on the row", footer=True),
    Key("s", "splat", "Splat", "splat the row (or all rows in view) with TYPE=VALUE or zero", footer=True),
    Key("r", "rename", "Rename", "rename the row, or rows in view by substitution", footer=True),
    Key("u", "undo", "Undo", "undo the last edit", footer=True),
    Key("w", "write", "Write", "write the edited archive: .irpa, .gguf or .safetensors", footer=True),
    Key("t", "tree", "Tree", "tree by dotted prefix (right/left open and close groups)", footer=True),
    Key("e", "exclude_view", "Excl view", "exclude every row in view"),
    Key("k", "keep_view", "Keep view", "keep every row in view"),
    Key("x", "strip_view", "Strip view", "strip every row in view to zero splats"),
    Key("c", "cast", "Cast", "cast the row (or every row in view) to a dtype: f16, bf16, f32, Q8_0, ..."),
    Key("U", "redo", "Redo", "redo"),
    Key("v", "verify", "Verify", "verify an archive on disk against these sources and this plan"),
    Key("ctrl+s", "save_plan", "Save plan", "save the edit plan as JSON (replay: irpa convert --plan)"),
    Key("n", "sort", "Sort name", "sort by name (natural order: layer.2 before layer.10)", ("name",)),
    Key("z", "sort", "Sort size", "sort by size, largest first", ("size",)),
    Key("d", "sort", "Sort dtype", "sort by dtype", ("dtype",)),
    Key("f", "sort", "File order", "back to file order", ("file",)),
    Key("o", "next_sort", "Next sort", "cycle the sorts (std, absmax, zeros, NaN/Inf after a scan); or click a title"),
    Key("p", "pane", "Pane", "show or hide the detail pane"),
    Key("b", "bins", "Bin counts", "show or hide the histogram's bin counts in the detail pane"),
    Key("a", "view_as", "View as", "view the row's bytes as a chosen dtype (for entries without one)"),
    Key("F", "fetch_exact", "Fetch exact", "remote tensor over 64 MiB: fetch all of it for the exact statistics"),
    Key("escape", "escape", "Cancel", "clear the filter, else cancel the statistics pass, else the scan"),
)


class BrowseScreen(IrpaScreen):
    BINDINGS = [
        Binding(k.key, "app.quit" if k.action == "quit" else k.binding_action, k.label, show=k.footer,
                key_display=k.display)
        for k in KEYS
    ]  # fmt: skip

    class ScanProgress(Message):
        """Rows (and full statistics) found since the last message."""

        def __init__(self, done: int, total: int, entries: int, rows: dict, full: dict, final: bool = False,
                     error: str = "") -> None:  # fmt: skip
            self.done, self.total, self.entries, self.final, self.error = done, total, entries, final, error
            self.rows, self.full = rows, full
            super().__init__()

    def __init__(self, session: EditSession, title: str):
        super().__init__()
        self.session = session
        self.view = TableView(session.archive, lambda: session.fates if session.plan.ops else None, session.casts)
        self.title_text = title
        self.view_as: dict[int, DType] = {}  # entry index -> DType chosen with `a`
        self._detail_name: tuple[int, str] | None = None  # (entry, name) the detail pane shows
        self.pane: bool | None = None  # None: as the terminal allows; True/False: chosen with p
        self._marks: tuple[Plan, int] | None = None
        self._scan_cancel: threading.Event | None = None
        self._scan_rows: dict[int, SC.Row] = {}
        self._scan_state = ""  # text for the plan bar while scanning / after
        self.fetch = FetchMeter(session.archive.sources)  # what reading the remote files cost so far
        self._fetched: Fetched | None = None  # as the header shows it (remote archives)

    # -- layout -------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        with Horizontal(id="main"):
            yield ParamTable(self.view, mark=self._mark, mark_width=self._mark_width, id="table")
            yield DetailPane(id="detail")
        with Horizontal(id="filter-bar"):
            yield Input(
                placeholder="filter: words, globs, re:…, dtype: kind: mark: size: file: flag: (? for help)", id="filter"
            )
            yield Static(id="filter-msg")
        yield Static(id="plan-bar")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter-bar").display = False
        self._place_pane()
        if self.fetch.remote:
            self._fetched = self.fetch.total()
            self.set_interval(POLL, self._poll_fetch)
        self.refresh_all()
        self.query_one(ParamTable).focus()

    def on_unmount(self) -> None:
        if self._scan_cancel is not None:
            self._scan_cancel.set()  # quitting stops the scan (Python waits for worker threads at exit)

    def _poll_fetch(self) -> None:
        """The header's fetched bytes, redrawn when they change (a timer)."""
        now = self.fetch.total()
        if now != self._fetched:
            self._fetched = now
            self._update_header()

    def on_resize(self, _event: Resize) -> None:
        self._place_pane()
        self._update_header()
        self._update_plan_bar()

    def _place_pane(self) -> None:
        """Beside the table on a wide terminal, below it on a tall narrow
        one, hidden on a small one, unless ``p`` chose."""
        width, height = self.size.width or self.app.size.width, self.size.height or self.app.size.height
        main = self.query_one("#main")
        side = width >= SIDE_MIN_WIDTH
        shown_ = self.pane if self.pane is not None else (side or height >= BELOW_MIN_HEIGHT)
        main.set_class(not shown_, "-no-pane")
        main.set_class(shown_ and not side, "-below")
        detail = self.query_one(DetailPane)
        if shown_ and side:
            # What the table does not need, within 40 columns and half the width.
            spare = width - self.table.natural_width() - 1
            detail.styles.width = max(40, min(max(64, width // 2), spare))
        detail.display = shown_

    @property
    def table(self) -> ParamTable:
        return self.query_one(ParamTable)

    def refresh_all(self, keep_entry: bool = True) -> None:
        self.table.refresh_rows(keep_entry)
        self._update_header()
        self._update_plan_bar()

    def _update_header(self) -> None:
        a = self.session.archive
        width = self.size.width or self.app.size.width
        if not hasattr(self, "_dtype_parts"):
            # The archive never changes under this screen: sum once.
            per: dict[str, int] = {}
            for e in a.entries:
                per[e.dtype_name or "?"] = per.get(e.dtype_name or "?", 0) + e.length
            self._dtype_parts = [f"{k} {human(v)}" for k, v in sorted(per.items(), key=lambda kv: -kv[1])]
        formats = "+".join(sorted({f.format for f in a.files}))
        shown_rows = len(self.view.rows)
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(clip(escape(self.title_text), max(12, width // 3)), style="bold")
        t.append(f"  [{formats}]  ")
        if self.view.filtered:
            t.append(f"{shown_rows:,} of {len(a):,} shown", style="bold yellow")
        else:
            t.append(f"{len(a):,} parameters")
        t.append(f"  {human(a.total_bytes)}")
        if self._fetched is not None:
            t.append(f"  fetched {human(self._fetched.bytes)}", style="cyan")
        if self.view.sort != "file":
            t.append(f"  by {SORT_LABELS[self.view.sort].split(' (')[0]}", style="italic")
        room = width - 2 - cell_len(t.plain)
        dts = ""
        for part in self._dtype_parts:
            if cell_len(dts) + len(part) + 2 > room:
                dts += "  …" if room > cell_len(dts) + 3 else ""
                break
            dts += "  " + part
        t.append(dts, style="dim")
        self.query_one("#header", Static).update(t)

    def _update_plan_bar(self) -> None:
        s = self.session.summary()
        bar = self.query_one("#plan-bar", Static)
        t = Text(no_wrap=True, overflow="ellipsis")
        if self._scan_state:
            t.append(self._scan_state, style="cyan")
            t.append("  ")
        if not self.session.plan.ops:
            t.append(
                f"no edits yet: space e k x s r mark parameters, w writes ({len(self.session.archive):,} parameters, "
                f"{human(s.bytes_before)})",
                style="dim",
            )
            bar.update(t)
            return
        t.append("plan ", style="bold")
        t.append(f"{s.kept:,} kept  ")
        t.append(f"{s.excluded:,} excluded", style="red")
        t.append("  ")
        t.append(f"{s.renamed:,} renamed", style="yellow")
        t.append("  ")
        t.append(f"{s.splatted:,} splatted", style="green")
        if s.cast:
            t.append(f"  {s.cast:,} cast", style="cyan")
        if self.session.plan.metadata_ops:
            meta = self.session.metadata()
            n = len(meta.status)
            t.append(
                "  metadata edits do not apply" if meta.problem else f"  {n:,} metadata key{'s' if n != 1 else ''}",
                style="red" if meta.problem else "magenta",
            )
        t.append(f"  {human(s.bytes_before)} -> {human(s.bytes_after)}")
        if self.session.dirty:
            t.append("  (unsaved)", style="dim italic")
        bar.update(t)

    # -- marks ----------------------------------------------------------------

    def _mark(self, index: int) -> tuple[str, str]:
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

    def _mark_width(self) -> int:
        """Cells the longest mark needs (once per plan)."""
        plan = self.session.plan
        if self._marks is None or self._marks[0] is not plan:
            width = 0
            if plan.ops:
                width = max((cell_len(self._mark(i)[0]) for i in range(len(self.session.archive))), default=0)
            self._marks = (plan, width)
        return self._marks[1]

    # -- highlighted row -> detail ------------------------------------------

    def on_param_table_highlighted(self, msg: ParamTable.Highlighted) -> None:
        self._show_detail(msg.index)

    def _show_detail(self, index: int | None) -> None:
        detail = self.query_one(DetailPane)
        self._detail_name = None if index is None else (index, self.session.fate(index).name)
        if index is None:
            detail.show(None)
        else:
            detail.show(self.session.archive.entries[index], self.session.fate(index).name, self.view_as.get(index))

    def on_param_table_sort_clicked(self, msg: ParamTable.SortClicked) -> None:
        self.action_sort(msg.sort)

    # -- filter -------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one("#filter-bar").display = True
        box = self.query_one("#filter", Input)
        box.value = self.view.query
        box.focus()
        self._filter_msg()

    def _filter_msg(self, error: str | None = None) -> None:
        msg = self.query_one("#filter-msg", Static)
        if error:
            msg.update(Text(error, style="bold red", no_wrap=True, overflow="ellipsis"))
        elif self.view.filtered:
            msg.update(Text(f"{len(self.view.rows):,} of {len(self.session.archive):,}", style="yellow"))
        else:
            msg.update(Text("? lists the terms", style="dim"))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "filter":
            return
        try:
            self.view.set_filter(event.value)
        except FilterError as e:
            # Explained in the bar, the view keeps the last good filter.
            event.input.add_class("-invalid")
            self._filter_msg(f"{e}" + (f"  in {clip(escape(e.term), 30)}" if e.term else ""))
            return
        event.input.remove_class("-invalid")
        self._filter_msg()
        self.table.refresh_rows()
        self._update_header()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.query_one("#filter-bar").display = bool(event.value)
            self.table.focus()

    def _clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("-invalid")
        self.view.set_filter("")
        self.query_one("#filter-bar").display = False
        self.refresh_all()
        self.table.focus()

    def action_escape(self) -> None:
        """The filter first (it is what the user sees), then the running
        statistics pass, then the scan."""
        box = self.query_one("#filter", Input)
        if box.has_focus or self.view.filtered or box.value:
            self._clear_filter()
        elif self.query_one(DetailPane).cancel_stats():
            self.notify("statistics pass cancelled", timeout=1.5)
        elif self._scan_cancel is not None and not self._scan_cancel.is_set():
            self._scan_cancel.set()

    # -- view ---------------------------------------------------------------

    def action_tree(self) -> None:
        self.view.toggle_tree()
        self.table.refresh_rows()

    def action_sort(self, key: str) -> None:
        if key in SCAN_SORTS and not self.view.scan:
            self.notify("press S to scan first: these columns come from the exact statistics", timeout=3)
            return
        self.view.set_sort(key)
        self.table.refresh_rows()
        self._update_header()  # says the sort (a toast per key would stack up)

    def action_next_sort(self) -> None:
        usable = [s for s in SORTS if s not in SCAN_SORTS or self.view.scan]
        self.action_sort(
            usable[(usable.index(self.view.sort) + 1) % len(usable)] if self.view.sort in usable else "file"
        )

    def action_pane(self) -> None:
        self.pane = not self.query_one(DetailPane).display
        self._place_pane()

    def action_bins(self) -> None:
        self.query_one(DetailPane).toggle_bins()

    def action_fetch_exact(self) -> None:
        if not self.query_one(DetailPane).fetch_exact():
            self.notify("F is for a remote tensor whose exact statistics wait to be fetched", timeout=2)

    def action_metadata(self) -> None:
        from .metadata import MetadataScreen

        self.app.push_screen(MetadataScreen(self.session.archive, self.session, self._edited, self.action_save_plan))

    def action_info(self) -> None:
        from .summary import SummaryScreen

        self.app.push_screen(SummaryScreen(self.session.archive))

    def action_heatmap(self) -> None:
        from .heatmap import HeatmapScreen

        index = self.table.entry_at_cursor()
        if index is None:
            return
        e = self.session.archive.entries[index]
        view = self.view_as.get(index)
        if not S.can_decode(e, view):
            self.notify(f"{shown(e.name, 80)}: no values to draw (dtype {e.dtype_name or 'unknown'})", markup=False)
            return
        if e.shape is not None and len(e.shape) < 2 and view is None:
            self.notify(f"{shown(e.name, 80)} has {len(e.shape)} dimension(s): a heatmap needs 2 or more", markup=False)
            return
        self.app.push_screen(HeatmapScreen(e, view, self.session.fate(index).name))

    def action_view_as(self) -> None:
        from .dialogs import DtypeDialog

        index = self.table.entry_at_cursor()
        if index is None:
            return
        current = self.view_as.get(index)

        def done(d) -> None:
            if d is None:
                return
            if d == "":
                self.view_as.pop(index, None)
            else:
                self.view_as[index] = d
            self._show_detail(index)

        self.app.push_screen(
            DtypeDialog(
                shown(self.session.archive.entries[index].name, 200), current.name if current is not None else ""
            ),
            done,
        )

    def action_help(self) -> None:
        from .info import HelpScreen

        self.app.push_screen(HelpScreen([(k.display, k.help) for k in KEYS]))

    # -- scan ---------------------------------------------------------------

    def action_scan(self) -> None:
        from .dialogs import ConfirmDialog

        if self._scan_cancel is not None and not self._scan_cancel.is_set():
            self.notify("a scan is running (escape cancels it)", timeout=2)
            return
        remote = remote_bytes(self.session.archive.entries)
        if not asks(remote):
            self._scan()
            return
        body = Text(
            f"The scan reads every tensor: it fetches {human(remote)} from the server "
            "(escape cancels it on the way; the figures found so far stay)."
        )

        def answer(yes) -> None:
            if yes:
                self._scan()

        self.app.push_screen(ConfirmDialog(f"Fetch {human(remote)} to scan?", "Scan", body=body), answer)

    def _scan(self) -> None:
        cancel = self._scan_cancel = threading.Event()
        entries = self.session.archive.entries
        self._scan_rows = {}
        self._scan_state = "scan starting…"
        self._update_plan_bar()
        keep = len(entries) <= CACHE.size  # full results for the detail pane's cache
        # One pass over the file, not two: the pane waits for the scan's results.
        pane = self.query_one(DetailPane)
        pane.defer_exact = True
        pane.cancel_stats()

        def work() -> None:
            def progress(done: int, total: int, count: int, rows: dict, full: dict) -> None:
                self.post_message(self.ScanProgress(done, total, count, rows, full))

            try:
                # In a child process (the interface keeps the whole GIL), at
                # full priority: the user waits for the scan as a whole.
                rows, full = background.run(
                    SC.scan_in_batches, entries, progress=progress, cancel=cancel, rate=None, nice=0, keep_stats=keep
                )
                self.post_message(self.ScanProgress(1, 1, len(entries), rows, full, final=True))
            except Cancelled:
                self.post_message(self.ScanProgress(0, 1, 0, {}, {}, final=True, error="cancelled"))
            except (IrpaError, OSError, ValueError, RuntimeError) as e:
                self.post_message(self.ScanProgress(0, 1, 0, {}, {}, final=True, error=shown(str(e), 300)))

        self.run_worker(work, thread=True, exclusive=True, group="scan")

    def on_browse_screen_scan_progress(self, msg: ScanProgress) -> None:
        entries = self.session.archive.entries
        n = len(entries)
        self._scan_rows.update(msg.rows)
        for i, st in msg.full.items():
            CACHE.remember(entries[i], st)
        pane = self.query_one(DetailPane)
        if msg.full:
            pane.cached_arrived()
        if not msg.final:
            pct = 100 * msg.done / msg.total if msg.total else 0
            self._scan_state = f"scan {pct:.0f}%  {msg.entries:,}/{n:,} tensors  escape cancels"
            self.view.set_scan(dict(self._scan_rows), self.view.flags)
            self.table.refresh_rows()
            self._update_plan_bar()
            return
        pane.defer_exact = False
        if pane.last_stats is None or not pane.last_stats.exact:
            self._show_detail(self.table.entry_at_cursor())  # cancelled, or too many to keep: compute it
        rows = dict(self._scan_rows)
        flags = SC.anomalies(entries, rows)
        self.view.set_scan(rows, {i: tuple(f.kind for f in fs) for i, fs in flags.items()})
        self.table.refresh_rows()
        self._place_pane()
        if msg.error:
            self._scan_state = f"scan {msg.error} after {len(rows):,} of {n:,} tensors"
        else:
            flagged = sum(len(f) for f in flags.values())
            self._scan_state = f"scanned {len(rows):,} tensors: " + (
                f"{flagged:,} anomalies in {len(flags):,} (filter flag:any)" if flags else "no anomalies"
            )
        self._scan_cancel = None
        self._update_plan_bar()
        self._update_header()

    # -- edits --------------------------------------------------------------

    def _in_view(self) -> list[int]:
        return list(self.view.rows)

    def _edited(self, note: str | None = None) -> None:
        self.view.refilter()
        self.table.refresh_rows()
        self._place_pane()  # the mark column may have grown
        self._update_plan_bar()
        self._follow_names()
        self._update_header()
        if note:
            self.notify(note, timeout=2, markup=False)

    def _follow_names(self) -> None:
        """After an edit (a rename, its undo): the filter matches the new
        names, and the detail pane shows the highlighted row's new name."""
        if any(op.action == "rename" for op in self.session.plan.ops):
            renamed = {i: f.name for i, f in enumerate(self.session.fates) if f.renamed}
        else:
            renamed = {}
        if renamed != self.view.renamed:
            self.view.set_renamed(renamed)
            self.table.refresh_rows()
            self._update_header()
        index = self.table.entry_at_cursor()
        if index is not None and self._detail_name != (index, self.session.fate(index).name):
            self.on_param_table_highlighted(ParamTable.Highlighted(index))

    def action_toggle_keep(self) -> None:
        index = self.table.entry_at_cursor()
        if index is None:
            return
        self.session.toggle(index)
        self._edited()
        self.table.action_cursor(1)

    def _bulk(self, action: str, value: str = "", label: str = "") -> None:
        rows = self._in_view()
        if not rows:
            return
        candidate = self.session.plan.add(*self._bulk_ops(action, rows, value))
        problem = self.session.check_plan(candidate)
        if problem:
            self.notify(shown(problem, 500), severity="error", timeout=4, markup=False)
            return
        self.session.set_plan(candidate)
        self._edited(f"{label or action}: {len(rows):,} rows")

    def _bulk_ops(self, action, rows, value):
        glob = self.view.plan_glob()
        if glob is not None:
            return [Op(action, glob, value=value)]
        names = [self.session.archive.entries[i].name for i in rows]
        return [Op(action, n, value=value) for n in names]

    def action_exclude_view(self) -> None:
        self._bulk("exclude")

    def action_keep_view(self) -> None:
        self._bulk("keep")

    def action_strip_view(self) -> None:
        self._bulk("strip", label="stripped to zero splats")

    def action_undo(self) -> None:
        if self.session.undo():
            self._edited("undone")

    def action_redo(self) -> None:
        if self.session.redo():
            self._edited("redone")

    def action_splat(self) -> None:
        from .dialogs import SplatDialog

        index = self.table.entry_at_cursor()
        if index is None and not self.view.filtered:
            return
        entries = self.session.archive.entries
        rows = self._in_view()
        dialog = SplatDialog(
            entries[index] if index is not None else None, [entries[i] for i in rows] if self.view.filtered else []
        )

        def done(result) -> None:
            if result is None:
                return
            value, all_rows = result
            if all_rows:
                self._bulk("splat", value, f"splat {value or 'zero'}")
            elif index is not None:
                self.session.add(Op("splat", entries[index].name, value=value))
                self._edited()

        self.app.push_screen(dialog, done)

    def action_cast(self) -> None:
        from .dialogs import CastDialog

        index = self.table.entry_at_cursor()
        if index is None and not self.view.filtered:
            return
        entries = self.session.archive.entries
        rows = self._in_view() if self.view.filtered else []
        fates = self.session.fate

        def done(result) -> None:
            if result is None:
                return
            dtype, all_rows = result
            ops = self._cast_ops(rows if all_rows else [index] if index is not None else [], dtype, all_rows)
            if not ops:
                self.notify("nothing to cast", timeout=2)
                return
            candidate = self.session.plan.add(*ops)
            problem = self.session.check_plan(candidate)
            if problem:
                self.notify(shown(problem, 500), severity="error", timeout=4, markup=False)
                return
            self.session.set_plan(candidate)
            what = f"{len(rows):,} rows" if all_rows else shown(entries[index].name, 60) if index is not None else ""
            self._edited(f"cast {what} to {dtype}" if dtype else f"cast undone: {what}")

        current = fates(index).cast if index is not None else ""
        dialog = CastDialog(
            entries[index] if index is not None else None, [entries[i] for i in rows], current, index is None
        )
        self.app.push_screen(dialog, done)

    def _cast_ops(self, rows: list[int], dtype: str, all_rows: bool) -> list[Op]:
        """The ops of a cast: one glob op when the filter is a glob (the
        engine then casts what it can), else one op per row that can be cast
        (exact names that cannot are errors to the engine). ``dtype`` empty:
        undo the rows' casts (a cast to a row's own dtype)."""
        entries = self.session.archive.entries
        if not dtype:
            return [
                Op(CAST, entries[i].name, value=entries[i].dtype_name or "")
                for i in rows
                if self.session.fate(i).cast and entries[i].dtype is not None
            ]
        glob = self.view.plan_glob() if all_rows else None
        if glob is not None:
            return [Op(CAST, glob, value=dtype)]
        dst = cast_dtype(dtype)
        ok = [i for i in rows if dst is not None and cast_check(entries[i], dst) is None]
        return [Op(CAST, entries[i].name, value=dtype) for i in ok]

    def action_rename(self) -> None:
        from .dialogs import RenameDialog

        index = self.table.entry_at_cursor()
        rows = self._in_view()
        if index is None and not rows:
            return

        def done(ops) -> None:
            if ops:
                self.session.add(*ops)
                self._edited(f"renamed {len(ops):,}")

        substitute = self.view.filtered and len(rows) > 1
        self.app.push_screen(RenameDialog(self.session, index, rows, substitute), done)

    def action_save_plan(self) -> None:
        from .dialogs import PathDialog

        default = _beside(self.session.archive, ".plan.json")

        def done(path) -> None:
            if not path:
                return
            try:
                self.session.plan.save(path)
            except OSError as e:
                self.notify(f"{shown(path, 200)}: {e.strerror}", severity="error", markup=False)
                return
            self.session.saved = self.session.plan
            self._update_plan_bar()
            self.notify(f"plan saved to {shown(path, 200)}", markup=False)

        self.app.push_screen(PathDialog("Save the plan as JSON", default), done)

    def action_write(self) -> None:
        from ..writing import check_output, default_alignment, plan_lines
        from .dialogs import WriteDialog

        session = self.session
        problem = session.check_plan(session.plan)
        if problem:  # shown, nothing written
            self.notify(shown(problem, 500), severity="error", markup=False)
            return
        plan, archive, fates = session.plan, session.archive, session.fates
        defaults = {fmt: default_alignment(session, fmt) for fmt in registry.NAMES}
        default = _beside(session.archive, ".stripped.irpa")

        def check(fmt, alignment, split):  # in the dialog's worker: the session is not touched
            return check_output(plan, archive, fates, fmt, alignment, defaults[fmt], split)

        def done(result) -> None:
            if result:
                path, output, alignment, split = result
                self.irpa.start_write(output, path, alignment, split=split)

        self.app.push_screen(WriteDialog(default, check, defaults.get, plan_lines(session)), done)

    def action_verify(self) -> None:
        from .dialogs import PathDialog

        session = self.session
        problem = session.check_plan(session.plan)
        if problem:  # shown, nothing to verify against
            self.notify(shown(problem, 500), severity="error", markup=False)
            return
        plan, archive, fates = session.plan, session.archive, session.fates
        default = self.irpa.last_written or _beside(self.session.archive, ".stripped.irpa")

        def expected(fmt):  # in the verify worker, once the file says its format
            return build(plan, archive, fmt, fates)

        def done(path) -> None:
            if path:
                self.irpa.verify_written(expected, path, archive.entries)

        self.app.push_screen(PathDialog("Verify this archive against the sources and the plan", default), done)


def _beside(archive, suffix: str) -> str:
    """A default output path: beside the first input file, or in the current
    directory for a remote one (named after the remote file)."""
    first = archive.files[0].path
    if is_remote(first):
        from urllib.parse import unquote, urlsplit

        d = os.getcwd()
        base = os.path.basename(unquote(urlsplit(first).path.rstrip("/"))) or "remote"
    else:
        d, base = os.path.split(first)
    stem = base.split("-00001-of-")[0].rsplit(".", 1)[0] if "." in base else base
    return os.path.join(d, stem + suffix)
