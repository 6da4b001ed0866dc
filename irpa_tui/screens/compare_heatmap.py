"""The difference screen (``h`` on the compare screen): one pair's |A-B|
full screen, the largest difference per cell over B's matrix.

The grid (``pair_diff.difference``, the converter's transform applied to A)
is computed in a thread worker at the size of the screen; ``escape`` stops
it, or goes back. Arrows move a cursor cell, whose rows, columns and
largest |A-B| are shown; the worst elements are listed under the picture.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static

from irpa_core.display import num, shown
from irpa_core.errors import Cancelled, IrpaError
from irpa_core.model import Archive
from irpa_core.name_map import Architecture, NamePair
from irpa_core.pair_diff import PairDifference, difference

from ..keys import HELP_BINDING, show_help
from ..widgets.heatmap import HeatmapView, cell_text, scale_strip
from ..widgets.job_progress import at_rate


class DifferenceScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="stop the pass, else back to the compare screen"),
        Binding("q,h", "app.pop_screen", "Back", show=False),
        HELP_BINDING,
        Binding("up", "move(-1, 0)", show=False),
        Binding("down", "move(1, 0)", show=False),
        Binding("left", "move(0, -1)", show=False),
        Binding("right", "move(0, 1)", show=False),
    ]
    DEFAULT_CSS = """
    DifferenceScreen #diffmap-title, DifferenceScreen #diffmap-status { padding: 0 1; }
    DifferenceScreen #diffmap-scale { height: 1; }
    DifferenceScreen #diffmap-worst { height: auto; max-height: 7; padding: 0 1; }
    """

    @dataclass
    class Progress(Message):
        done: int
        total: int

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, DifferenceScreen.Progress)

    @dataclass
    class Done(Message):
        result: PairDifference | str | None  # None: cancelled; str: why not

    def __init__(self, a: Archive, b: Archive, pair: NamePair, arch: Architecture, title: str) -> None:
        """``title``: the pair's names as shown (already escaped)."""
        super().__init__()
        self.a, self.b, self.pair, self.arch = a, b, pair, arch
        self.title_text = title
        self.cancel = threading.Event()
        self.running = False

    def compose(self) -> ComposeResult:
        yield Static(Text.assemble(("|A-B| ", "bold"), (self.title_text, "bold")), id="diffmap-title")
        yield HeatmapView(id="diffmap-view")
        yield ProgressBar(id="diffmap-progress", show_eta=False)
        yield Static(id="diffmap-scale")
        yield Static(id="diffmap-status")
        yield Static(id="diffmap-worst")
        yield Footer()

    @property
    def view(self) -> HeatmapView:
        return self.query_one(HeatmapView)

    def on_mount(self) -> None:
        self.view.focus()
        self.call_after_refresh(self._compute)

    def on_unmount(self) -> None:
        self.cancel.set()

    def _compute(self) -> None:
        size = self.view.size
        height, width = max(2, 2 * size.height), max(2, size.width)
        self.running = True
        self.query_one("#diffmap-status", Static).update(Text("computing… (escape stops)", style="dim"))
        cancel = self.cancel

        def work() -> None:
            progress = at_rate(lambda done, total: self.post_message(self.Progress(done, total)))
            try:
                d = difference(self.a, self.b, self.pair, self.arch, height, width, cancel=cancel, progress=progress)
            except Cancelled:
                self.post_message(self.Done(None))
            except (IrpaError, OSError, ValueError) as e:
                self.post_message(self.Done(str(e)))
            else:
                self.post_message(self.Done(d))

        self.run_worker(work, thread=True, exclusive=True, group="diffmap")

    def on_difference_screen_progress(self, msg: Progress) -> None:
        self.query_one("#diffmap-progress", ProgressBar).update(total=msg.total, progress=msg.done)

    def on_difference_screen_done(self, msg: Done) -> None:
        self.running = False
        self.query_one("#diffmap-progress", ProgressBar).display = False
        status = self.query_one("#diffmap-status", Static)
        if msg.result is None:
            status.update(Text("stopped", style="yellow"))
            return
        if isinstance(msg.result, str):
            status.update(Text(f"cannot draw: {shown(msg.result)}", style="red"))  # (it names tensors)
            return
        d = msg.result
        hm = d.heatmap
        self.view.show(hm)
        width = max(10, self.size.width)
        lo, hi = hm.scale()
        line = Text.assemble(*(Text(s.text, s.style or "") for s in scale_strip(hm, width // 2, self.view.truecolor)))
        line.append(f"  {num(lo, 4)} .. {num(hi, 4)} (largest |A-B| per cell)")
        self.query_one("#diffmap-scale", Static).update(line)
        worst = Text("worst: ", style="bold")
        for k, w in enumerate(d.worst):
            ia = list(w.index_a) if w.index_a is not None else w.flat_a
            ib = list(w.index_b) if w.index_b is not None else w.flat_b
            worst.append(f"{'' if k == 0 else chr(10) + '       '}|A-B| {num(abs(w.b - w.a), 4)}  A{ia} = ")
            worst.append(f"{num(w.a, 6)}  B{ib} = {num(w.b, 6)}")
        if not d.worst:
            worst.append("A and B are equal", style="green")
        for n in d.notes:
            worst.append(f"\n{n}", style="dim")
        self.query_one("#diffmap-worst", Static).update(worst)
        self._status()

    def _status(self) -> None:
        hm = self.view.heatmap
        if hm is None:
            return
        n, m = hm.values.shape
        t = cell_text(hm, self.view.cursor, "max |A-B|", "no value")
        t.append(f"   {n}x{m} cells; arrows move the cell", "dim")
        self.query_one("#diffmap-status", Static).update(t)

    def action_back(self) -> None:
        if self.running:
            self.cancel.set()
            return
        self.app.pop_screen()

    def action_move(self, di: int, dj: int) -> None:
        self.view.move(di, dj)
        self._status()

    def action_help(self) -> None:
        show_help(self, "difference map keys (arrows move the cursor cell)")
