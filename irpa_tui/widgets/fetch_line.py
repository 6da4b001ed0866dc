"""One line saying what a job fetched from remote files so far.

It reads a ``FetchMeter`` on a timer (``fetching.POLL``) and redraws only
when the figures changed; what the meter had when the line was mounted is
the zero, so the line counts the job's own bytes. Screens mount it only
when their entries are remote.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from ..fetching import POLL, Fetched, FetchMeter


class FetchLine(Widget):
    DEFAULT_CSS = "FetchLine { height: 1; }"

    def __init__(self, meter: FetchMeter, label: str = "", **kw) -> None:
        super().__init__(**kw)
        self.meter, self.label = meter, label
        self.base = Fetched()
        self.shown: Fetched | None = None

    def on_mount(self) -> None:
        self.base = self.meter.total()
        self.poll()
        self.set_interval(POLL, self.poll)

    @property
    def fetched(self) -> Fetched:
        """What the job fetched since the line was mounted."""
        return self.meter.total() - self.base

    def poll(self) -> None:
        now = self.fetched
        if now != self.shown:
            self.shown = now
            self.refresh()

    def render(self) -> Text:
        f = self.shown or Fetched()
        return Text.assemble((self.label, "dim"), (f.describe(), "cyan"), (" from the server", "dim"))
