"""The Textual app: opens the archive, wires screens, owns the edit session
and the job runner; screens ask it to write, verify and reopen with the
messages of ``messages.py``, never by importing it.

Local files open on the UI thread before the first screen, as fast as the
engine reads their headers. A remote spec (``https://``, ``hf://``) opens in
a thread worker behind the loading screen (``screens/loading.py``), which
shows what is being fetched and cancels on ``escape``: the app then exits
with a one-line message (return code 130); an error shows the error screen,
and quitting it exits with return code 1 and the error on stderr (as the CLI
does), so a script sees that nothing was opened.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

from rich.text import Text
from textual.app import App, SystemCommand
from textual.binding import Binding

from irpa_core import open_archive
from irpa_core.display import shown
from irpa_core.errors import Cancelled, IrpaError
from irpa_core.model import Archive
from irpa_core.plan import Plan
from irpa_core.sources import is_remote

from .editing import EditSession
from .fetching import Fetched, FetchMeter
from .jobs import JobRunner
from .keys import KEYS, screen_commands
from .messages import OpenAbandoned, Opened, OpenWritten, VerifyRequested, WriteRequested, Written
from .safety import ControlFilter
from .screens.browse import BrowseScreen

CANCELLED = 130  # return code when the user cancels an open (as for Ctrl-C in a shell)
FAILED = 1  # return code after the error screen: the input could not be opened (the CLI's code)


class IrpaApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "irpa"
    BINDINGS = [Binding("q", "quit", "Quit", key_display="q")]

    def __init__(
        self,
        paths: list[str],
        plan: Plan | None = None,
        diff: tuple[str, str] | None = None,
        title: str | None = None,
        plan_error: str | None = None,
    ):
        super().__init__()
        self._filters.append(ControlFilter())  # no terminal control from any widget, ever
        remote = any(is_remote(p) for p in [*paths, *(diff or ())])
        self.jobs = JobRunner(remote)  # started once an archive is open
        self.paths = paths
        self.initial_plan = plan
        self.diff_paths = diff
        self.title_override = title
        self.plan_error = plan_error
        self.session: EditSession | None = None
        self.last_written: str | None = None
        self.written_with: tuple[EditSession, Plan] | None = None  # the session and plan of last_written
        self.opening: threading.Event | None = None  # the cancel flag of an open in progress
        # The remote sources' own cancel flag (the open's): set when the app
        # exits, so reads in flight in worker threads stop within a second
        # (Python waits for those threads before the process ends).
        self.remote_cancel: threading.Event | None = None
        self.open_fetched: Fetched | None = None  # what a remote open fetched, headers and listings
        self.open_error: str | None = None  # why the input could not be opened (the error screen's)

    def _groups(self) -> list[list[str]]:
        """The specs of each archive to open: one, or A and B of a diff."""
        return [[a] for a in self.diff_paths] if self.diff_paths else [list(self.paths)]

    def on_mount(self) -> None:
        groups = self._groups()
        specs = [s for g in groups for s in g]
        if self.plan_error and not self.diff_paths:
            self._failed(self.plan_error, specs)
            return
        if any(is_remote(s) for s in specs):
            self._open_in_worker(groups)
            return
        try:
            archives = [open_archive(*g) for g in groups]
        except IrpaError as e:
            self._failed(str(e), specs)
            return
        self._opened(archives)

    def _open_in_worker(self, groups: list[list[str]]) -> None:
        """Open behind the loading screen; ``Opened`` comes back."""
        from .screens.loading import LoadingScreen

        cancel = self.opening = self.remote_cancel = threading.Event()
        meter = FetchMeter(jobs=self.jobs)
        self.push_screen(LoadingScreen([s for g in groups for s in g], meter, cancel))

        def work() -> None:
            archives: list[Archive] = []
            try:
                for g in groups:
                    archives.append(open_archive(*g, cancel=cancel, opened=meter.watch))
            except Cancelled:
                self.post_message(Opened(None))
            except (IrpaError, OSError) as e:
                self.post_message(Opened(None, str(e)))
            else:
                self.post_message(Opened(archives, fetched=meter.total()))
                return
            for a in archives:
                a.close()

        self.run_worker(work, thread=True, exclusive=True, group="open")

    def on_opened(self, msg: Opened) -> None:
        from .screens.loading import LoadingScreen

        cancelled = self.opening is not None and self.opening.is_set()
        self.opening = None
        specs = [s for g in self._groups() for s in g]
        if cancelled or (msg.archives is None and msg.error is None):
            for a in msg.archives or ():
                a.close()
            self.exit_cancelled()
            return
        while not isinstance(self.screen, LoadingScreen) and len(self.screen_stack) > 1:
            self.pop_screen()  # the command palette, say
        if isinstance(self.screen, LoadingScreen):
            self.pop_screen()
        if msg.error is not None:
            self._failed(msg.error, specs)
        elif msg.archives is not None:
            self.open_fetched = msg.fetched
            self._opened(msg.archives)
            if msg.fetched is not None:
                self.notify(f"opened: {msg.fetched.describe()} (headers only)", timeout=4)

    def on_open_abandoned(self, _msg: OpenAbandoned) -> None:
        self.exit_cancelled()

    def _failed(self, error: str, specs: list[str]) -> None:
        """Show why nothing could be opened; quitting then exits with ``FAILED``."""
        from .screens.info import ErrorScreen

        self.open_error = error
        self.push_screen(ErrorScreen(error, specs))

    def exit_cancelled(self) -> None:
        """Leave after the user cancelled the open: a line on stderr, code 130."""
        spec = self._groups()[0][0]
        self.exit(return_code=CANCELLED, message=Text(f"irpa-tui: cancelled opening {shown(spec, 300)}"))

    def _opened(self, archives: list[Archive]) -> None:
        """Show what was opened: the browser (and the plan's question), or the diff."""
        if self.diff_paths:
            self._show_diff(*archives)
            return
        (archive,) = archives
        try:
            session = EditSession(archive, self.initial_plan)
            if self.initial_plan is not None:
                problem = session.check_plan(self.initial_plan)
                if problem:
                    raise IrpaError(f"the plan does not apply: {problem}")
        except IrpaError as e:
            self._failed(str(e), self.paths)
            return
        unmatched = self.initial_plan.unmatched(archive) if self.initial_plan is not None else []
        if unmatched:
            session = EditSession(archive)  # the plan waits for an answer
        self.session = session
        screen = self._browser(session, self.title_override or _title(self.paths))
        self.push_screen(screen)
        # An archive to work on: the job runner's server and spare child
        # start now, off the interface's thread, so the first write or scan
        # does not wait for them (an app that never opens one starts none).
        self.run_worker(self.jobs.start, thread=True, group="jobs-start")
        if unmatched and self.initial_plan is not None:
            self._ask_unmatched(screen, self.initial_plan, unmatched)

    def _ask_unmatched(self, screen: BrowseScreen, plan: Plan, unmatched) -> None:
        """A plan with edits that match nothing here (made for another model?):
        say which, and apply it only if asked to."""
        from .screens.dialogs import ConfirmDialog

        n, total = len(unmatched), len(plan.ops)
        lines = [op.describe() for op in unmatched[:8]] + ([f"… and {n - 8:,} more"] if n > 8 else [])
        body = Text.assemble(
            (f"{n:,} of the plan's {total:,} edits match no parameter of this file:\n", "bold"),
            "\n".join("  " + line for line in lines),
            "\n\nApply the plan anyway? (No: the file opens without it.)",
        )
        question = "No edit of the plan matches this file" if n == total else "Some edits of the plan match nothing"

        def answer(yes: bool | None) -> None:
            if yes:
                screen.session.load(plan)
                screen._edited(f"plan applied ({total - n:,} of {total:,} edits match)")
            else:
                self.notify("opened without the plan", timeout=3)

        self.push_screen(ConfirmDialog(question, "Apply", body=body, no="Open without it"), answer)

    # -- commands -----------------------------------------------------------

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        if isinstance(screen, BrowseScreen):
            for k in KEYS:
                if k.action in ("quit", "escape"):  # the app's own command already; escape is not a command
                    continue
                fn = getattr(screen, f"action_{k.action}")
                yield SystemCommand(f"{k.label} ({k.display})", k.help, functools.partial(fn, *k.args))
        else:
            yield from screen_commands(screen)

    def exit(self, result=None, return_code: int = 0, message=None) -> None:
        if self.remote_cancel is not None:
            self.remote_cancel.set()
        self.jobs.close()
        super().exit(result, return_code, message)

    async def action_quit(self) -> None:
        from .screens.dialogs import QuitDialog

        session = self.session
        if session is None and self.open_error is not None:
            # The error stays in the terminal after the screen is gone.
            self.exit(return_code=FAILED, message=Text(f"irpa-tui: error: {shown(self.open_error, 2000)}"))
        elif session is not None and session.dirty and session.plan.ops:

            def answer(yes: bool | None) -> None:
                if yes:
                    self.exit()

            ours = self.written_with is not None and self.written_with[0] is session  # (not a reopened file's)
            written = self.last_written if ours else None
            current = ours and self.written_with == (session, session.plan)
            self.push_screen(QuitDialog(len(session.plan.ops), written, current), answer)
        else:
            self.exit()

    # -- writing, verifying, reopening ---------------------------------------

    def _browser(self, session: EditSession, title: str) -> BrowseScreen:
        return BrowseScreen(session, title, self.jobs, lambda: self.last_written)

    def on_write_requested(self, msg: WriteRequested) -> None:
        self.start_write(msg.targets, msg.output, msg.alignment, split=msg.split)

    def on_written(self, msg: Written) -> None:
        self.last_written = msg.path  # the default of the next verify
        if self.session is not None:  # (no edit is made while writing)
            self.written_with = (self.session, self.session.plan)

    def on_verify_requested(self, msg: VerifyRequested) -> None:
        self.verify_written(msg.expected, msg.output, msg.entries)

    def on_open_written(self, msg: OpenWritten) -> None:
        self.open_written(msg.output)

    def start_write(self, targets, output: str, alignment: int | None = 64, **kw) -> None:
        """Write an ``Output`` (or irpa targets) with the progress screen
        (``split=``: a GGUF ``Output`` as shards; see ``WriteScreen``)."""
        from .screens.progress import WriteScreen

        self.push_screen(WriteScreen(targets, output, alignment, jobs=self.jobs, **kw))

    def verify_written(self, expected, output: str, entries=None) -> None:
        """Verify the file ``output`` against ``expected``: the ``Output`` it
        was written from (its file metadata compared too), irpa targets, or
        a function of the file's format giving the ``Output`` (called in
        the worker; ``entries``: the source entries it reads, whose remote
        fetches are shown)."""
        from irpa_core.output import Output, format_of
        from irpa_core.verify import MISSING, compare_targets

        from .screens.verify import VerifyRow, VerifyScreen, rows_from_verify

        def compute(progress, cancel):
            try:
                out = open_archive(output)
                want = expected(format_of(out)) if callable(expected) else expected
            except IrpaError as e:
                return [VerifyRow(os.path.basename(output), MISSING, str(e), None, None)]
            meta = want if isinstance(want, Output) else None
            targets = list(want.targets) if meta is not None else want
            report = compare_targets(targets, out, progress=progress, cancel=cancel, metadata=meta)
            return rows_from_verify(report, targets, out)

        if entries is None:
            targets = expected.targets if isinstance(expected, Output) else expected
            entries = [t.source for t in targets if t.kind == "data"]
        fetch = FetchMeter.of_entries(entries, self.jobs)
        title = f"Verify {shown(os.path.basename(output), 200)} against its sources"
        self.push_screen(VerifyScreen(title, compute, fetch=fetch))

    def open_written(self, output: str) -> None:
        try:
            archive = open_archive(output)
        except IrpaError as e:
            self.notify(shown(str(e), 500), severity="error", markup=False)
            return
        self.session = EditSession(archive)
        self.paths = [output]
        # Replace the whole stack with a browser on the new archive.
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.push_screen(self._browser(self.session, _title([output])))

    def _show_diff(self, aa: Archive, bb: Archive) -> None:
        """``--diff A B``: the compare screen, tensors paired across schemes."""
        from .screens.compare import CompareScreen

        assert self.diff_paths is not None
        a, b = self.diff_paths
        title = f"Compare A {shown(_name(a), 100)} -> B {shown(_name(b), 100)}"
        self.push_screen(CompareScreen(aa, bb, title, fetch=FetchMeter([*aa.sources, *bb.sources], self.jobs)))


def _title(paths: list[str]) -> str:
    names = [_name(p) for p in paths]
    return ", ".join(names) if len(names) <= 3 else f"{names[0]} and {len(names) - 1} more"


def _name(spec: str) -> str:
    """The file name a spec shows in the title: a URL's last path segment
    (its query may hold '='), else the path's name after any ``scope=``."""
    if is_remote(spec):
        from urllib.parse import urlsplit

        return urlsplit(spec).path.rstrip("/").rsplit("/", 1)[-1] or spec
    return Path(spec.split("=", 1)[-1] if "=" in spec and not os.path.exists(spec) else spec).name
