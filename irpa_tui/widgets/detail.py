"""Detail pane for one parameter: fields, metadata, statistics, values.

Statistics arrive in two steps from a thread worker: a sampled estimate at
once, then the exact streaming pass with a progress bar. An exact result
seen before comes from the app's cache at once (``stats_cache.CACHE``).
Moving to another row cancels the running job (its cancel event is set and
the worker is exclusive), and a short debounce means scrolling fast through
rows does not start work for rows the user only passed over. The worker
reports progress with non-blocking messages at most ``job_progress.RATE``
times a second (``at_rate``), so the interface never waits for it.

A remote tensor (``fetching``) costs its bytes over the network: the
estimate reads a few places only (``REMOTE_SPOTS``), a tensor that small
reads are about as dear as is read whole for the exact figures at once,
and the exact pass of one over ``fetching.ASK_ABOVE`` waits for ``F`` (the pane
says how much it would fetch). The exact pass of a remote tensor runs in
a child process (``jobs``) like a local one (its source crosses as its
address) and its progress bar is the fetch's.

Every string from the file is shown as ``rich.text.Text`` (never markup),
escaped (``display.escape``) and clipped. The figures are drawn by
``stats_text``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import ProgressBar, Static

from irpa_core import stats as S
from irpa_core.display import human, shape_str, shown
from irpa_core.errors import Cancelled, IrpaError
from irpa_core.formats import pytorch_meta
from irpa_core.model import Entry, incomplete_reason
from irpa_core.scan import Flag

from ..fetching import dear, entry_is_remote, sources_of
from ..jobs import JobRunner
from ..stats_cache import CACHE, estimate
from .job_progress import at_rate
from .stats_text import (
    bins_table,
    exactness,
    histogram_axis,
    histogram_text,
    per_column,
    percentiles_table,
    stats_table,
    values_grid,
)

DEBOUNCE = 0.12
VALUES_ROWS, VALUES_COLS = 6, 8


class DetailPane(VerticalScroll):
    DEFAULT_CSS = """
    DetailPane { width: 1fr; border-left: solid $panel-lighten-2; padding: 0 1; }
    DetailPane .section { text-style: bold; color: $secondary; margin-top: 1; }
    DetailPane ProgressBar { display: none; }
    DetailPane ProgressBar.running { display: block; }
    DetailPane #bins { display: none; }
    DetailPane #bins.shown { display: block; }
    DetailPane.-empty .section { display: none; }
    DetailPane #flags { margin-top: 1; }
    DetailPane #flags.-none { display: none; }
    """

    @dataclass
    class StatsProgress(Message):
        entry: Entry
        done: int
        total: int

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, DetailPane.StatsProgress) and message.entry is self.entry

    class StatsResult(Message):
        def __init__(self, entry: Entry, result: object, cached: bool = False) -> None:
            self.entry, self.result, self.cached = entry, result, cached
            super().__init__()

    class ValuesResult(Message):
        def __init__(self, entry: Entry, values: np.ndarray, shape: tuple[int, int]) -> None:
            self.entry, self.values, self.shape = entry, values, shape
            super().__init__()

    class StatsCancelled(Message):
        def __init__(self, entry: Entry, note: str = "exact pass cancelled") -> None:
            self.entry, self.note = entry, note
            super().__init__()

    def __init__(self, jobs: JobRunner | None = None, **kw):
        """``jobs``: the app's runner, where exact passes run (None: one of its own)."""
        super().__init__(**kw)
        self.jobs = jobs if jobs is not None else JobRunner()
        self.entry: Entry | None = None
        self._cancel = threading.Event()
        self._timer: Timer | None = None
        self.as_dtype = None
        self.last_stats: S.Stats | None = None
        self._cached = False
        self._note: str | None = None  # why the exact pass stopped, kept across redraws
        self._values: DetailPane.ValuesResult | None = None
        self.show_bins = False
        self.defer_exact = False  # a scan is running: it brings the exact result
        self._fetch_ok: set[int] = set()  # id() of remote entries whose exact pass may fetch past fetching.ASK_ABOVE

    def compose(self) -> ComposeResult:
        yield Static(id="info")
        yield Static(id="flags", classes="-none")
        yield Static("Statistics", classes="section")
        yield Static(id="stats")
        yield ProgressBar(id="stats-progress", show_eta=False)
        yield Static(id="hist")
        yield Static(id="bins")
        yield Static("Values", classes="section")
        yield Static(id="values")

    # -- showing an entry ---------------------------------------------------

    def show(
        self, entry: Entry | None, shown_name: str | None = None, as_dtype=None, flags: Sequence[Flag] = ()
    ) -> None:
        """``as_dtype``: view the bytes as this dtype (entries without one);
        ``flags``: what the scan found wrong with it."""
        self._clear(entry)
        self.as_dtype = as_dtype
        self.query_one("#info", Static).update(self._info(entry, shown_name, as_dtype))
        self.set_flags(flags)
        if entry is None:
            return
        self.query_one("#stats", Static).update(Text("…", style="dim"))
        hit = CACHE.get(entry, as_dtype) if S.can_decode(entry, as_dtype) else None
        if hit is not None:
            self._show_stats(hit, cached=True)
        self._timer = self.set_timer(DEBOUNCE, lambda: self._fire(entry, hit is not None))

    def show_summary(self, summary: RenderableType) -> None:
        """Something other than a parameter (a group of the tree): its
        ``summary`` instead of statistics and values."""
        self._clear(None)
        self.query_one("#info", Static).update(summary)
        self.set_flags(())

    def set_flags(self, flags: Sequence[Flag]) -> None:
        """The scan's flags of the shown parameter, each with the engine's
        sentence saying why (``scan.anomalies``)."""
        box = self.query_one("#flags", Static)
        box.set_class(not flags, "-none")
        if not flags:
            box.update("")
            return
        t = Table.grid(padding=(0, 1))
        t.add_column(style="bold yellow", no_wrap=True)
        t.add_column(overflow="fold")
        for f in flags:
            t.add_row(f.kind, Text(shown(f.text, 500)))  # names a group of the file's names
        box.update(Group(Text("Flagged by the scan", style="bold yellow"), t))

    def _clear(self, entry: Entry | None) -> None:
        """Stop what the last entry started; empty every section."""
        self._cancel.set()
        self.as_dtype = None
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.entry = entry
        self.last_stats = None
        self._note = None
        self._values = None
        self.set_class(entry is None, "-empty")
        for part in ("#stats", "#hist", "#bins", "#values"):
            self.query_one(part, Static).update("")
        self.query_one("#stats-progress", ProgressBar).remove_class("running")

    def _fire(self, entry: Entry, have_stats: bool) -> None:
        self._timer = None
        self._start(entry, have_stats)

    @property
    def debouncing(self) -> bool:
        """A statistics pass is waiting for the cursor to rest (its worker not
        started yet): what a test waits out before it looks."""
        return self._timer is not None

    def _start(self, entry: Entry, have_stats: bool) -> None:
        if entry is not self.entry:
            return
        self._cancel = threading.Event()
        cancel = self._cancel
        view = self.as_dtype
        self.run_worker(lambda: self._job(entry, cancel, view, have_stats), thread=True, exclusive=True, group="stats")

    def cached_arrived(self) -> None:
        """The exact result of the shown entry is in the cache now (the
        scan computed it): show it."""
        if self.entry is not None and (self.last_stats is None or not self.last_stats.exact):
            hit = CACHE.get(self.entry, self.as_dtype) if S.can_decode(self.entry, self.as_dtype) else None
            if hit is not None:
                self._show_stats(hit, cached=True)

    def fetch_exact(self) -> bool:
        """Run the exact pass of the shown remote tensor however big (``F``).
        False when there is none waiting for it."""
        e = self.entry
        if e is None or not entry_is_remote(e) or (self.last_stats is not None and self.last_stats.exact):
            return False
        if not S.can_decode(e, self.as_dtype):
            return False
        self._fetch_ok.add(id(e))
        self._start(e, False)
        return True

    def _waits_for_fetch(self, entry: Entry) -> bool:
        return dear(entry) and id(entry) not in self._fetch_ok

    def on_unmount(self) -> None:
        # Quitting stops the job: Python waits for worker threads at exit.
        self._cancel.set()

    def cancel_stats(self) -> bool:
        """Stop the exact pass (escape). Returns whether one was running."""
        running = self.running
        self._cancel.set()
        return running

    @property
    def running(self) -> bool:
        return self.query_one("#stats-progress", ProgressBar).has_class("running")

    def toggle_bins(self) -> None:
        self.show_bins = not self.show_bins
        self.query_one("#bins", Static).set_class(self.show_bins, "shown")
        if self.last_stats is not None:
            self._draw_hist(self.last_stats)

    # -- the worker (a thread: it only posts messages) -----------------------

    def _job(self, entry: Entry, cancel: threading.Event, view, have_stats: bool) -> None:
        incomplete = incomplete_reason(entry)
        if incomplete is not None:  # a cut-off file: say how much is there, read nothing
            self.post_message(self.StatsResult(entry, Text(shown(incomplete), style="yellow")))
            return
        if not S.can_decode(entry, view):
            d = view or entry.dtype
            why = (
                "no dtype recorded: press a to view the bytes as a dtype"
                if d is None
                else f"{d.name} cannot be decoded"
            )
            self.post_message(self.StatsResult(entry, Text(why, style="dim")))
            return
        try:
            d = S.value_dtype(entry, view)
            assert d is not None
            values = S.preview(entry, VALUES_ROWS, VALUES_COLS, as_dtype=view)
            self.post_message(self.ValuesResult(entry, values, S.matrix_shape(entry, d)))
            if have_stats:
                return
            est = estimate(entry, view, cancel)
            self.post_message(self.StatsResult(entry, est))
            if est.exact or cancel.is_set():
                return
            if self.defer_exact:
                self.post_message(self.StatsCancelled(entry, "exact figures come with the scan"))
                return
            if self._waits_for_fetch(entry):
                return
            progress = at_rate(lambda done, total: self.post_message(self.StatsProgress(entry, done, total)))
            self.post_message(self.StatsProgress(entry, 0, 1))
            # In a child process: the interface keeps the whole GIL.
            exact = self.jobs.run(
                S.compute_stats, entry, as_dtype=view, progress=progress, cancel=cancel, sources=sources_of([entry])
            )
            CACHE.remember(entry, exact, view)
            self.post_message(self.StatsResult(entry, exact))
        except Cancelled:
            self.post_message(self.StatsCancelled(entry))
        except (IrpaError, OSError, ValueError, RuntimeError) as e:
            self.post_message(self.StatsResult(entry, Text(f"error: {shown(str(e))}", style="red")))

    def on_detail_pane_stats_progress(self, msg: StatsProgress) -> None:
        if msg.entry is not self.entry or self.last_stats is None or self.last_stats.exact:
            return
        bar = self.query_one("#stats-progress", ProgressBar)
        bar.add_class("running")
        bar.update(total=msg.total, progress=msg.done)

    def on_detail_pane_stats_cancelled(self, msg: StatsCancelled) -> None:
        if msg.entry is not self.entry:
            return
        self.query_one("#stats-progress", ProgressBar).remove_class("running")
        self._note = msg.note
        if self.last_stats is not None:
            self.query_one("#stats", Static).update(self._stats_renderable(self.last_stats, note=msg.note))

    def on_detail_pane_stats_result(self, msg: StatsResult) -> None:
        if msg.entry is not self.entry:
            return
        if isinstance(msg.result, Text):
            self.query_one("#stats-progress", ProgressBar).remove_class("running")
            self.query_one("#stats", Static).update(msg.result)
            return
        assert isinstance(msg.result, S.Stats)
        self._show_stats(msg.result, msg.cached)

    def on_resize(self) -> None:
        # Everything below is laid out for a width: draw it again.
        if self.last_stats is not None:
            stats = self._stats_renderable(self.last_stats, note=self._note, cached=self._cached)
            self.query_one("#stats", Static).update(stats)
            self._draw_hist(self.last_stats)
        if self._values is not None:
            self._draw_values(self._values)

    def on_detail_pane_values_result(self, msg: ValuesResult) -> None:
        if msg.entry is not self.entry:
            return
        self._values = msg
        self._draw_values(msg)

    def _draw_values(self, msg: ValuesResult) -> None:
        rows, cols = msg.shape
        grid = values_grid(msg.values, width=self.size.width - 3)
        shown_cols = len(grid.columns) - 1
        note = Text(f"first {msg.values.shape[0]} of {rows:,} rows, {shown_cols} of {cols:,} columns", "dim")
        self.query_one("#values", Static).update(Group(grid, note))

    def _show_stats(self, st: S.Stats, cached: bool = False) -> None:
        self.last_stats = st
        self._cached = cached
        self._note = None
        if st.exact:
            self.query_one("#stats-progress", ProgressBar).remove_class("running")
        self.query_one("#stats", Static).update(self._stats_renderable(st, cached=cached))
        self._draw_hist(st)

    def _draw_hist(self, st: S.Stats) -> None:
        width = max(16, self.size.width - 4)
        n = len(st.hist_counts)
        per = per_column(n, width)
        bars = -(-n // per)  # the columns drawn: the axis spans them
        hist: RenderableType = Group(histogram_text(st.hist_counts, width=width), histogram_axis(st, bars))
        if st.hist_counts:
            hint = "b: hide bin counts" if self.show_bins else "b: bin counts"
            kind = " of whole integers" if st.integer else ""
            merged = f", {per} a column (mean)" if per > 1 else ""
            hist = Group(hist, Text(f"{n} bin{'s' if n != 1 else ''}{kind}{merged}; {hint}", "dim"))
        self.query_one("#hist", Static).update(hist)
        self.query_one("#bins", Static).update(bins_table(st) if self.show_bins and st.hist_counts else "")

    def _stats_renderable(self, st: S.Stats, note: str | None = None, cached: bool = False) -> RenderableType:
        e = self.entry
        if note is None and not st.exact and e is not None and entry_is_remote(e):
            if self._waits_for_fetch(e):
                note = f"the exact pass would fetch {human(e.length)}: F fetches it"
            else:
                note = f"exact pass fetching {human(e.length)}; escape cancels"
        head = exactness(st, cached, note)
        width = self.size.width - 2
        return Group(head, stats_table(st, width), percentiles_table(st, width))

    # -- fields ---------------------------------------------------------------

    def _info(self, e: Entry | None, shown_name: str | None, as_dtype=None) -> RenderableType:
        if e is None:
            return Text("No parameter selected", style="dim")
        t = Table.grid(padding=(0, 2))
        t.add_column(style="bold", no_wrap=True)
        t.add_column(overflow="fold")
        t.add_row("name", Text(shown(e.name, 200)))
        if shown_name and shown_name != e.name:
            t.add_row("written as", Text(shown(shown_name, 200), style="yellow"))
        t.add_row("dtype", Text(e.dtype_name or "unknown"))
        if as_dtype is not None:
            t.add_row("viewed as", Text(as_dtype.name, style="yellow"))
        t.add_row("shape", shape_str(e.shape))
        t.add_row("elements", f"{e.element_count:,}" if e.element_count is not None else "?")
        t.add_row("bytes", f"{e.length:,} ({human(e.length)})")
        t.add_row("kind", e.kind)
        t.add_row("file", Text(shown(_short(e.file), 200)))
        t.add_row("offset", "-" if e.offset is None else f"{e.offset:,}")
        t.add_row("alignment", str(e.alignment or "-"))
        if e.pattern is not None:
            t.add_row("pattern", e.pattern.hex())
        if e.metadata:
            raw = e.metadata[:100].decode("utf-8", "replace") + ("…" if len(e.metadata) > 100 else "")
            t.add_row("metadata", Text(shown(raw)))
            decoded = pytorch_meta.decode(e.metadata)
            if decoded:
                t.add_row("decoded", f"{decoded[0].name} {shape_str(decoded[1])}")
        return t


def _short(path: str) -> str:
    import os

    return os.path.basename(path)
