"""What the verify and compare screens share: a comparison run in a
worker, with the top of the screen (title, the job's progress, the bytes
fetched from remote files, a summary line), its progress messages and its
failure. Each screen keeps its own widget ids under its ``PREFIX``, and with
them its styles."""

from __future__ import annotations

import threading
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from irpa_core.display import shown

from ..fetching import FetchMeter
from ..messages import JobDone, ProgressUpdate
from ..widgets.fetch_line import FetchLine
from ..widgets.job_progress import JobProgress


class ComparisonScreen(Screen):
    PREFIX = ""  # the start of the screen's widget ids: "verify", "cmp"

    def __init__(self, title: str, fetch: FetchMeter | None, clock: Callable[[], float]) -> None:
        """``title``: shown as given (escaped by the caller); ``fetch``: the
        remote sources the comparison reads (a line counts what they fetch);
        ``clock``: for the progress line's rates (tests set it)."""
        super().__init__()
        self.title_text = title
        self.fetch = fetch
        self.clock = clock
        self.cancel = threading.Event()  # set when the screen goes: the comparison stops
        self.ui_updates = 0
        self.started = 0.0

    def compose_top(self) -> ComposeResult:
        p = self.PREFIX
        yield Static(Text(self.title_text, style="bold"), id=f"{p}-title")
        yield JobProgress(0, 0, id=f"{p}-job")
        if self.fetch is not None and self.fetch.remote:
            yield FetchLine(self.fetch, "this comparison: ", id=f"{p}-fetched")
        yield Static(id=f"{p}-summary")

    def on_progress_update(self, msg: ProgressUpdate) -> None:
        self.ui_updates += 1
        self.query_one(JobProgress).show_event(msg.event, self.clock() - self.started)

    def job_failed(self, msg: JobDone) -> bool:
        """The job has ended: its progress line goes; a failure is said on
        the summary line (True)."""
        self.query_one(JobProgress).display = False
        if msg.state == "done":
            return False
        failed = Text.assemble(("FAILED ", "bold red"), shown(str(msg.payload)))  # (it names files and tensors)
        self.query_one(f"#{self.PREFIX}-summary", Static).update(failed)
        return True
