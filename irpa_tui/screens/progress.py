"""The write progress pane and its summary.

The engine's ``write_archive`` runs in a thread worker; its Progress events
come back through ``call_from_thread``. Escape asks before cancelling; a
cancelled or failed write leaves no file (the engine's guarantee) and the
plan is untouched. ``clock`` is injectable so tests get a stable screen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, ProgressBar, RichLog, Static

from irpa_core.display import human
from irpa_core.errors import Cancelled, IrpaError
from irpa_core.write import Progress, write_archive

from .base import IrpaScreen


class WriteScreen(IrpaScreen):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel write"),
        Binding("v", "verify", "Verify", show=False),
        Binding("o", "open", "Open result", show=False),
        Binding("enter,q", "close", "Back", show=False),
    ]

    def __init__(
        self,
        targets,
        output: str,
        alignment: int = 64,
        *,
        writer: Callable = write_archive,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__()
        self.targets, self.output, self.alignment = targets, output, alignment
        self.writer, self.clock = writer, clock
        self.cancel_event = threading.Event()
        self.state = "writing"  # writing, done, cancelled, failed
        self.result = None
        self.started = 0.0
        self._logged = -1
        self.total = sum(t.length for t in targets if t.kind == "data")

    def compose(self) -> ComposeResult:
        with Vertical(id="write-box"):
            yield Static(Text.assemble(("Writing ", "bold"), self.output), id="write-title")
            yield ProgressBar(total=max(1, self.total), show_eta=False, id="write-bar")
            yield Static(id="write-status")
            yield Static(id="write-current")
            yield RichLog(id="write-log", max_lines=2000, markup=False, wrap=False)
        yield Footer()

    def on_mount(self) -> None:
        self.started = self.clock()
        self._status(0, 0)
        self.run_worker(self._run, thread=True, exclusive=True, group="write")

    def on_unmount(self) -> None:
        # Leaving (or quitting) mid-write cancels it: nothing partial is left.
        self.cancel_event.set()

    # -- the worker ---------------------------------------------------------

    def _run(self) -> None:
        app = self.app
        try:
            result = self.writer(
                self.targets,
                self.output,
                alignment=self.alignment,
                progress=lambda ev: app.call_from_thread(self.on_progress, ev),
                cancel=self.cancel_event,
            )
        except Cancelled:
            app.call_from_thread(self._finish, "cancelled", None)
        except (IrpaError, OSError) as e:
            app.call_from_thread(self._finish, "failed", str(e))
        else:
            app.call_from_thread(self._finish, "done", result)

    def on_progress(self, ev: Progress) -> None:
        self.query_one("#write-bar", ProgressBar).update(progress=ev.bytes_done)
        log = self.query_one("#write-log", RichLog)
        # Log each entry once it is finished (the next one started).
        while self._logged < ev.index - 1:
            self._logged += 1
            t = self.targets[self._logged]
            log.write(f"✓ {t.name}  {t.kind}  {human(t.length)}")
        t = self.targets[ev.index]
        self.query_one("#write-current", Static).update(
            Text.assemble(("now: ", "bold"), t.name, f"  ({t.kind}, {human(t.length)})")
        )
        self._status(ev.index, ev.bytes_done)

    def _status(self, index: int, done: int) -> None:
        elapsed = max(1e-9, self.clock() - self.started)
        rate = done / elapsed
        eta = (self.total - done) / rate if rate > 0 else None
        self.query_one("#write-status", Static).update(
            Text.assemble(
                (f"{index:,} of {len(self.targets):,} entries", "bold"),
                f"   {human(done)} of {human(self.total)}",
                f"   {human(int(rate))}/s" if done else "",
                f"   ETA {eta:.0f} s" if eta is not None and done else "",
            )
        )

    def _finish(self, state: str, payload) -> None:
        self.state = state
        log = self.query_one("#write-log", RichLog)
        if state == "done":
            self.result = payload
            self.irpa.last_written = self.output
            while self._logged < len(self.targets) - 1:
                self._logged += 1
                t = self.targets[self._logged]
                log.write(f"✓ {t.name}  {t.kind}  {human(t.length)}")
            self.query_one("#write-bar", ProgressBar).update(progress=max(1, self.total))
            secs = self.clock() - self.started
            self.query_one("#write-title", Static).update(Text.assemble(("Written ", "bold green"), self.output))
            self.query_one("#write-current", Static).update(
                Text.assemble(
                    (f"{payload.entries:,} entries, {human(payload.bytes)} ", "bold"),
                    f"in {secs:.2f} s.  ",
                    ("v", "bold cyan"),
                    " verify against the sources   ",
                    ("o", "bold cyan"),
                    " open the written archive   ",
                    ("enter", "bold cyan"),
                    " back",
                )
            )
            self._status(len(self.targets), self.total)
        elif state == "cancelled":
            self.query_one("#write-title", Static).update(
                Text.assemble(("Cancelled: ", "bold yellow"), f"{self.output} was not written (plan kept)")
            )
            self.query_one("#write-current", Static).update(Text("enter: back to the table", style="dim"))
        else:
            self.query_one("#write-title", Static).update(Text.assemble(("Failed: ", "bold red"), payload))
            self.query_one("#write-current", Static).update(
                Text("Nothing was written; the plan is kept. enter: back to the table", style="dim")
            )
        self.refresh_bindings()

    # -- keys ---------------------------------------------------------------

    def check_action(self, action: str, parameters) -> bool | None:
        if action == "cancel":
            return self.state == "writing"
        if action in ("verify", "open"):
            return self.state == "done"
        if action == "close":
            return self.state != "writing"
        return True

    def action_cancel(self) -> None:
        from .dialogs import ConfirmDialog

        def answer(yes) -> None:
            if yes and self.state == "writing":
                self.cancel_event.set()

        self.app.push_screen(ConfirmDialog("Cancel the write? Nothing will be written.", "Cancel write"), answer)

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_verify(self) -> None:
        self.irpa.verify_written(self.targets, self.output)

    def action_open(self) -> None:
        self.irpa.open_written(self.output)
