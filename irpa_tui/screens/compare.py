"""The compare screen: two archives paired by name across schemes, with
the engine's quantization-aware verdicts (``irpa diff --map=auto``).

The comparison (``verdict.mapped_diff``) runs in a thread worker whose
progress comes through the coalesced plumbing of ``widgets/job_progress``;
leaving the screen (``escape``) cancels it. Then one row per pair (and per
unpaired tensor, with why): verdict, dtypes, max |A-B|, rel rmse, cosine,
SNR and the names (A -> B when they differ). The rows sort by a key or by
clicking a column title, and filter with the table's filter language plus
``verdict:`` (``compare_view``). ``l`` shows the per-layer chart instead of
the table (``layer_chart``: block x role cells on a log colour scale, a bar
per block). The pane shows the highlighted pair: both sides' statistics
side by side (computed in a worker, sampled first), the metrics and the
error envelope, the transform and notes, the worst elements and a heatmap
of |A-B| (``pair_diff``, computed in a worker); ``h`` shows that heatmap
full screen.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.events import Click
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Footer, Input, Static

from irpa_core.display import escape, shown
from irpa_core.errors import Cancelled, IrpaError
from irpa_core.layer_chart import LayerChart, layer_chart, short_role
from irpa_core.model import Archive, Entry
from irpa_core.name_map import NamePair, pair_names
from irpa_core.pair_diff import PairDifference, difference
from irpa_core.verdict import VERDICTS, MappedReport, mapped_diff, pair_bytes
from irpa_core.write import Progress

from ..compare_view import SORT_LABELS, SORTS, VERDICT_LABEL, VERDICT_STYLE, CompareRow, CompareView, rows_of
from ..fetching import FetchMeter, dear
from ..filtering import ONLY_A, ONLY_B, FilterError
from ..filtering import status as filter_status
from ..keys import HELP_BINDING, show_help
from ..messages import JobDone, SideStats
from ..side_stats import Both, both_sides, decodable, sides_table, spaced
from ..widgets.heatmap import HeatmapView, rich_color
from ..widgets.job_progress import RATE, Coalescer
from ..widgets.lines import LineList
from ..widgets.param_table import fit_name
from .comparison import ComparisonScreen

PANE_MIN_WIDTH = 100  # the pane shows beside the table from this width (p shows or hides it)
PANE_DELAY = 0.12  # seconds the cursor rests on a row before its pane is computed
PANE_HEAT = (16, 60)  # the pane's |A-B| grid: pixel rows (two a line) x columns
TOP = 5  # worst elements listed
NAME_MIN = 30  # the name column keeps this much before the optional figures go
# The table's columns: (key, title, width). The verdict and the names always;
# the figures while the names keep NAME_MIN columns, in this order of priority.
VERDICT_COLUMN = ("verdict", "verdict", 18)
NAME_COLUMN = ("name", "name (A -> B)", 0)
FIGURES = (
    ("max_abs", "max|A-B|", 10),
    ("rel_rmse", "rel rmse", 10),
    ("cosine", "cosine", 10),
    ("snr_db", "SNR dB", 8),
    ("dtypes", "dtypes", 14),
)


def columns(width: int) -> list[tuple[str, str, int]]:
    """The columns that fit ``width``, the names' width filled in."""
    figures: list[tuple[str, str, int]] = []
    used = VERDICT_COLUMN[2]
    for col in FIGURES:
        if width - used - col[2] >= NAME_MIN:
            figures.append(col)
            used += col[2]
    return [VERDICT_COLUMN, (NAME_COLUMN[0], NAME_COLUMN[1], max(12, width - used)), *figures]


def _num(v: float | None, spec: str) -> str:
    if v is None:
        return "-"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return format(v, spec)


def row_cells(r: CompareRow) -> dict[str, str]:
    """The figures of a row, as the table shows them, by column."""
    p = r.pair
    if p is None:
        return {"verdict": r.label}
    dtypes = f"{p.dtype_a or '?'}→{p.dtype_b or '?'}" if p.dtype_a != p.dtype_b else p.dtype_a or "?"
    return {
        "verdict": r.label,
        "dtypes": dtypes,
        "max_abs": _num(r.metric("max_abs"), ".3g"),
        "rel_rmse": _num(r.metric("rel_rmse"), ".2e"),
        "cosine": _num(r.metric("cosine"), ".6f"),
        "snr_db": _num(r.metric("snr_db"), ".1f"),
    }


def row_name(r: CompareRow, room: int | None = None) -> str:
    """``A -> B`` when the names differ, else the one name (escaped); in
    ``room`` columns, each side shortened as the browse table does (B's,
    the converted model's, keeps more)."""
    a = escape(r.a) if r.a is not None else None
    b = escape(r.b) if r.b is not None else None
    if a is None or b is None or a == b:
        one = b if b is not None else a or ""
        return fit_name(one, room) if room is not None and len(one) > room else one
    both = f"{a} -> {b}"
    if room is None or len(both) <= room:
        return both
    b = fit_name(b, max(8, min(len(b), (room - 4) * 3 // 5)))
    return f"{fit_name(a, max(8, room - 4 - len(b)))} -> {b}"


def summary_text(report: MappedReport) -> Text:
    """Counts per verdict (those present), the unpaired, the architecture
    and the pairing's notes."""
    counts = report.counts()
    t = Text.assemble(("OK" if report.ok else "DIFFERENT", "bold green" if report.ok else "bold red"))
    for v in VERDICTS:
        if counts[v]:
            t.append("  ")
            t.append(f"{v}: {counts[v]:,}", VERDICT_STYLE[v])
    for key, items in ((ONLY_A, report.only_a), (ONLY_B, report.only_b)):
        if items:
            t.append("  ")
            t.append(f"{VERDICT_LABEL[key]}: {len(items):,}", VERDICT_STYLE[key])
    arch = report.architecture
    if arch.name:
        t.append(f"\narchitecture {escape(arch.name)}", "dim")
        if arch.source:
            t.append(f" (from {arch.source})", "dim")
    for n in report.notes:
        t.append("\n" + escape(n), "dim")
    return t


def chart_text(chart: LayerChart, truecolor: bool, bar: int = 20) -> Text:
    """The per-layer chart: a line per block with a coloured cell per role
    (rel rmse, the value in it), the block's total as a bar and a number;
    a legend of the log scale under it."""
    if chart.empty:
        return Text("no per-layer figures: no paired tensor is in a numbered block", "dim")
    titles = [escape(short_role(r)) for r in chart.roles]
    widths = [max(7, len(r)) for r in titles]  # "8.6e-02", or the whole role: columns scroll sideways
    t = Text("block ", "bold", no_wrap=True)
    for r, w in zip(titles, widths):
        t.append(f"{r:>{w}} ", "bold")
    t.append(" total (rel rmse)", "bold")
    for blk, cells, total in zip(chart.blocks, chart.cells, chart.totals):
        t.append(f"\n{blk:>5} ")
        for v, w in zip(cells, widths):
            t.append(f"{_num(v, '.1e') if v else ('0' if v == 0 else '·'):>{w}}", _cell_style(chart, v, truecolor))
            t.append(" ")
        n = chart.bar(total, bar)
        t.append(" ")
        t.append("█" * n, _cell_style(chart, total, truecolor, ink=True))
        t.append(" " * (bar - n) + f" {_num(total, '.2e')}")
    t.append("\n\nscale (log) ")
    steps = 24
    for k in range(steps):
        v = chart.lo * (chart.hi / chart.lo) ** (k / (steps - 1))
        t.append(" ", _cell_style(chart, v, truecolor))
    t.append(f"  {_num(chart.lo, '.1e')} .. {_num(chart.hi, '.1e')}   0: exact   ·: no value")
    if chart.left_out:
        s = "" if chart.left_out == 1 else "s"
        t.append(f"\n{chart.left_out} role{s} equal in every block left out", "dim")
    return t


def _cell_style(chart: LayerChart, v: float | None, truecolor: bool, ink: bool = False) -> Style:
    rgb = chart.color(v)
    if rgb is None:
        return Style(dim=True)
    if ink:
        return Style(color=rich_color(rgb, truecolor))
    dark = rgb[0] * 0.299 + rgb[1] * 0.587 + rgb[2] * 0.114 < 140
    fg = (255, 255, 255) if dark else (0, 0, 0)
    return Style(color=rich_color(fg, truecolor), bgcolor=rich_color(rgb, truecolor))


class CompareTable(LineList):
    """The rows; a click on a column title sorts by it."""

    class SortClicked(Message):
        def __init__(self, sort: str) -> None:
            self.sort = sort
            super().__init__()

    def on_click(self, event: Click) -> None:
        if event.y == 0 and self.header is not None:
            x = 0
            for key, _, w in columns(self.size.width):
                if event.x < x + w:
                    if key != "dtypes":
                        self.post_message(self.SortClicked(key))
                    return
                x += w
            return
        super().on_click(event)


class PaneDifference(Message):
    """The |A-B| heatmap and worst elements of ``row`` (or why not)."""

    def __init__(self, row: CompareRow, diff: PairDifference | None, error: str = "") -> None:
        self.row, self.diff, self.error = row, diff, error
        super().__init__()


class CompareScreen(ComparisonScreen):
    PREFIX = "cmp"
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="clear the filter, else stop the comparison and go back"),
        Binding("q", "back", "Back", show=False),
        Binding("slash", "filter", "Filter", key_display="/", tooltip="filter: words, globs, dtype:, verdict:NAME"),
        Binding("l", "chart", "Per layer", tooltip="the per-layer chart (rel rmse per block and role) or the table"),
        Binding("h", "heatmap", "|A-B| map", tooltip="the highlighted pair's |A-B| heatmap, full screen"),
        Binding("p", "pane", "Pane", show=False, tooltip="show or hide the pair's detail pane"),
        Binding("v", "sort('verdict')", "Sort verdict", show=False, tooltip="sort by verdict, problems first"),
        Binding("n", "sort('name')", "Sort name", show=False, tooltip="sort by name (natural order)"),
        Binding("x", "sort('max_abs')", "Sort max", show=False, tooltip="sort by max |A-B|, largest first"),
        Binding("e", "sort('rel_rmse')", "Sort rel", show=False, tooltip="sort by rel rmse, largest first"),
        Binding("c", "sort('cosine')", "Sort cosine", show=False, tooltip="sort by cosine, lowest first"),
        Binding("s", "sort('snr_db')", "Sort SNR", show=False, tooltip="sort by SNR, lowest first"),
        Binding("f", "sort('report')", "Report order", show=False, tooltip="the report's order"),
        Binding("o", "next_sort", "Next sort", tooltip="cycle the sorts (or click a column title)"),
        HELP_BINDING,
    ]
    DEFAULT_CSS = """
    CompareScreen #cmp-title { padding: 0 1; }
    CompareScreen #cmp-job { padding: 0 1; margin-bottom: 1; }
    CompareScreen #cmp-fetched { padding: 0 1; }
    CompareScreen #cmp-summary { height: auto; max-height: 4; padding: 0 1; }
    CompareScreen #cmp-main { height: 1fr; }
    CompareScreen #cmp-table { width: 3fr; }
    CompareScreen #cmp-chart { width: 3fr; display: none; padding: 0 1; }
    CompareScreen #cmp-main.-chart #cmp-table { display: none; }
    CompareScreen #cmp-main.-chart #cmp-chart { display: block; width: 1fr; }
    CompareScreen #cmp-main.-chart #cmp-side { display: none; }
    CompareScreen #cmp-chart { overflow-x: auto; }
    CompareScreen #cmp-chart-body { width: auto; }
    CompareScreen #cmp-side { width: 2fr; min-width: 48; padding: 0 1; border-left: solid $panel-lighten-2; }
    CompareScreen #cmp-heat { height: 8; margin-top: 1; }
    CompareScreen #cmp-filter-bar { height: 1; display: none; }
    CompareScreen #cmp-filter-bar.-on { display: block; }
    CompareScreen #cmp-filter { width: 1fr; height: 1; border: none; padding: 0 1; }
    CompareScreen #cmp-filter.-invalid { color: $error; }
    CompareScreen #cmp-filter-msg { width: auto; max-width: 60; padding: 0 1; }
    """

    def __init__(
        self,
        a: Archive,
        b: Archive,
        title: str,
        *,
        fetch: FetchMeter | None = None,
        on_close: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        """A is the reference; ``fetch``: the remote sources the comparison
        reads (a line counts what they fetch); ``on_close``: called when the
        screen goes (stopping the remote reads of a B opened for it)."""
        super().__init__(title, fetch, clock)
        self.a, self.b = a, b
        self.on_close = on_close
        self.report: MappedReport | None = None
        self.name_pairs: dict[tuple[str, str], NamePair] = {}
        self.view: CompareView | None = None
        self.chart: LayerChart | None = None
        self._current: CompareRow | None = None
        self._pane_cancel = threading.Event()
        self._pane_timer: Timer | None = None
        self._stats: Both | None = None
        self._diff: PairDifference | None = None
        self._diff_error = ""
        self.pane: bool | None = None  # None: as the width allows; True/False: chosen with p

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with Horizontal(id="cmp-main"):
            yield CompareTable(self._line, header=self._header(), cursor=True, id="cmp-table")
            with VerticalScroll(id="cmp-chart"):
                yield Static(id="cmp-chart-body")
            with VerticalScroll(id="cmp-side"):
                yield Static(id="cmp-detail")
                yield HeatmapView(id="cmp-heat")
                yield Static(id="cmp-detail-more")
        with Horizontal(id="cmp-filter-bar"):
            yield Input(
                placeholder="filter: words, globs, re:, dtype:, size:, verdict:diff (the main screen's / terms)",
                id="cmp-filter",
            )
            yield Static(id="cmp-filter-msg")
        yield Footer()

    def on_mount(self) -> None:
        self.started = self.clock()
        self.query_one("#cmp-summary", Static).update(Text("comparing… (escape stops)", style="dim"))
        self.query_one(HeatmapView).display = False
        self._place_pane()
        self.run_worker(self._run, thread=True, exclusive=True, group="compare")

    def on_unmount(self) -> None:
        self.cancel.set()
        self._pane_cancel.set()
        if self.on_close is not None:
            self.on_close()

    # -- the comparison (worker) --------------------------------------------

    def _run(self) -> None:
        try:
            pairing = pair_names(self.a, self.b, "auto")
            sizes = [0]
            for p in pairing.pairs:
                sizes.append(sizes[-1] + pair_bytes(self.a, self.b, p))
            report_progress = Coalescer(self, RATE, self.clock)

            def progress(i: int, total: int, name: str) -> None:
                report_progress(Progress(name, i, total, sizes[min(i, len(sizes) - 1)], sizes[-1]))

            report = mapped_diff(self.a, self.b, pairing, cancel=self.cancel, progress=progress)
        except Cancelled:
            return
        except IrpaError as e:
            self.post_message(JobDone("failed", str(e)))
            return
        self.post_message(JobDone("done", (report, {(p.a, p.b): p for p in pairing.pairs})))

    def on_job_done(self, msg: JobDone) -> None:
        if self.job_failed(msg):
            return
        assert isinstance(msg.payload, tuple)
        report, name_pairs = msg.payload
        assert isinstance(report, MappedReport)
        self.report, self.name_pairs = report, name_pairs
        self.view = CompareView(rows_of(report), self.a, self.b)
        self.chart = layer_chart(report.by_layer())
        self.query_one("#cmp-summary", Static).update(summary_text(report))
        self.query_one("#cmp-chart-body", Static).update(chart_text(self.chart, self._truecolor))
        self._fill()
        self.query_one(CompareTable).focus()

    @property
    def _truecolor(self) -> bool:
        return self.app.console.color_system == "truecolor"

    # -- the table ------------------------------------------------------------

    def _header(self) -> Text:
        t = Text()
        sort = self.view.sort if self.view is not None else None
        width = self.query_one(CompareTable).size.width if self.is_mounted else 80
        for key, title, w in columns(width):
            t.append(f"{title + (' ▼' if key == sort else ''):<{w}}"[:w])
        return t

    def _line(self, i: int) -> Text:
        assert self.view is not None
        r = self.view[i]
        cells = row_cells(r)
        t = Text()
        for key, _, w in columns(self.query_one(CompareTable).size.width):
            if key == "name":
                name = row_name(r, w - 1)
                if r.pair is None and r.reason:
                    name += f"  ({escape(r.reason)})"
                t.append(f"{name:<{w}}"[:w])
            else:
                t.append(f"{cells.get(key, ''):<{w}}"[:w], VERDICT_STYLE.get(r.verdict, "") if key == "verdict" else "")
        return t

    def _fill(self, keep: CompareRow | None = None) -> None:
        assert self.view is not None
        table = self.query_one(CompareTable)
        table.header = self._header()
        table.set_count(len(self.view), reset=True)
        at = self.view.index_of(keep) if keep is not None else None
        if at is not None:
            table.cursor_row = at
        table.refresh()
        self._msg()
        if len(self.view):
            self._detail(self.view[table.cursor_row])
        else:
            self._current = None
            self.query_one("#cmp-detail", Static).update(Text("no pair matches the filter", "dim"))
            self.query_one(HeatmapView).display = False

    def on_resize(self) -> None:
        self._place_pane()
        if self.view is not None:
            self.call_after_refresh(self._relayout)

    def _relayout(self) -> None:
        table = self.query_one(CompareTable)
        table.header = self._header()
        table.refresh()

    def on_line_list_highlighted(self, event: LineList.Highlighted) -> None:
        if self.view is not None and event.row is not None and event.row < len(self.view):
            self._detail(self.view[event.row])

    def on_compare_table_sort_clicked(self, msg: CompareTable.SortClicked) -> None:
        self.action_sort(msg.sort)

    def action_sort(self, sort: str) -> None:
        if self.view is None:
            return
        keep = self._current
        self.view.set_sort(sort)
        self._fill(keep)
        self.notify(f"sorted by {SORT_LABELS[sort]}", timeout=1.5)

    def action_next_sort(self) -> None:
        if self.view is not None:
            self.action_sort(SORTS[(SORTS.index(self.view.sort) + 1) % len(SORTS)])

    # -- filter -----------------------------------------------------------------

    def action_filter(self) -> None:
        if self.view is None:
            return
        self.query_one("#cmp-filter-bar").add_class("-on")
        box = self.query_one("#cmp-filter", Input)
        box.value = self.view.query
        box.focus()
        self._msg()

    def _msg(self, error: FilterError | None = None) -> None:
        count = (len(self.view), len(self.view.all)) if self.view is not None and self.view.query.strip() else None
        hint = "verdict:NAME by prefix; ? on the main screen lists the rest"
        self.query_one("#cmp-filter-msg", Static).update(filter_status(error, count, hint))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "cmp-filter" or self.view is None:
            return
        try:
            self.view.set_filter(event.value)
        except FilterError as e:
            event.input.add_class("-invalid")
            self._msg(e)
            return
        event.input.remove_class("-invalid")
        self._fill(self._current)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "cmp-filter":
            self.query_one("#cmp-filter-bar").set_class(bool(event.value), "-on")
            self.query_one(CompareTable).focus()

    def action_back(self) -> None:
        box = self.query_one("#cmp-filter", Input)
        if box.has_focus or box.value:
            box.value = ""
            box.remove_class("-invalid")
            if self.view is not None:
                self.view.set_filter("")
                self._fill(self._current)
            self.query_one("#cmp-filter-bar").remove_class("-on")
            self.query_one(CompareTable).focus()
            return
        self.cancel.set()
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit()  # opened with --diff: nothing under it

    def action_help(self) -> None:
        show_help(self, "compare keys")

    # -- chart and pane -----------------------------------------------------------

    def action_chart(self) -> None:
        if self.view is not None:
            main = self.query_one("#cmp-main")
            main.toggle_class("-chart")
            self._place_pane()
            if not main.has_class("-chart"):
                self.query_one(CompareTable).focus()

    def action_pane(self) -> None:
        self.pane = not self.query_one("#cmp-side").display
        self._place_pane()
        if self.view is not None:
            self.call_after_refresh(self._relayout)

    def _place_pane(self) -> None:
        width = self.size.width or self.app.size.width
        shown = self.pane if self.pane is not None else width >= PANE_MIN_WIDTH
        # The chart takes the whole width (a pair's pane belongs to the table).
        self.query_one("#cmp-side").display = shown and not self.query_one("#cmp-main").has_class("-chart")

    def action_heatmap(self) -> None:
        from .compare_heatmap import DifferenceScreen

        r = self._current
        pair = self._name_pair(r)
        if r is None or pair is None or self.report is None:
            self.notify("h draws a pair's difference: this row has no pair", timeout=2)
            return
        if self._diff_error:
            self.notify(shown(self._diff_error), timeout=3, markup=False)
            return
        self.app.push_screen(DifferenceScreen(self.a, self.b, pair, self.report.architecture, row_name(r)))

    def _name_pair(self, r: CompareRow | None) -> NamePair | None:
        if r is None or r.pair is None:
            return None
        return self.name_pairs.get((r.pair.a, r.pair.b))

    def _entries(self, r: CompareRow) -> tuple[Entry | None, Entry | None]:
        ea = self.a.by_name.get(r.a) if r.a is not None else None
        eb = self.b.by_name.get(r.b) if r.b is not None else None
        return ea, eb

    def _detail(self, r: CompareRow) -> None:
        if r is self._current:
            return
        self._current = r
        self._stats, self._diff, self._diff_error = None, None, ""
        self._pane_cancel.set()
        self._pane_cancel = cancel = threading.Event()
        self.query_one(HeatmapView).display = False
        self._render_detail()
        ea, eb = self._entries(r)
        pair = self._name_pair(r)
        compared = pair is not None and r.pair is not None and r.pair.metrics is not None
        if compared and any(dear(e) for e in (ea, eb) if e is not None):
            self._diff_error = "a remote tensor over the fetch limit: h draws its difference"
        if self._pane_timer is not None:
            self._pane_timer.stop()
        # The pane's work starts once the cursor rests: holding a key down
        # over 200 rows starts nothing until it stops.
        self._pane_timer = self.set_timer(PANE_DELAY, lambda: self._pane_jobs(r, ea, eb, pair, cancel))

    def _pane_jobs(self, r: CompareRow, ea, eb, pair: NamePair | None, cancel: threading.Event) -> None:
        self._pane_timer = None
        if cancel.is_set():
            return
        if decodable(ea, eb) or decodable(eb, ea):
            self.run_worker(lambda: self._stats_job(r, ea, eb, cancel), thread=True, group="cmp-stats")
        if pair is not None and r.pair is not None and r.pair.metrics is not None and not self._diff_error:
            self.run_worker(lambda: self._diff_job(r, pair, cancel), thread=True, group="cmp-diff")

    def _stats_job(self, r: CompareRow, ea: Entry | None, eb: Entry | None, cancel: threading.Event) -> None:
        both_sides(ea, eb, cancel, lambda *got: self.post_message(SideStats(r, *got)))

    def _diff_job(self, r: CompareRow, pair: NamePair, cancel: threading.Event) -> None:
        assert self.report is not None
        try:
            d = difference(self.a, self.b, pair, self.report.architecture, *PANE_HEAT, top=TOP, cancel=cancel)
        except Cancelled:
            return
        except IrpaError as e:
            self.post_message(PaneDifference(r, None, str(e)))
            return
        self.post_message(PaneDifference(r, d))

    def on_side_stats(self, msg: SideStats) -> None:
        if msg.row is self._current:
            self._stats = (msg.a, msg.b, msg.exact, msg.final)
            self._render_detail()

    def on_pane_difference(self, msg: PaneDifference) -> None:
        if msg.row is self._current:
            self._diff, self._diff_error = msg.diff, msg.error
            heat = self.query_one(HeatmapView)
            heat.display = msg.diff is not None
            heat.show(msg.diff.heatmap if msg.diff is not None else None)
            self._render_detail()

    def _render_detail(self) -> None:
        r = self._current
        if r is None:
            return
        ea, eb = self._entries(r)
        parts: list = []
        head = Text()
        if r.a is not None:
            head.append("A ", "bold cyan")
            head.append(escape(r.a), "bold")
        if r.b is not None:
            head.append("\nB " if r.a is not None else "B ", "bold cyan")
            head.append(escape(r.b), "bold")
        head.append("\n")
        head.append(r.label, VERDICT_STYLE.get(r.verdict, ""))
        if r.reason:
            head.append(f": {escape(r.reason)}", "dim")
        parts.append(head)
        p = r.pair
        if p is not None and p.metrics is not None:
            m = p.metrics
            lines = Text()
            lines.append(f"max |A-B| {_num(m.max_abs, '.4g')}   rmse {_num(m.rmse, '.4g')}")
            if m.expected_mse is not None:
                lines.append(f" (envelope {math.sqrt(m.expected_mse):.4g})")
            rel = "-" if m.rel_rmse is None else f"{m.rel_rmse:.3%}"
            lines.append(f"\nrel rmse {rel}   cosine {_num(m.cosine, '.6f')}   SNR {_num(m.snr_db, '.1f')} dB")
            lines.append(f"\noutside the envelope's bound: {m.outside:,} of {m.count:,}")
            parts.append(lines)
        if p is not None and p.transform:
            parts.append(Text.assemble(("transform ", "bold"), _transform_text(p.transform)))
        if p is not None and p.notes:
            parts.append(Text("\n".join(escape(n) for n in p.notes), "dim"))
        if self._diff_error:
            parts.append(Text(f"no |A-B| map: {shown(self._diff_error)}", "dim"))  # (it names tensors)
        elif p is not None and p.metrics is not None:
            what = "|A-B|, largest per cell (h: full screen)" if self._diff is not None else "|A-B| map: computing…"
            parts.append(Text(what, "italic dim"))
        self.query_one("#cmp-detail", Static).update(Group(*spaced(parts)))
        more: list = []
        worst = self._diff.worst if self._diff is not None else ((p.worst,) if p is not None and p.worst else ())
        if worst:
            more.append(_worst_table(worst))
        more.append(sides_table(("A", "B"), ea, eb, self._stats))
        self.query_one("#cmp-detail-more", Static).update(Group(*spaced([Text(""), *more])))


def _transform_text(tr: dict) -> Text:
    """A transform's JSON as one line: its sentence, or its kind and figures."""
    if tr.get("text"):
        return Text(escape(str(tr["text"])))
    kind = str(tr.get("kind", "?"))
    rest = ", ".join(
        f"{k} {escape(str(v))}" for k, v in tr.items() if k not in ("kind", "known", "source", "applied", "parts")
    )
    known = " (the converter's, applied)" if tr.get("known") else ""
    return Text(f"{kind}{known}" + (f": {rest}" if rest else ""))


def _worst_table(worst) -> Table:
    t = Table(box=None, padding=(0, 1), show_header=True, header_style="bold")
    for col in ("worst |A-B|", "index A", "index B", "A", "B"):
        t.add_column(col, no_wrap=True)
    for w in worst:
        ia = "[" + ",".join(map(str, w.index_a)) + "]" if w.index_a is not None else f"#{w.flat_a:,}"
        ib = "[" + ",".join(map(str, w.index_b)) + "]" if w.index_b is not None else f"#{w.flat_b:,}"
        t.add_row(_num(abs(w.b - w.a), ".4g"), Text(ia), Text(ib), _num(w.a, ".4g"), _num(w.b, ".4g"))
    return t
