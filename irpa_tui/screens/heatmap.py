"""The heatmap screen (``h``): one tensor as a picture, zoomable.

The grid is computed in a thread worker from streamed rows (quantized types
included), sized to the space on screen; a progress bar shows the pass and
``escape`` cancels it. Arrows move a cursor cell (its value and the matrix
range it covers are shown), ``+``/``enter`` zooms on the area around it,
``-`` goes back out, ``0`` shows the whole tensor, ``m`` switches between
the mean and the largest magnitude per cell.

A remote tensor is fetched by the pass: over ``fetching.ASK_ABOVE`` the
screen asks first, saying how much, and a line counts what was fetched.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rich.console import Group
from rich.segment import Segment
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static

from irpa_core import heatmap as H
from irpa_core.display import human, num, shape_str, shown
from irpa_core.errors import Cancelled, IrpaError
from irpa_core.model import Entry

from ..fetching import FetchMeter, dear, entry_is_remote, sources_of
from ..jobs import JobRunner
from ..keys import HELP_BINDING, show_help
from ..widgets.fetch_line import FetchLine
from ..widgets.heatmap import HeatmapView, cell_text, scale_strip
from ..widgets.job_progress import at_rate


class _Scale:
    """The colour scale line: a gradient, then its ends and zero."""

    def __init__(self, hm: H.Heatmap, truecolor: bool):
        self.hm, self.truecolor = hm, truecolor

    def __rich_console__(self, console, options):
        width = max(10, options.max_width)
        yield from scale_strip(self.hm, width, self.truecolor)
        yield Segment.line()
        lo, hi = self.hm.scale()
        left, right = num(lo, 4), num(hi, 4)
        mid = "0" if self.hm.mode == H.MEAN else ""
        gap = max(1, width - len(left) - len(right))
        line = left + " " * gap + right
        if mid and len(left) + 2 < width // 2 < width - len(right) - 2:
            line = line[: width // 2] + mid + line[width // 2 + 1 :]
        yield Segment(line[:width])
        yield Segment.line()


class HeatmapScreen(Screen):
    # The footer fits 80 columns; ? and the palette list every key (tooltip: the longer help).
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="cancel the pass, else back to the table"),
        Binding("q,h", "app.pop_screen", "Back", show=False),
        Binding("m", "mode", "Mean/absmax", tooltip="switch between the mean and the largest |value| per cell"),
        Binding(
            "plus,enter,equals_sign",
            "zoom_in",
            "Zoom in",
            key_display="+",
            tooltip="zoom on the area around the cursor cell",
        ),
        Binding("minus", "zoom_out", "Zoom out", key_display="-", tooltip="back to the view before the last zoom"),
        Binding("0", "reset", "Whole", tooltip="the whole tensor"),
        HELP_BINDING,
        Binding("up", "move(-1, 0)", show=False),
        Binding("down", "move(1, 0)", show=False),
        Binding("left", "move(0, -1)", show=False),
        Binding("right", "move(0, 1)", show=False),
    ]

    @dataclass
    class Progress(Message):
        job: int
        done: int
        total: int

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, HeatmapScreen.Progress) and message.job == self.job

    @dataclass
    class Done(Message):
        job: int
        result: object

    def __init__(
        self, entry: Entry, as_dtype=None, shown_name: str | None = None, jobs: JobRunner | None = None
    ) -> None:
        """``jobs``: the app's runner, where the pass runs (None: one of its own)."""
        super().__init__()
        self.jobs = jobs if jobs is not None else JobRunner()
        self.entry, self.as_dtype = entry, as_dtype
        self.shown_name = shown_name
        self.mode = H.MEAN
        self.zoom: H.Region | None = None
        self.stack: list[H.Region | None] = []
        self._cancel = threading.Event()
        self._job = 0
        self._grid_size: tuple[int, int] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="heat-title")
        yield HeatmapView(id="heat-view")
        yield ProgressBar(id="heat-progress", show_eta=False)
        yield Static(id="heat-scale")
        yield Static(id="heat-status")
        if entry_is_remote(self.entry):
            yield FetchLine(FetchMeter.of_entries([self.entry], self.jobs), "this heatmap: ", id="heat-fetched")
        yield Footer()

    @property
    def view(self) -> HeatmapView:
        return self.query_one(HeatmapView)

    def on_mount(self) -> None:
        from .dialogs import ConfirmDialog

        self.view.focus()
        self._title()
        e = self.entry
        if not dear(e):
            self.call_after_refresh(self._compute)
            return
        body = Text(f"The heatmap reads all of {shown(e.name, 200)}: it fetches {human(e.length)} from the server.")

        def answer(yes) -> None:
            if yes:
                self.call_after_refresh(self._compute)
            else:
                self.app.pop_screen()

        self.app.push_screen(ConfirmDialog(f"Fetch {human(e.length)} to draw it?", "Fetch", body=body), answer)

    def on_resize(self) -> None:
        v = self.view.size
        if self._grid_size is not None and (v.width, v.height) != self._grid_size:
            self._compute()

    def _title(self) -> None:
        e = self.entry
        t = Text.assemble(("Heatmap ", "bold"), (shown(self.shown_name or e.name, 200), "bold"))
        t.append(f"  {e.dtype_name or '?'} {shape_str(e.shape)}  ", style="dim")
        t.append("mean per cell" if self.mode == H.MEAN else "largest |value| per cell", style="cyan")
        hm = self.view.heatmap if self.is_mounted else None
        if hm is not None:
            r = hm.region
            whole = (r.row0, r.col0) == (0, 0) and (r.row1, r.col1) == hm.shape
            if not whole:
                t.append(
                    f"  zoomed: rows {r.row0:,}..{r.row1 - 1:,}, columns {r.col0:,}..{r.col1 - 1:,}", style="yellow"
                )
        self.query_one("#heat-title", Static).update(t)

    # -- computing ----------------------------------------------------------

    def _compute(self) -> None:
        self._cancel.set()
        self._cancel = threading.Event()
        cancel = self._cancel
        self._job += 1
        job = self._job
        v = self.view.size
        self._grid_size = (v.width, v.height)
        height, width = max(2, 2 * v.height), max(2, v.width)
        entry, mode, region, view, jobs = self.entry, self.mode, self.zoom, self.as_dtype, self.jobs
        bar = self.query_one("#heat-progress", ProgressBar)
        bar.display = True
        bar.update(total=1, progress=0)
        self.query_one("#heat-status", Static).update(Text("computing… (escape cancels)", style="dim"))

        def work() -> None:
            progress = at_rate(lambda done, total: self.post_message(self.Progress(job, done, total)))
            try:
                hm = jobs.run(  # nice=0: the user waits on it as a whole (as on a write or the scan)
                    H.compute, entry, height, width, mode=mode, region=region, as_dtype=view,
                    progress=progress, cancel=cancel, nice=0, sources=sources_of([entry]),
                )  # fmt: skip
                self.post_message(self.Done(job, hm))
            except Cancelled:
                self.post_message(self.Done(job, None))
            except (IrpaError, OSError, ValueError) as e:
                self.post_message(self.Done(job, e))

        self.run_worker(work, thread=True, exclusive=True, group="heatmap")

    def on_heatmap_screen_progress(self, msg: Progress) -> None:
        if msg.job == self._job:
            self.query_one("#heat-progress", ProgressBar).update(total=msg.total, progress=msg.done)

    def on_heatmap_screen_done(self, msg: Done) -> None:
        if msg.job != self._job:
            return
        self.query_one("#heat-progress", ProgressBar).display = False
        status = self.query_one("#heat-status", Static)
        if msg.result is None:
            status.update(Text("cancelled", style="yellow"))
            return
        if isinstance(msg.result, Exception):
            status.update(Text(f"cannot draw: {shown(str(msg.result), 500)}", style="red"))
            return
        assert isinstance(msg.result, H.Heatmap)
        self.view.show(msg.result)
        self.query_one("#heat-scale", Static).update(_Scale(msg.result, self.view.truecolor))
        self._title()
        self._status()

    def _status(self) -> None:
        hm = self.view.heatmap
        if hm is None:
            return
        t = cell_text(hm, self.view.cursor, "mean" if hm.mode == H.MEAN else "max |v|", "no finite value")
        # The keys are in the footer; the grid's size and the arrows where they fit.
        n, m = hm.values.shape
        status = self.query_one("#heat-status", Static)
        for hint in (f"   {n}x{m} cells; arrows move the cell", f"   {n}x{m} cells", ""):
            if t.cell_len + len(hint) <= status.content_size.width:
                break
        t.append(hint, style="dim")
        status.update(Group(t))

    # -- keys ---------------------------------------------------------------

    def on_unmount(self) -> None:
        self._cancel.set()  # leaving (or quitting) stops the pass

    def action_back(self) -> None:
        if self.query_one("#heat-progress", ProgressBar).display and not self._cancel.is_set():
            self._cancel.set()
            return
        self.app.pop_screen()

    def action_help(self) -> None:
        show_help(self, "heatmap keys (arrows move the cursor cell)")

    def action_move(self, di: int, dj: int) -> None:
        self.view.move(di, dj)
        self._status()

    def action_mode(self) -> None:
        self.mode = H.ABSMAX if self.mode == H.MEAN else H.MEAN
        self._title()
        self._compute()

    def action_zoom_in(self) -> None:
        hm = self.view.heatmap
        if hm is None:
            return
        n, m = hm.values.shape
        if hm.region.rows <= 1 and hm.region.cols <= 1:
            return
        i, j = self.view.cursor
        di, dj = max(1, n // 4), max(1, m // 4)
        i0, j0 = max(0, min(i - di, n - 2 * di)), max(0, min(j - dj, m - 2 * dj))
        self.stack.append(self.zoom)
        self.zoom = hm.subregion(i0, i0 + 2 * di, j0, j0 + 2 * dj)
        self.view.cursor = (n // 2, m // 2)
        self._compute()

    def action_zoom_out(self) -> None:
        if self.stack:
            self.zoom = self.stack.pop()
            self._compute()

    def action_reset(self) -> None:
        self.stack.clear()
        self.zoom = None
        self._compute()
