"""The cast dialog: a dtype for a row or every row in view, with the
engine's choices and rules (``irpa_core.cast``)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Checkbox, Input, Label, Static

from irpa_core.cast import cast_check, cast_length_or_none, castable_to
from irpa_core.display import shape_str
from irpa_core.model import Entry

from .base import _Dialog, buttons


@dataclass(frozen=True, slots=True)
class CastResult:
    """The dtype's name (empty: no cast, undoing the rows' casts), and
    whether for every row in view."""

    dtype: str
    all_rows: bool


class CastDialog(_Dialog[CastResult]):
    """The dtype to cast the row, or every row in view, to; checked as typed
    with the engine's rules (``cast.cast_problem`` and the shape checks of
    ``cast_length``). One row that cannot be cast cannot be confirmed; of
    the rows in view, those that cannot stay as they are, as a glob cast
    does, and the dialog says how many and why. Empty: no cast (undoes the
    rows' casts)."""

    def __init__(self, entry: Entry | None, in_view: list[Entry], current: str = "", all_rows: bool = False):
        super().__init__()
        self.entry = entry
        self.in_view = in_view
        self.current = current
        self.all_rows = all_rows or entry is None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(id="cast-title", classes="title")
            yield Static(Text("a dtype, e.g. f16, bf16, f32, f8_e4m3fn, i32, Q8_0; empty: no cast", style="dim"))
            yield Static(id="choices", classes="preview")
            yield Input(value=self.current, placeholder="dtype", id="dtype")
            yield Checkbox(
                f"all {len(self.in_view):,} rows in view", value=self.all_rows, id="all", disabled=not self.in_view
            )
            yield Static(id="info", classes="body")
            yield buttons("Cast")

    def on_mount(self) -> None:
        self.query_one("#all", Checkbox).display = bool(self.in_view)
        if self.entry is not None:
            can = castable_to(self.entry)
            self.query_one("#choices", Static).update(
                Text("can become: " + (" ".join(can) if can else "nothing (no cast applies to it)"), style="dim")
            )
        self._validate()
        self.query_one("#dtype", Input).focus()

    def _title(self, all_rows: bool) -> None:
        """The row (with its dtype and shape and what it can become), or the rows in view."""
        e = self.entry
        if all_rows or e is None:
            title = Text(f"Cast {len(self.in_view):,} rows in view")
        else:
            title = Text.assemble("Cast ", (e.name, "bold"), f"  ({e.dtype_name or 'no dtype'} {shape_str(e.shape)})")
        self.query_one("#cast-title", Label).update(title)
        self.query_one("#choices", Static).display = not all_rows and e is not None

    def _rows(self) -> list[Entry]:
        if self.in_view and self.query_one("#all", Checkbox).value:
            return self.in_view
        return [self.entry] if self.entry is not None else []

    def _validate(self) -> None:
        from irpa_core.display import human
        from irpa_core.plan import cast_dtype

        info = self.query_one("#info", Static)
        info.update("")
        text = self.query_one("#dtype", Input).value.strip()
        rows = self._rows()
        self._title(bool(self.in_view) and self.query_one("#all", Checkbox).value)
        if not rows:
            self._problem("no parameter selected")
            return
        if not text:
            info.update(Text("no cast: the rows keep their own dtype (undoes a cast)", style="dim"))
            self._problem(None)
            return
        dst = cast_dtype(text)
        if dst is None:
            self._problem(f"unknown dtype {text!r}")
            return
        if len(rows) == 1 and not (self.in_view and self.query_one("#all", Checkbox).value):
            e = rows[0]
            why = cast_check(e, dst)
            if why:
                self._problem(f"{e.name}: {why}")
                return
            if e.dtype == dst:
                info.update(Text(f"already {dst.name}: no cast (undoes a cast)", style="dim"))
            else:
                n = cast_length_or_none(e, dst)
                info.update(Text(f"{e.dtype_name} → {dst.name}: {human(e.length)} → {human(n or 0)}"))
            self._problem(None)
            return
        cast: list[Entry] = []
        same = 0
        reasons: dict[str, str] = {}
        before = after = 0
        for e in rows:
            if e.dtype == dst:
                same += 1
                continue
            why = cast_check(e, dst)
            if why:
                reasons.setdefault(why, e.name)
                continue
            cast.append(e)
            before += e.length
            after += cast_length_or_none(e, dst) or 0
        left = len(rows) - len(cast) - same
        lines = [Text(f"{len(cast):,} of {len(rows):,} rows cast to {dst.name}: {human(before)} → {human(after)}")]
        if same:
            lines.append(Text(f"{same:,} already {dst.name}", style="dim"))
        if left:
            why, name = next(iter(reasons.items()))
            lines.append(Text(f"{left:,} stay as they are (as a glob cast leaves them), e.g. {name}: {why}", "yellow"))
        info.update(Text("\n").join(lines))
        self._problem(None if cast or same else f"no row in view can be cast to {dst.name}")

    def on_input_changed(self, event: Input.Changed) -> None:
        self._validate()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self._validate()

    def confirm(self) -> None:
        from irpa_core.plan import cast_dtype

        text = self.query_one("#dtype", Input).value.strip()
        dst = cast_dtype(text) if text else None
        all_rows = bool(self.in_view) and self.query_one("#all", Checkbox).value
        self.dismiss(CastResult(dst.name if dst is not None else "", all_rows))
