"""The loading screen: a remote archive opening in a worker.

Opening a remote file fetches its header (a GGUF with a big vocabulary:
megabytes, over a link of any speed). The open runs in a thread worker;
this screen shows what it has fetched so far (bytes, requests, rate,
elapsed time, the file being read), read from the sources' counters on a
timer (``RATE`` times a second: the worker never posts per event), and
``escape``/``q`` cancels: the worker's cancel event is set, the engine
stops within a second (its read timeout with a cancel flag) and the app
says so and exits. Pressing again while it stops leaves at once.

``meter`` and ``clock`` are injectable so tests get a stable screen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from irpa_core.display import human, shown

from ..fetching import FetchMeter
from ..messages import OpenAbandoned

RATE = 15  # redraws per second


class _Status(Widget):
    """The lines that change, drawn as one fixed-size widget (no layout
    pass per redraw)."""

    DEFAULT_CSS = "_Status { height: 4; }"

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.text: Group | Text = Text("")

    def set(self, text: Group | Text) -> None:
        self.text = text
        self.refresh()

    def render(self) -> Group | Text:
        return self.text


class LoadingScreen(Screen):
    BINDINGS = [Binding("escape,q", "cancel", "Cancel")]

    def __init__(
        self,
        specs: list[str],
        meter: FetchMeter,
        cancel: threading.Event,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.specs, self.meter, self.cancel_event, self.clock = specs, meter, cancel, clock
        self.started = 0.0
        self.cancelling = False

    def compose(self) -> ComposeResult:
        with Vertical(id="loading-box"):
            yield Static(self._title(), id="loading-title")
            yield _Status(id="loading-status")
            yield Static(
                Text("Only headers are read now; tensors are fetched when shown or written.", style="dim"),
                id="loading-note",
            )
        yield Footer()

    def _title(self) -> Text:
        t = Text("Opening ", style="bold")
        names = [shown(s, 300) for s in self.specs[:3]]
        t.append(", ".join(names))
        if len(self.specs) > 3:
            t.append(f" and {len(self.specs) - 3} more")
        return t

    def on_mount(self) -> None:
        self.started = self.clock()
        self.tick()
        self.set_interval(1 / RATE, self.tick)

    def tick(self) -> None:
        """Read the counters and redraw (a timer calls it)."""
        f = self.meter.total()
        elapsed = max(0.0, self.clock() - self.started)
        src = self.meter.current
        if src is None:
            what = Text("connecting…", style="dim")
        else:
            n = self.meter.files
            facts = ([human(src.size)] if src.size >= 0 else []) + ([f"file {n}"] if n > 1 else [])
            verb = "reading the header of " if src.size >= 0 else "asking for "  # size -1: no answer yet
            what = Text.assemble(
                (verb, "dim"),
                shown(src.name.rsplit("/", 1)[-1], 200),
                (f" ({', '.join(facts)})" if facts else "", "dim"),
            )
        line = Text.assemble((f"{f.describe()}", "bold cyan"), f"   {elapsed:.1f} s")
        if elapsed > 0.5 and f.bytes:
            line.append(f"   {human(int(f.bytes / elapsed))}/s")
        if self.cancelling:
            keys = Text("cancelling… (press again to leave now)", style="yellow")
        else:
            keys = Text.assemble(("escape", "bold cyan"), " or ", ("q", "bold cyan"), " cancels")
        self.query_one(_Status).set(Group(what, line, Text(""), keys))

    def action_cancel(self) -> None:
        if self.cancelling:
            self.post_message(OpenAbandoned())  # the app leaves
            return
        self.cancelling = True
        self.cancel_event.set()
        self.tick()
