"""The write screen: a write's progress, then what to do with the result.

The engine's write runs in a child process (``jobs``): a copy loop in a
thread of this process shares the GIL with the interface drawing the
screen, and ran slower than the same copy alone (bench/RESULTS.md). Its
progress comes through a ``Coalescer`` (``widgets/job_progress.py``); the
log of finished entries is a virtual list whose length is set once per
update (a batch of any size costs the same), and nothing on the UI thread
touches a file. Escape asks before cancelling; a cancelled or failed write
leaves no file (the engine's guarantee; the child is told to stop and
cleans up, and what a killed child left is removed) and the plan is
untouched. ``clock`` is injectable so tests get a stable screen and can
count updates per second of fake time. A write from remote files says
what it fetched so far (``FetchLine``: the sources' counters on a timer).
A GGUF split into shards (``split``: the engine's ``write_split``) says
which shard it is writing; the shards are renamed into place together at
the end, so a cancel or failure leaves none; done, it names every shard,
and verify and open start from the first (the reader finds the others).
Done, verify and open are asked of the app (``messages``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from irpa_core.display import escape, human, plural, shown
from irpa_core.errors import Cancelled, IrpaError
from irpa_core.output import Output, Split
from irpa_core.plan import Target
from irpa_core.shards import shard_paths
from irpa_core.sources import Source
from irpa_core.write import Progress, WriteResult, clean_leftovers, write_archive, write_split

from ..fetching import FetchMeter, sources_of
from ..jobs import JobRunner
from ..keys import HELP_BINDING, show_help
from ..messages import JobDone, OpenWritten, ProgressUpdate, VerifyRequested, Written
from ..widgets.fetch_line import FetchLine
from ..widgets.job_progress import RATE, Coalescer, JobProgress, Line
from ..widgets.lines import LineList

CHILD_RATE = 4 * RATE  # progress messages a second from a writing child (the coalescer keeps RATE of them)
SHOWN = 8  # shards a finished split write names
GRACE = 2.0  # seconds a cancelled writing child has to remove its temporary itself before it is killed


class WriteScreen(Screen):
    # Each shows in the footer while it applies: cancel while writing, the rest after.
    BINDINGS = [
        Binding("escape", "cancel", "Cancel write", tooltip="cancel the write (asks first): nothing is written"),
        Binding("v", "verify", "Verify", tooltip="verify the written file against its sources"),
        Binding("o", "open", "Open result", tooltip="browse the written file instead of the sources"),
        Binding("enter,q", "close", "Back", key_display="enter", tooltip="back to the table (the plan is kept)"),
        HELP_BINDING,
    ]

    def __init__(
        self,
        targets: Output | Sequence[Target],
        output: str,
        alignment: int | None = 64,
        *,
        split: Split | None = None,
        jobs: JobRunner | None = None,
        writer: Callable | None = None,
        clock: Callable[[], float] = time.monotonic,
        rate: float = RATE,
    ):
        """``targets``: the ``Output`` to write (any format, as ``irpa
        convert`` builds it), or irpa targets; ``alignment`` as
        ``write_archive`` takes it (None: the format's own). ``split``: a
        GGUF ``Output`` written as shards named after ``output``
        (``write_split``). ``writer``: None, the engine's ``write_archive``
        (``write_split``) in a child process of ``jobs`` (the app's runner;
        None: one of its own); a function of the same signature (tests)
        runs in a thread of this process."""
        super().__init__()
        self.out = targets if isinstance(targets, Output) else None
        self.targets: Sequence[Target] = list(targets.targets) if isinstance(targets, Output) else targets
        self.output, self.alignment, self.split = output, alignment, split
        self.written = output  # the file to verify and open: a split set's first shard
        self.shard = -1  # the shard being written (a split)
        self.writer, self.clock, self.rate = writer, clock, rate
        self.cancel_event = threading.Event()
        self.state = "writing"  # writing, done, cancelled, failed
        self.result = None
        self.started = 0.0
        self.ui_updates = 0  # progress updates shown (tests count them)
        self.total = sum(t.length for t in self.targets if t.kind == "data")
        self.sources = sources_of(t.source for t in self.targets if t.kind == "data")
        self.jobs = jobs if jobs is not None else JobRunner()
        self.fetch = FetchMeter(self.sources, self.jobs)

    def compose(self) -> ComposeResult:
        with Vertical(id="write-box"):
            yield Static(Text.assemble(("Writing ", "bold"), shown(self.output, 300)), id="write-title")
            yield JobProgress(len(self.targets), self.total, id="write-progress")
            yield Line(id="write-current")
            if self.fetch.remote:
                yield FetchLine(self.fetch, "this write: ", id="write-fetched")
            yield LineList(self._log_line, follow=True, id="write-log")
        yield Footer()

    def on_mount(self) -> None:
        self.started = self.clock()
        self.query_one(JobProgress).show(0, 0, 0.0)
        self.run_worker(self._run, thread=True, exclusive=True, group="write")

    def on_unmount(self) -> None:
        # Leaving (or quitting) mid-write cancels it: nothing partial is left.
        self.cancel_event.set()

    def _log_line(self, i: int) -> Text:
        t = self.targets[i]
        return Text.assemble(("✓ ", "green"), escape(t.name), (f"  {_how(t)}  {human(t.length)}", "dim"))

    # -- the worker ---------------------------------------------------------

    def _run(self) -> None:
        try:
            job = self.out if self.out is not None else self.targets
            progress = Coalescer(self, self.rate, self.clock)
            if self.writer is None:
                result = write_in_child(
                    self.jobs, job, self.output, self.alignment, progress, self.cancel_event, self.split, self.sources
                )
            elif self.split is not None:
                assert isinstance(job, Output)
                result = self.writer(job, self.output, self.split, progress=progress, cancel=self.cancel_event)
            else:
                result = self.writer(
                    job, self.output, alignment=self.alignment, progress=progress, cancel=self.cancel_event
                )
        except Cancelled:
            self.post_message(JobDone("cancelled", None))
        except (IrpaError, OSError, RuntimeError) as e:  # RuntimeError: the child died (see JobRunner.run)
            self.post_message(JobDone("failed", str(e)))
        else:
            self.post_message(JobDone("done", result))

    def on_progress_update(self, msg: ProgressUpdate) -> None:
        if self.state != "writing":
            return  # a late update after the end
        ev = msg.event
        self.ui_updates += 1
        self.query_one(JobProgress).show(ev.index, ev.bytes_done, self.clock() - self.started)
        self.query_one(LineList).set_count(ev.index)  # the entries before this one are done
        shard = ""
        if self.split is not None:
            shard = f"shard {ev.shard + 1:,} of {ev.shards:,}  "
            if ev.shard != self.shard:  # (a Static update relayouts: only when the file changes)
                self.shard = ev.shard
                path = shard_paths(self.output, ev.shards)[ev.shard]
                self.query_one("#write-title", Static).update(
                    Text.assemble(("Writing ", "bold"), f"shard {ev.shard + 1:,} of {ev.shards:,}: ", shown(path, 300))
                )
        if ev.index < len(self.targets):
            t = self.targets[ev.index]
            self.query_one("#write-current", Line).set(
                Text.assemble(("now: ", "bold"), shard, escape(t.name), f"  ({_how(t)}, {human(t.length)})")
            )

    def on_job_done(self, msg: JobDone) -> None:
        self._finish(msg.state, msg.payload)

    def _finish(self, state: str, payload) -> None:
        self.state = state
        for line in self.query(FetchLine):
            line.poll()  # the final figures at once
        if state == "done":
            self.result = payload
            if self.split is not None:
                self.written = payload.path
            self.post_message(Written(self.written))
            self.query_one(LineList).set_count(len(self.targets))
            secs = self.clock() - self.started
            self.query_one(JobProgress).show(len(self.targets), self.total, secs)
            self.query_one("#write-title", Static).update(self._written_text(payload))
            self.query_one("#write-current", Line).set(done_text(payload, secs))
        elif state == "cancelled":
            out = shown(self.output, 300)
            what = f"{out} was not written" if self.split is None else f"no shard of {out} was written"
            self.query_one("#write-title", Static).update(
                Text.assemble(("Cancelled: ", "bold yellow"), f"{what} (plan kept)")
            )
            self.query_one("#write-current", Line).set(Text("enter: back to the table", style="dim"))
        else:
            self.query_one("#write-title", Static).update(Text.assemble(("Failed: ", "bold red"), payload))
            self.query_one("#write-current", Line).set(
                Text("Nothing was written; the plan is kept. enter: back to the table", style="dim")
            )
        self.refresh_bindings()

    def _written_text(self, result: WriteResult) -> Text:
        """The title of a finished write: the file, or every shard (at most
        ``SHOWN`` of them named) with its entries and size."""
        if self.split is None or not result.shards:
            return Text.assemble(("Written ", "bold green"), shown(self.output, 300))
        n = len(result.shards)
        parts: list[str | tuple[str, str]] = [
            ("Written ", "bold green"),
            f"{n:,} shard{'s' if n != 1 else ''}:",
        ]
        for r in result.shards[:SHOWN]:
            parts += [
                "\n  ",
                shown(r.path, 300),
                (f"  {plural(r.entries, 'entry', 'entries')}, {human(r.bytes)}", "dim"),
            ]
        if n > SHOWN:
            parts.append(f"\n  and {n - SHOWN:,} more, to {shown(result.shards[-1].path, 300)}")
        return Text.assemble(*parts)

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

        def answer(yes: bool | None) -> None:
            if yes and self.state == "writing":
                self.cancel_event.set()

        self.app.push_screen(ConfirmDialog("Cancel the write? Nothing will be written.", "Cancel write"), answer)

    def action_help(self) -> None:
        show_help(self, "write keys")

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_verify(self) -> None:
        self.post_message(VerifyRequested(self.out if self.out is not None else self.targets, self.written))

    def action_open(self) -> None:
        self.post_message(OpenWritten(self.written))


def write_in_child(
    jobs: JobRunner,
    job: Output | Sequence[Target],
    output: str,
    alignment: int | None,
    progress: Callable[[Progress], None],
    cancel: threading.Event,
    split: Split | None = None,
    sources: Sequence[Source] = (),
) -> WriteResult:
    """``write_archive`` (``write_split`` for a ``split``) in a child
    process at full priority (the user waits on it), its progress relayed;
    in this thread where no process can be made. Cancelled: the child
    removes its temporaries as a write in a thread does; one killed before
    it could (see ``GRACE``), or that died, left them behind, and they are
    removed here (its process is gone, which ``clean_leftovers`` checks).
    ``sources``: those the job reads, whose fetches ``jobs`` counts."""
    kw: dict[str, Any] = {"progress": progress, "cancel": cancel, "rate": CHILD_RATE, "nice": 0, "grace": GRACE}
    kw["sources"] = sources
    try:
        if split is None:
            return jobs.run(write_archive, job, output, alignment=alignment, **kw)
        return jobs.run(write_split, job, output, split, **kw)
    except (Cancelled, RuntimeError):
        if split is None:
            clean_leftovers(output)
        else:
            assert isinstance(job, Output)
            for path in shard_paths(output, len(job.split(split))):
                clean_leftovers(path)
        raise


def done_text(result: WriteResult, secs: float) -> Text:
    """The line of a finished write: entries and time, the file's size and
    the tensor data in it (what the bar above counted), each named."""
    return Text.assemble(
        ("Done: ", "bold"),
        f"{plural(result.entries, 'entry', 'entries')} in {secs:.2f} s;  ",
        ("file ", "dim"),
        (human(result.bytes), "bold"),
        (", of which tensor data ", "dim"),
        human(result.data_bytes),
    )


def _how(t: Target) -> str:
    """What a log line says a target is: its kind, or how its data is made
    when not copied (a splat written as data, cast values)."""
    how = t.how
    return {"expand": "splat as data", "cast": f"cast to {t.cast.name if t.cast else '?'}"}.get(how, t.kind)
