"""The frame every dialog of the app shares."""

from __future__ import annotations

from typing import TypeVar

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static
from textual.widgets.button import ButtonVariant

R = TypeVar("R")  # what a dialog gives back


class _Dialog(ModalScreen[R]):
    """What every dialog shares: the frame, escape and the buttons
    (``#ok`` confirms, ``#cancel`` dismisses with None), enter confirms
    unless ``#ok`` is disabled, and ``_problem`` says why it is. The title
    stays at the top and the foot (``buttons``: the problem line and the
    buttons) at the bottom; what is between scrolls when the terminal is
    too small for it (80x24 holds every dialog's buttons)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    _Dialog { align: center middle; }
    _Dialog > Vertical { width: 76; height: auto; max-height: 90%; border: thick $accent;
                         background: $surface; padding: 1 2; overflow-y: auto; }
    _Dialog > Vertical > .title { dock: top; text-style: bold; margin-bottom: 1; }
    _Dialog > Vertical > .foot { dock: bottom; height: auto; }
    _Dialog .problem { color: $error; height: auto; min-height: 1; }
    _Dialog .warning { color: $warning; height: auto; }
    _Dialog .body { height: auto; max-height: 16; }
    _Dialog .ok { color: $success; }
    _Dialog .preview { height: auto; max-height: 10; color: $text-muted; }
    _Dialog Horizontal { height: auto; margin-top: 1; }
    _Dialog Button { margin-right: 2; }
    _Dialog #rename-box.-substitute { border: thick $warning; }
    _Dialog RadioSet { layout: horizontal; width: auto; margin-bottom: 1; }
    _Dialog #one, _Dialog #subst, _Dialog #align-box { height: auto; }
    _Dialog #split-box { margin-top: 0; }
    _Dialog #split-box Static { width: auto; padding: 1 1 0 0; }
    _Dialog #split-size { width: 14; margin-right: 1; }
    _Dialog #split-tensors { width: 9; margin-right: 1; }
    _Dialog #summary { margin-top: 1; }
    """

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _problem(self, text: str | None) -> None:
        label = self.query_one("#problem", Static)
        label.update(Text(text or "", style="red" if text else ""))
        self.query_one("#ok", Button).disabled = bool(text)

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not self.query_one("#ok", Button).disabled:
            self.confirm()

    def confirm(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


def buttons(ok: str, *, no: str = "Cancel", variant: ButtonVariant = "primary") -> Vertical:
    """A dialog's foot: the line saying why it cannot be confirmed
    (``#problem``), then its buttons (``#ok``, ``#cancel``)."""
    return Vertical(
        Static(id="problem", classes="problem"),
        Horizontal(Button(ok, variant=variant, id="ok"), Button(no, id="cancel")),
        classes="foot",
    )
