"""The main screen: header, parameter table, detail pane, filter, plan bar.

Layout follows the terminal: the detail pane sits beside the table when
there are 100 columns or more, below it on a tall narrow terminal, and is
hidden on a small one (``p`` shows or hides it). The header and the plan bar
keep what matters first and cut the rest. The keys are in ``keys.py``, the
edits of the plan in ``browse_edits.py``, the scan in ``scanning.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.events import Resize
from textual.widgets import Footer, Input, Static

from irpa_core import stats as S
from irpa_core.display import human, shown
from irpa_core.dtypes import DType
from irpa_core.salvage import truncation
from irpa_core.scan import Flag

from ..browse_text import Marks, Totals, dtype_parts, group_summary, header_text, plan_bar_text, totals
from ..editing import EditSession
from ..fetching import POLL, Fetched, FetchMeter, asks, remote_bytes
from ..filtering import status as filter_status
from ..jobs import JobRunner
from ..keys import KEYS, bindings
from ..messages import ScanProgress
from ..scanning import Scan, kinds
from ..view import SCAN_SORTS, SORTS, FilterError, TableView, TreeRow
from ..widgets.detail import DetailPane
from ..widgets.param_table import ParamTable
from .browse_edits import PlanEdits

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .tokenizer import VocabCache

SIDE_MIN_WIDTH = 100  # the detail pane goes beside the table from this width
BELOW_MIN_HEIGHT = 30  # else below it from this height, else hidden


class BrowseScreen(PlanEdits):
    BINDINGS = bindings()

    def __init__(
        self,
        session: EditSession,
        title: str,
        jobs: JobRunner | None = None,
        last_written: Callable[[], str | None] = lambda: None,
    ):
        """``jobs``: the app's runner, where statistics, the scan and
        heatmaps run (None: one of its own); ``last_written``: the file
        written last (the default of verify)."""
        super().__init__()
        self.session = session
        self.jobs = jobs if jobs is not None else JobRunner()
        self.last_written = last_written
        self.view = TableView(session.archive, lambda: session.fates if session.plan.ops else None, session.casts)
        self.title_text = title
        self.view_as: dict[int, DType] = {}  # entry index -> DType chosen with `a`
        self._detail_name: tuple[int, str] | None = None  # (entry, name) the detail pane shows
        self.pane: bool | None = None  # None: as the terminal allows; True/False: chosen with p
        self.marks = Marks(session)
        self._dtypes = dtype_parts(session.archive)
        self._scan: Scan | None = None  # the scan running
        self._scan_state = ""  # text for the plan bar while scanning / after
        self._anomalies: dict[int, tuple[Flag, ...]] = {}  # the scan's flags, with the engine's sentences
        self._view_totals: tuple[list[int], Totals] | None = None  # the filtered rows' totals, summed once per filter
        self.fetch = FetchMeter(session.archive.sources, self.jobs)  # what reading the remote files cost so far
        self._fetched: Fetched | None = None  # as the header shows it (remote archives)
        self.vocab_cache: VocabCache | None = None  # the tokenizer, once the tokenizer screen loaded it

    # -- layout -------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        cut_off = truncation(self.session.archive)
        if cut_off is not None:  # only then: the screen of a whole file stays as it was
            yield Static(Text(cut_off.line(), no_wrap=True, overflow="ellipsis"), id="salvage-banner")
        with Horizontal(id="main"):
            yield ParamTable(self.view, mark=self.marks, mark_width=self.marks.width, id="table")
            yield DetailPane(self.jobs, id="detail")
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
        if self._scan is not None:
            self._scan.cancel.set()  # quitting stops the scan (Python waits for worker threads at exit)

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

    def refresh_all(self, keep_entry: bool = True) -> None:
        self.table.refresh_rows(keep_entry)
        self._update_header()
        self._update_plan_bar()

    def _update_header(self) -> None:
        width = self.size.width or self.app.size.width
        a, rows = self.session.archive, self.view.rows
        in_view = None
        if self.view.filtered:
            if self._view_totals is None or self._view_totals[0] is not rows:
                self._view_totals = (rows, totals(a, rows))
            in_view = self._view_totals[1]
        text = header_text(self.title_text, a, self.view, self._dtypes, self._fetched, width, in_view)
        self.query_one("#header", Static).update(text)

    def _update_plan_bar(self) -> None:
        self.query_one("#plan-bar", Static).update(plan_bar_text(self.session, self._scan_state))

    # -- highlighted row -> detail ------------------------------------------

    def on_param_table_highlighted(self, msg: ParamTable.Highlighted) -> None:
        self._show_detail(msg.index, msg.group)

    def _show_detail(self, index: int | None, group: TreeRow | None = None) -> None:
        detail = self.query_one(DetailPane)
        self._detail_name = None if index is None else (index, self.session.fate(index).name)
        if index is None and group is not None:
            detail.show_summary(group_summary(group, self.view))
        elif index is None:
            detail.show(None)
        else:
            e, name = self.session.archive.entries[index], self.session.fate(index).name
            detail.show(e, name, self.view_as.get(index), self._anomalies.get(index, ()))

    def on_param_table_sort_clicked(self, msg: ParamTable.SortClicked) -> None:
        self.action_sort(msg.sort)

    # -- filter -------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one("#filter-bar").display = True
        box = self.query_one("#filter", Input)
        box.value = self.view.query
        box.focus()
        self._filter_msg()

    def _filter_msg(self, error: FilterError | None = None) -> None:
        count = (len(self.view.rows), len(self.session.archive)) if self.view.filtered else None
        self.query_one("#filter-msg", Static).update(filter_status(error, count, "? lists the terms"))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "filter":
            return
        try:
            self.view.set_filter(event.value)
        except FilterError as e:
            # Explained in the bar, the view keeps the last good filter.
            event.input.add_class("-invalid")
            self._filter_msg(e)
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
        elif self._scan is not None and self._scan.running:
            self._scan.cancel.set()

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

    def action_tokenizer(self) -> None:
        from .tokenizer import TokenizerScreen, VocabCache

        if self.vocab_cache is None:
            self.vocab_cache = VocabCache()
        self.app.push_screen(TokenizerScreen(self.session, self.vocab_cache, self._edited, self.action_save_plan))

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
        self.app.push_screen(HeatmapScreen(e, view, self.session.fate(index).name, self.jobs))

    def action_compare(self) -> None:
        """``D``: pick a second file (B) and compare the open archive (A) with it."""
        from .compare import CompareScreen
        from .dialogs.compare import CompareChoice, CompareDialog

        a = self.session.archive

        def done(choice: CompareChoice | None) -> None:
            if choice is None:
                return
            b = choice.archive
            title = f"Compare A {shown(self.title_text, 100)} -> B {shown(choice.spec, 100)}"
            fetch = FetchMeter([*a.sources, *b.sources], self.jobs)
            # B's files close when the screen and its workers let it go; its
            # remote reads in flight stop when the screen goes.
            self.app.push_screen(CompareScreen(a, b, title, fetch=fetch, on_close=choice.cancel.set))

        first = a.files[0].path if a.files else ""
        start = "" if "://" in first or not first else os.path.join(os.path.dirname(first), "")
        self.app.push_screen(CompareDialog(start), done)

    def action_view_as(self) -> None:
        from .dialogs import DtypeDialog, ViewAs

        index = self.table.entry_at_cursor()
        if index is None:
            return
        current = self.view_as.get(index)

        def done(result: ViewAs | None) -> None:
            if result is None:
                return
            if result.dtype is None:
                self.view_as.pop(index, None)
            else:
                self.view_as[index] = result.dtype
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

        if self._scan is not None and self._scan.running:
            self.notify("a scan is running (escape cancels it)", timeout=2)
            return
        remote = remote_bytes(self.session.archive.entries)
        if not asks(remote):
            self._start_scan()
            return
        body = Text(
            f"The scan reads every tensor: it fetches {human(remote)} from the server "
            "(escape cancels it on the way; the figures found so far stay)."
        )

        def answer(yes: bool | None) -> None:
            if yes:
                self._start_scan()

        self.app.push_screen(ConfirmDialog(f"Fetch {human(remote)} to scan?", "Scan", body=body), answer)

    def _start_scan(self) -> None:
        scan = self._scan = Scan(self.session.archive.entries, self.jobs, self.post_message)
        self._scan_state = "scan starting…"
        self._update_plan_bar()
        # One pass over the file, not two: the pane waits for the scan's results.
        pane = self.query_one(DetailPane)
        pane.defer_exact = True
        pane.cancel_stats()
        self.run_worker(scan.work, thread=True, exclusive=True, group="scan")

    def on_scan_progress(self, msg: ScanProgress) -> None:
        scan = self._scan
        if scan is None:
            return
        state = scan.take(msg)
        pane = self.query_one(DetailPane)
        if msg.full:
            pane.cached_arrived()
        if not msg.final:
            self._scan_state = state
            self.view.set_scan(dict(scan.rows), self.view.flags)
            self.table.refresh_rows()
            self._update_plan_bar()
            return
        pane.defer_exact = False
        rows, self._anomalies, self._scan_state = scan.finish(msg)
        self.view.set_scan(rows, kinds(self._anomalies))
        self.table.refresh_rows()
        index = self.table.entry_at_cursor()
        if index is None or pane.last_stats is None or not pane.last_stats.exact:
            # Cancelled, or too many to keep: compute it; a group: its flagged count.
            self._show_detail(index, self.table.group_at_cursor())
        else:
            pane.set_flags(self._anomalies.get(index, ()))
        self._place_pane()
        self._scan = None
        self._update_plan_bar()
        self._update_header()

    # -- edits --------------------------------------------------------------

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
