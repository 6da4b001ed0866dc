"""The splat dialog: TYPE=VALUE for a row or every row in view."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button, Checkbox, Input, Label, Static

from irpa_core.dtypes import DType
from irpa_core.model import Entry
from irpa_core.plan import check_splat
from irpa_core.splat import splat_warning_of_rows

from .base import _Dialog, buttons
from .confirm import ConfirmDialog


@dataclass(frozen=True, slots=True, kw_only=True)
class SplatResult:
    """The value (empty: zero bytes), and whether for every row in view."""

    value: str
    all_rows: bool


class SplatDialog(_Dialog[SplatResult]):
    """TYPE=VALUE (empty for zero) for the row, or for every row in view. A
    value whose pattern does not make values of the dtype the tensor is
    written with (bf16 onto f32, i8 onto f16; ``written``: its cast's, else
    its own, as ``irpa convert`` warns) is shown as a warning and must be
    confirmed."""

    def __init__(
        self, entry: Entry | None, in_view: list[Entry], written: Callable[[Entry], DType | None] | None = None
    ):
        super().__init__()
        self.entry = entry
        self.in_view = in_view
        self.written = written or (lambda e: e.dtype)
        self.warning: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            what = self.entry.name if self.entry is not None else f"{len(self.in_view):,} rows in view"
            yield Label(Text.assemble("Splat ", what), classes="title")
            yield Static(
                Text("TYPE=VALUE, e.g. f32=1.0, bf16=0.5, i8=3, x32=CAFEF00D; empty = zero bytes", style="dim")
            )
            yield Input(placeholder="zero", id="value")
            yield Checkbox(
                f"all {len(self.in_view):,} rows in view", value=self.entry is None, id="all", disabled=not self.in_view
            )
            yield Static(id="warning", classes="warning")
            yield buttons("Splat")

    def on_mount(self) -> None:
        self.query_one("#all", Checkbox).display = bool(self.in_view)
        self._validate()
        self.query_one("#value", Input).focus()

    def _targets(self) -> list[Entry]:
        if self.in_view and self.query_one("#all", Checkbox).value:
            return self.in_view
        return [self.entry] if self.entry is not None else []

    def _validate(self) -> None:
        value = self.query_one("#value", Input).value.strip()
        targets = self._targets()
        problem = None if targets else "no parameter selected"
        for e in targets:
            why = check_splat(e, value)
            if why:
                problem = f"{e.name}: {why}"
                break
        self.warning = None if problem else splat_warning_of_rows(value, [self.written(e) for e in targets])
        self.query_one("#warning", Static).update(
            Text.assemble(("warning: ", "bold"), self.warning, style="yellow") if self.warning else ""
        )
        self._problem(problem)
        self.query_one("#ok", Button).label = "Splat anyway…" if self.warning else "Splat"

    def on_input_changed(self, event: Input.Changed) -> None:
        self._validate()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self._validate()

    def confirm(self) -> None:
        all_rows = bool(self.in_view) and self.query_one("#all", Checkbox).value
        result = SplatResult(value=self.query_one("#value", Input).value.strip(), all_rows=all_rows)
        if self.warning is None:
            self.dismiss(result)
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.dismiss(result)

        self.app.push_screen(ConfirmDialog("Splat anyway?", "Splat anyway", body=Text(self.warning)), answer)
