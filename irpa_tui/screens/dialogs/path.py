"""A dialog for one path (save the plan, verify a file), and the base of
the write dialog."""

from __future__ import annotations

import os

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label

from .base import R, _Dialog, buttons


class PathDialogBase(_Dialog[R]):
    """One editable path (ctrl+u clears) and what a subclass adds below it
    (``extra``); ``confirm`` says what it gives back."""

    BINDINGS = [Binding("ctrl+u", "clear", "Clear", show=False)]

    def __init__(self, title: str, default: str):
        super().__init__()
        self.title_text, self.default = title, default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            yield Input(value=self.default, id="path")
            yield from self.extra()
            yield buttons("OK")

    def extra(self):
        return []

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()
        self._validate()

    def action_clear(self) -> None:
        self.query_one("#path", Input).value = ""

    def on_input_changed(self, event: Input.Changed) -> None:
        self._validate()

    def _path_problem(self, path: str) -> str | None:
        if not path:
            return "the path is empty"
        d = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(d):
            return f"directory {d} does not exist"
        if os.path.isdir(path):
            return "is a directory"
        return None

    def _validate(self) -> None:
        self._problem(self._path_problem(self.query_one("#path", Input).value.strip()))


class PathDialog(PathDialogBase[str]):
    """One editable path: given back as typed, stripped."""

    def confirm(self) -> None:
        self.dismiss(self.query_one("#path", Input).value.strip())
