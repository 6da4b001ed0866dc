"""The progress pane of long jobs (write, verify, diff) and its plumbing.

The engine keeps its callbacks: it calls ``progress(event)`` from a thread
worker as often as it likes (per entry, per chunk). A ``Coalescer`` turns
those calls into at most ``rate`` (about 20) UI updates per second: the
latest event wins and is posted as a non-blocking ``ProgressUpdate``; the
worker never waits for the UI. ``JobProgress`` counts entries and bytes
with an ETA from both, so a job of splats only, or of 10,000 small
tensors, moves visibly.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.message_pump import MessagePump
from textual.widget import Widget

from irpa_core.display import human
from irpa_core.write import Progress

from ..messages import ProgressUpdate

RATE = 20.0  # UI updates per second at most


class Coalescer:
    """A progress callback for the engine that posts ``ProgressUpdate`` to
    ``target`` at most ``rate`` times per second of ``clock``. Called from
    the worker thread; ``post_message`` is thread-safe and never blocks."""

    def __init__(self, target: MessagePump, rate: float = RATE, clock: Callable[[], float] = time.monotonic):
        self.target = target
        self.interval = 1.0 / rate
        self.clock = clock
        self.latest: Progress | None = None
        self._next = -1e300

    def __call__(self, event: Progress) -> None:
        self.latest = event
        now = self.clock()
        if now >= self._next:
            self._next = now + self.interval
            self.target.post_message(ProgressUpdate(event))


def at_rate(report: Callable[[int, int], object], rate: float = RATE, clock: Callable[[], float] = time.monotonic):
    """A ``progress(done, total)`` callback for the engine that calls
    ``report(done, total)`` at most ``rate`` times per second of ``clock``,
    and always at the end (``done == total``): for a worker that posts a
    message of its own for each (``Coalescer`` posts ``ProgressUpdate``)."""
    last = -1e300

    def progress(done: int, total: int) -> None:
        nonlocal last
        now = clock()
        if now - last >= 1 / rate or done == total:
            last = now
            report(done, total)

    return progress


class Line(Widget):
    """One line of text, updated without a layout pass (a ``Static`` update
    relayouts the screen: too dear 20 times a second beside a worker)."""

    DEFAULT_CSS = "Line { height: 1; }"

    def __init__(self, text: Text | str = "", **kw):
        super().__init__(**kw)
        self.text = Text(text) if isinstance(text, str) else text

    def set(self, text: Text | str) -> None:
        self.text = Text(text) if isinstance(text, str) else text
        self.refresh()

    def render(self) -> Text:
        return self.text


class JobProgress(Widget):
    """Two bars, entries and bytes of tensor data, and a line with rates and
    the ETA; drawn as one fixed-size widget, so an update repaints only
    these lines. The bars give way to the counts on a narrow terminal."""

    DEFAULT_CSS = "JobProgress { height: 4; }"
    BAR = 40  # at most
    LABEL = 11  # "tensor data"

    def __init__(self, entries: int, total_bytes: int, **kw):
        super().__init__(**kw)
        self.entries, self.total_bytes = entries, total_bytes
        self.done = (0, 0)
        self.status = Text("")

    def show(self, entries_done: int, bytes_done: int, elapsed: float, *, total_bytes: int | None = None) -> None:
        if total_bytes is not None:
            self.total_bytes = total_bytes
        self.done = (entries_done, bytes_done)
        self.status = status_text(entries_done, self.entries, bytes_done, self.total_bytes, elapsed)
        self.refresh()

    def show_event(self, ev, elapsed: float) -> None:
        """A job's progress event (``write.Progress``): its count of entries
        and where it is."""
        self.entries = ev.count
        self.show(ev.index, ev.bytes_done, elapsed, total_bytes=ev.bytes_total)

    def render(self) -> Group:
        from rich.progress_bar import ProgressBar as Bar

        (entries_done, bytes_done), n, total = self.done, self.entries, self.total_bytes
        entries_count = f"{entries_done:,} of {n:,}"
        bytes_count = f"{human(bytes_done)} of {human(total)}" if total else "none (splats only)"
        # (a count is at most "1023.9 MiB of 1023.9 MiB": the bar takes what is left of the line)
        room = self.size.width - self.LABEL - 5 - 3 - max(len(entries_count), len(f"{human(total)} of {human(total)}"))
        bar = max(10, min(self.BAR, room))

        def row(label: str, done: int, of: int, count: str) -> Table:
            t = Table.grid(padding=(0, 1))
            t.add_column(width=self.LABEL)
            t.add_column(width=bar)
            t.add_column(width=5, justify="right")
            t.add_column()
            frac = done / of if of else 1.0
            t.add_row(label, Bar(total=max(1, of), completed=done if of else 1, width=bar), f"{frac:.0%}", count)
            return t

        return Group(
            row("entries", entries_done, n, entries_count),
            row("tensor data", bytes_done, total, bytes_count),
            Text(""),
            self.status,
        )


def eta(entries_done: int, entries: int, bytes_done: int, total_bytes: int, elapsed: float) -> float | None:
    """Seconds left, the larger of the estimates from the entry rate and the
    byte rate (each alone is wrong for a mix of big and many small tensors;
    the larger is never too hopeful by much). None before anything is done."""
    guesses = []
    if elapsed > 0 and entries_done:
        guesses.append((entries - entries_done) * elapsed / entries_done)
    if elapsed > 0 and bytes_done and total_bytes:
        guesses.append((total_bytes - bytes_done) * elapsed / bytes_done)
    return max(guesses) if guesses else None


def status_text(entries_done: int, entries: int, bytes_done: int, total_bytes: int, elapsed: float) -> Text:
    left = eta(entries_done, entries, bytes_done, total_bytes, elapsed)
    parts: list[str | tuple[str, str]] = [(f"{elapsed:.1f} s", "bold")]
    if elapsed > 0 and entries_done:
        parts.append(f"   {entries_done / elapsed:,.0f} entries/s")
    if elapsed > 0 and bytes_done:
        parts.append(f"   {human(int(bytes_done / elapsed))}/s")
    if left is not None:
        parts.append(("   ETA ", "bold"))
        parts.append(f"{left:.0f} s")
    return Text.assemble(*parts)
