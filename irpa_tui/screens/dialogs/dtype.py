"""The dtype to view an entry's bytes as (``a``)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from irpa_core.dtypes import DType

from .base import _Dialog, buttons


@dataclass(frozen=True, slots=True)
class ViewAs:
    """The dtype chosen (None: as recorded)."""

    dtype: DType | None


class DtypeDialog(_Dialog[ViewAs]):
    """The dtype to view an entry's bytes as (entries without a dtype)."""

    def __init__(self, name: str, current: str = ""):
        super().__init__()
        self.entry_name, self.current = name, current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"View {self.entry_name} as"), classes="title")
            yield Static(
                Text("a dtype: f32, f16, bf16, i8, u8, f8_e4m3fn, Q8_0, Q4_K, ... (empty: as recorded)", style="dim")
            )
            yield Input(value=self.current, id="dtype")
            yield buttons("View")

    def on_mount(self) -> None:
        self.query_one("#dtype", Input).focus()
        self._validate()

    def _dtype(self):
        from irpa_core import dtypes

        text = self.query_one("#dtype", Input).value.strip()
        return text, (dtypes.by_name(text) or dtypes.from_iree(text)) if text else None

    def _validate(self) -> None:
        text, d = self._dtype()
        self._problem(None if not text or d is not None else f"unknown dtype {text!r}")

    def on_input_changed(self, event: Input.Changed) -> None:
        self._validate()

    def confirm(self) -> None:
        self.dismiss(ViewAs(self._dtype()[1]))
