"""The Textual app: opens the archive, wires screens, owns the edit session."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding

from irpa_core import open_archive
from irpa_core.display import shown
from irpa_core.errors import IrpaError
from irpa_core.plan import Plan

from . import background
from .editing import EditSession
from .safety import ControlFilter
from .screens.browse import KEYS, BrowseScreen


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
        background.warm_up()  # before Textual replaces stderr (see background.warm_up)
        self.paths = paths
        self.initial_plan = plan
        self.diff_paths = diff
        self.title_override = title
        self.plan_error = plan_error
        self.session: EditSession | None = None
        self.last_written: str | None = None

    def on_mount(self) -> None:
        from .screens.info import ErrorScreen

        if self.diff_paths:
            self._open_diff(*self.diff_paths)
            return
        try:
            if self.plan_error:
                raise IrpaError(self.plan_error)
            archive = open_archive(*self.paths)
            session = EditSession(archive, self.initial_plan)
            if self.initial_plan is not None:
                problem = session.check_plan(self.initial_plan)
                if problem:
                    raise IrpaError(f"the plan does not apply: {problem}")
        except IrpaError as e:
            self.push_screen(ErrorScreen(str(e), self.paths))
            return
        unmatched = self.initial_plan.unmatched(archive) if self.initial_plan is not None else []
        if unmatched:
            session = EditSession(archive)  # the plan waits for an answer
        self.session = session
        screen = BrowseScreen(session, self.title_override or _title(self.paths))
        self.push_screen(screen)
        if unmatched and self.initial_plan is not None:
            self._ask_unmatched(screen, self.initial_plan, unmatched)

    def _ask_unmatched(self, screen: BrowseScreen, plan: Plan, unmatched) -> None:
        """A plan with edits that match nothing here (made for another model?):
        say which, and apply it only if asked to."""
        from rich.text import Text

        from .screens.dialogs import ConfirmDialog

        n, total = len(unmatched), len(plan.ops)
        lines = [op.describe() for op in unmatched[:8]] + ([f"… and {n - 8:,} more"] if n > 8 else [])
        body = Text.assemble(
            (f"{n:,} of the plan's {total:,} edits match no parameter of this file:\n", "bold"),
            "\n".join("  " + line for line in lines),
            "\n\nApply the plan anyway? (No: the file opens without it.)",
        )
        question = "No edit of the plan matches this file" if n == total else "Some edits of the plan match nothing"

        def answer(yes) -> None:
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

    async def action_quit(self) -> None:
        from .screens.dialogs import ConfirmDialog

        if self.session is not None and self.session.dirty and self.session.plan.ops:

            def answer(yes) -> None:
                if yes:
                    self.exit()

            self.push_screen(ConfirmDialog("Quit with unsaved edits? (ctrl+s saves the plan)", "Quit"), answer)
        else:
            self.exit()

    # -- writing, verifying, reopening ---------------------------------------

    def start_write(self, targets, output: str, alignment: int = 64, **kw) -> None:
        from .screens.progress import WriteScreen

        self.push_screen(WriteScreen(targets, output, alignment, **kw))

    def verify_written(self, targets, output: str) -> None:
        from irpa_core.verify import MISSING, compare_targets

        from .screens.verify import VerifyRow, VerifyScreen, rows_from_verify

        def compute(progress, cancel):
            try:
                out = open_archive(output)
            except IrpaError as e:
                return [VerifyRow(os.path.basename(output), MISSING, str(e), None, None)]
            return rows_from_verify(compare_targets(targets, out, progress=progress, cancel=cancel), targets, out)

        self.push_screen(VerifyScreen(f"Verify {shown(os.path.basename(output), 200)} against its sources", compute))

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
        self.push_screen(BrowseScreen(self.session, _title([output])))

    def _open_diff(self, a: str, b: str) -> None:
        from irpa_core.diff import diff

        from .screens.info import ErrorScreen
        from .screens.verify import DIFF_ROLES, VerifyScreen, rows_from_diff

        try:
            aa, bb = open_archive(a), open_archive(b)
        except IrpaError as e:
            self.push_screen(ErrorScreen(str(e), [a, b]))
            return

        def compute(progress, cancel):
            return rows_from_diff(diff(aa, bb, progress=progress, cancel=cancel))

        title = f"Diff A {shown(os.path.basename(a), 100)} -> B {shown(os.path.basename(b), 100)}"
        self.push_screen(VerifyScreen(title, compute, DIFF_ROLES))


def _title(paths: list[str]) -> str:
    names = [_name(p) for p in paths]
    return ", ".join(names) if len(names) <= 3 else f"{names[0]} and {len(names) - 1} more"


def _name(spec: str) -> str:
    """The file name a spec shows in the title: a URL's last path segment
    (its query may hold '='), else the path's name after any ``scope=``."""
    from irpa_core.sources import is_remote

    if is_remote(spec):
        from urllib.parse import urlsplit

        return urlsplit(spec).path.rstrip("/").rsplit("/", 1)[-1] or spec
    return Path(spec.split("=", 1)[-1] if "=" in spec and not os.path.exists(spec) else spec).name
