"""The rename dialog: one row, or a substitution in every row in view."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, RadioButton, RadioSet, Static

from irpa_core.display import escape
from irpa_core.plan import Op

from ...editing import EditSession
from .base import _Dialog, buttons


@dataclass(frozen=True, slots=True)
class RenameResult:
    """The rename ops to add to the plan (checked against it)."""

    ops: tuple[Op, ...]


class RenameDialog(_Dialog[RenameResult]):
    """Two modes that look different. "This row": one field, the row's new
    name. "Substitute": text to replace, then what to replace it with, in
    the names of every row in view (the default when a filter shows more
    than one row), with a live preview of the first changes, the count of
    names changed and any collisions; ``re:`` makes "replace" a regular
    expression and "with" may use its groups (``\\1``, ``\\g<name>``).
    ctrl+t switches mode."""

    BINDINGS = [Binding("ctrl+t", "switch", "Switch mode")]
    PREVIEW = 6

    def __init__(self, session: EditSession, index: int | None, in_view: list[int], substitute: bool | None = None):
        super().__init__()
        self.session = session
        self.index = index
        self.in_view = in_view
        can_substitute = len(in_view) > 1 or index is None
        self.substitute = can_substitute if substitute is None or index is None else (substitute and can_substitute)
        self.can_substitute = can_substitute
        self.ops: list[Op] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="rename-box"):
            yield Label(id="rename-title", classes="title")
            if self.index is not None and self.can_substitute:
                with RadioSet(id="mode"):
                    yield RadioButton("this row", value=not self.substitute, id="mode-one")
                    yield RadioButton(f"substitute in all {len(self.in_view):,} rows in view", value=self.substitute)
            with Vertical(id="one"):
                yield Label("new name")
                cur = self.session.fate(self.index).name if self.index is not None else ""
                yield Input(value=cur, placeholder="the row's new name", id="name")
            with Vertical(id="subst"):
                yield Label("replace")
                yield Input(placeholder="text in the names (re:REGEX for a regular expression)", id="old")
                yield Label("with")
                yield Input(placeholder="replacement (with re: groups as \\1 or \\g<name>)", id="new")
                yield Static(id="preview", classes="preview")
            yield buttons("Rename")

    def on_mount(self) -> None:
        self._sync()

    def action_switch(self) -> None:
        if self.index is not None and self.can_substitute:
            self.substitute = not self.substitute
            buttons = list(self.query(RadioButton))
            buttons[1 if self.substitute else 0].value = True
            self._sync()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        substitute = event.radio_set.pressed_index == 1
        if substitute != self.substitute:
            self.substitute = substitute
            self._sync()

    def _sync(self) -> None:
        box = self.query_one("#rename-box")
        box.set_class(self.substitute, "-substitute")
        self.query_one("#one").display = not self.substitute
        self.query_one("#subst").display = self.substitute
        title = self.query_one("#rename-title", Label)
        if self.substitute:
            title.update(Text(f"Substitute in the names of {len(self.in_view):,} rows in view"))
            self.query_one("#old", Input).focus()
        else:
            assert self.index is not None
            title.update(Text.assemble("Rename ", (self.session.archive.entries[self.index].name, "bold")))
            self.query_one("#name", Input).focus()
        self._validate()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._validate()

    def _validate(self) -> None:
        if self.substitute:
            self._validate_substitution()
            return
        assert self.index is not None
        src = self.session.archive.entries[self.index].name
        new = self.query_one("#name", Input).value
        if not new:
            self.ops = []
            self._problem("the new name is empty")
            return
        self.ops = [Op("rename", src, new=new)]
        problem = self.session.check_rename(src, new)
        self._problem(problem or self.session.check_plan(self.session.plan.add(*self.ops)))

    def _validate_substitution(self) -> None:
        old = self.query_one("#old", Input).value
        new = self.query_one("#new", Input).value
        preview = self.query_one("#preview", Static)
        self.ops = []
        if not old:
            preview.update(Text("type the text to replace", style="dim"))
            self._problem("type the text to replace")
            return
        try:
            changes = self.session.substitute(self.in_view, old, new)
        except ValueError as e:
            preview.update("")
            self._problem(str(e))
            return
        collisions = self.session.collisions(changes)
        fate = self.session.fate
        lines = [Text.assemble(_one(fate(i).name), " → ", (_one(n), "bold")) for i, n in changes[: self.PREVIEW]]
        if len(changes) > self.PREVIEW:
            lines.append(Text(f"… and {len(changes) - self.PREVIEW:,} more", style="dim"))
        count = Text(f"{len(changes):,} of {len(self.in_view):,} names change", style="bold")
        if collisions:
            shown = ", ".join(f"'{_one(n)}'" for n in collisions[:3]) + (" …" if len(collisions) > 3 else "")
            count.append(f"; {len(collisions):,} collision{'s' if len(collisions) != 1 else ''}: {shown}", "red")
        preview.update(Text("\n").join([count, *lines]))
        if not changes:
            self._problem("no name in view contains it" if not old.startswith("re:") else "no name in view matches")
            return
        if collisions:
            self._problem("two parameters would have the same name")
            return
        self.ops = [Op("rename", self.session.archive.entries[i].name, new=n) for i, n in changes]
        self._problem(self.session.check_plan(self.session.plan.add(*self.ops)))

    def confirm(self) -> None:
        self.dismiss(RenameResult(tuple(self.ops)))


def _one(name: str) -> str:
    return escape(name if len(name) <= 60 else name[:59] + "…")
