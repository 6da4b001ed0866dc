"""The dialog of ``D`` on the browse screen: the second file to compare the
open archive with (a local path, a model directory, an ``https://`` URL or
an ``hf://ORG/REPO/FILE``).

A local path is checked as it is typed (a missing file is named on the
problem line) and its directory is listed under it, the names that start
with what is typed; ``tab`` completes as far as they agree. The listing is
read in a thread worker, never on the UI thread. OK opens the file in a
worker (a remote one fetches its header): an error stays in the dialog,
naming the file, and ``escape`` stops an open in progress.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input, Static

from irpa_core import open_archive
from irpa_core.display import shown
from irpa_core.errors import Cancelled, IrpaError
from irpa_core.model import Archive
from irpa_core.sources import is_remote

from .path import PathDialogBase

SHOWN = 8  # names listed under the path


@dataclass(frozen=True)
class CompareChoice:
    """The file picked, opened; ``cancel`` is its remote files' cancel flag
    (set it when done: reads in flight stop)."""

    spec: str
    archive: Archive
    cancel: threading.Event


def listing(path: str) -> tuple[str, list[str], int]:
    """(directory, names in it starting with the path's last part, sorted,
    directories with a trailing ``/``; hidden ones only when asked for, and
    the count of all matches). Reads the disk: call it from a worker."""
    d, prefix = os.path.split(path)
    where = d or "."
    try:
        names = sorted(os.listdir(where))
    except OSError:
        return where, [], 0
    names = [n for n in names if n.startswith(prefix) and (prefix.startswith(".") or not n.startswith("."))]
    out = [n + ("/" if os.path.isdir(os.path.join(where, n)) else "") for n in names[:SHOWN]]
    return where, out, len(names)


def completion(path: str, names: list[str], total: int) -> str | None:
    """``path`` completed as far as the listed names agree (None: no more)."""
    if not names or total > len(names):
        return None
    d, prefix = os.path.split(path)
    common = os.path.commonprefix(names)  # noqa: RUF071 - names in one directory: by character, as a shell completes
    if len(common) <= len(prefix):
        return None
    return os.path.join(d, common) if d else common


class CompareDialog(PathDialogBase[CompareChoice]):
    BINDINGS = [Binding("tab", "complete", "Complete", show=False, priority=True)]

    class Listed(Message):
        def __init__(self, path: str, where: str, names: list[str], total: int) -> None:
            self.path, self.where, self.names, self.total = path, where, names, total
            super().__init__()

    class Opened(Message):
        def __init__(self, spec: str, archive: Archive | None, error: str = "", cancel=None) -> None:
            self.spec, self.archive, self.error, self.cancel = spec, archive, error, cancel
            super().__init__()

    def __init__(self, default: str = "") -> None:
        super().__init__("Compare with: a file, a model directory, a URL or hf://ORG/REPO/FILE", default)
        self.cancel: threading.Event | None = None  # an open in progress
        self._listed: tuple[str, list[str], int] | None = None

    def extra(self):
        yield Static(id="listing", classes="preview")

    def _path_problem(self, path: str) -> str | None:
        if not path:
            return "give a path, a URL or hf://ORG/REPO/FILE"
        if is_remote(path):
            return None
        if not os.path.exists(path):
            return f"{shown(path, 60)}: no such file or directory"
        return None

    def _validate(self) -> None:
        super()._validate()
        path = self.query_one("#path", Input).value.strip()
        if is_remote(path) or self.cancel is not None:
            self.query_one("#listing", Static).update("")
            return
        self.run_worker(lambda: self._list(path), thread=True, exclusive=True, group="listing")

    def _list(self, path: str) -> None:
        self.post_message(self.Listed(path, *listing(path)))

    def on_compare_dialog_listed(self, msg: Listed) -> None:
        if msg.path != self.query_one("#path", Input).value.strip():
            return  # typed on since
        self._listed = (msg.path, msg.names, msg.total)
        t = Text()
        for n in msg.names:
            t.append(shown(n, 70) + "\n")
        if msg.total > len(msg.names):
            t.append(f"… {msg.total - len(msg.names):,} more (tab completes when they agree)", style="dim")
        elif not msg.names:
            t.append(f"nothing in {shown(msg.where, 60)} starts so", style="dim")
        self.query_one("#listing", Static).update(t)

    def action_complete(self) -> None:
        box = self.query_one("#path", Input)
        if self._listed is None or self._listed[0] != box.value.strip():
            return
        done = completion(*self._listed)
        if done is not None:
            box.value = done
            box.cursor_position = len(done)

    def confirm(self) -> None:
        if self.cancel is not None:
            return  # opening already
        spec = self.query_one("#path", Input).value.strip()
        cancel = self.cancel = threading.Event()
        self._problem(None)
        self.query_one("#problem", Static).update(Text(f"opening {shown(spec, 60)}… (escape stops)", style="dim"))
        self.query_one("#ok").disabled = True

        def work() -> None:
            try:
                archive = open_archive(spec, cancel=cancel)
            except Cancelled:
                return
            except (IrpaError, OSError) as e:
                first = str(e).splitlines()[0] if str(e) else type(e).__name__
                named = first if spec in first else f"{spec}: {first}"
                self.post_message(self.Opened(spec, None, f"cannot open {named}"))
                return
            if cancel.is_set():
                archive.close()
                return
            self.post_message(self.Opened(spec, archive, cancel=cancel))

        self.run_worker(work, thread=True, exclusive=True, group="open-b")

    def on_compare_dialog_opened(self, msg: Opened) -> None:
        self.cancel = None
        if msg.archive is None:
            self._problem(shown(msg.error, 300))
            return
        self.dismiss(CompareChoice(msg.spec, msg.archive, msg.cancel))

    def action_cancel(self) -> None:
        if self.cancel is not None:
            self.cancel.set()
        self.dismiss(None)
