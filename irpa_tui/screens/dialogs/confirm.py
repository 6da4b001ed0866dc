"""A yes/no question."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Button, Label, Static

from .base import _Dialog, buttons


class ConfirmDialog(_Dialog[bool]):
    """``question``, its ``body`` and two buttons: True for yes (``y``)."""

    BINDINGS = [Binding("y", "yes", "Yes"), Binding("n,escape", "cancel", "No")]

    def __init__(self, question: str, yes: str = "Yes", *, body: Text | None = None, no: str = "No"):
        super().__init__()
        self.question, self.yes, self.body, self.no = question, yes, body, no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, classes="title")
            if self.body is not None:
                yield Static(self.body, classes="body")
            yield buttons(self.yes, no=self.no, variant="error")

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    def action_yes(self) -> None:
        self.dismiss(True)

    def confirm(self) -> None:
        self.dismiss(True)
