"""Modal dialogs: splat, rename, write, a path, and a yes/no question.

Each validates as the user types with the engine's own rules
(``check_splat``, ``Plan.apply``) and refuses to confirm while invalid.
"""

from __future__ import annotations

import os

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static

from irpa_core.model import Entry
from irpa_core.plan import Op, check_splat
from irpa_core.splat import splat_warning

from ..editing import EditSession
from ..widgets.lines import one_line


class _Dialog(ModalScreen):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    _Dialog { align: center middle; }
    _Dialog > Vertical { width: 76; height: auto; max-height: 90%; border: thick $accent;
                         background: $surface; padding: 1 2; }
    _Dialog .title { text-style: bold; margin-bottom: 1; }
    _Dialog .problem { color: $error; height: auto; min-height: 1; }
    _Dialog .warning { color: $warning; height: auto; }
    _Dialog .body { height: auto; max-height: 16; }
    _Dialog .ok { color: $success; }
    _Dialog .preview { height: auto; max-height: 10; color: $text-muted; }
    _Dialog Horizontal { height: auto; margin-top: 1; }
    _Dialog Button { margin-right: 2; }
    _Dialog #rename-box.-substitute { border: thick $warning; }
    _Dialog RadioSet { layout: horizontal; width: auto; margin-bottom: 1; }
    _Dialog #one, _Dialog #subst { height: auto; }
    """

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _problem(self, text: str | None) -> None:
        label = self.query_one("#problem", Static)
        label.update(Text(text or "", style="red" if text else ""))
        self.query_one("#ok", Button).disabled = bool(text)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self.confirm()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not self.query_one("#ok", Button).disabled:
            self.confirm()

    def confirm(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


def _buttons(ok: str) -> Horizontal:
    return Horizontal(Button(ok, variant="primary", id="ok"), Button("Cancel", id="cancel"))


class SplatDialog(_Dialog):
    """TYPE=VALUE (empty for zero) for the row, or for every row in view. A
    value whose pattern does not make values of the tensor's dtype (bf16
    onto f32, i8 onto f16) is shown as a warning and must be confirmed."""

    def __init__(self, entry: Entry | None, in_view: list[Entry]):
        super().__init__()
        self.entry = entry
        self.in_view = in_view
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
            yield Static(id="problem", classes="problem")
            yield _buttons("Splat")

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
        self.warning = None if problem else _splat_warning(value, targets)
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
        result = (self.query_one("#value", Input).value.strip(), all_rows)
        if self.warning is None:
            self.dismiss(result)
            return

        def answer(yes) -> None:
            if yes:
                self.dismiss(result)

        self.app.push_screen(ConfirmDialog("Splat anyway?", "Splat anyway", body=Text(self.warning)), answer)


def _splat_warning(value: str, targets: list[Entry]) -> str | None:
    """The engine's warning for the first dtype it applies to, and how many
    of the rows it concerns (computed once per dtype: few in a model)."""
    if not value:
        return None
    per_dtype: dict[str, str | None] = {}
    hit = 0
    first: str | None = None
    for e in targets:
        if e.dtype is None:
            continue
        name = e.dtype.name
        if name not in per_dtype:
            per_dtype[name] = splat_warning(value, e.dtype)
        w = per_dtype[name]
        if w is not None:
            hit += 1
            first = first or w
    if first is None:
        return None
    return first if len(targets) == 1 else f"{first} ({hit:,} of {len(targets):,} rows)"


class RenameDialog(_Dialog):
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
            yield Static(id="problem", classes="problem")
            yield _buttons("Rename")

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
        self.dismiss(self.ops)


def _one(name: str) -> str:
    return one_line(name if len(name) <= 60 else name[:59] + "…")


class PathDialog(_Dialog):
    """One editable path (ctrl+u clears)."""

    BINDINGS = [Binding("ctrl+u", "clear", "Clear", show=False)]

    def __init__(self, title: str, default: str):
        super().__init__()
        self.title_text, self.default = title, default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            yield Input(value=self.default, id="path")
            yield from self.extra()
            yield Static(id="problem", classes="problem")
            yield _buttons("OK")

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

    def confirm(self) -> None:
        self.dismiss(self.query_one("#path", Input).value.strip())


class WriteDialog(PathDialog):
    def __init__(self, default: str):
        super().__init__("Write the edited archive to", default)

    def extra(self):
        yield Static(Text("alignment of tensor data (bytes, power of two)", style="dim"))
        yield Input(value="64", id="alignment")

    def _validate(self) -> None:
        problem = self._path_problem(self.query_one("#path", Input).value.strip())
        if problem is None:
            text = self.query_one("#alignment", Input).value.strip()
            if not text.isdigit() or int(text) < 1 or int(text) & (int(text) - 1):
                problem = f"alignment {text!r} is not a power of two"
            elif os.path.exists(self.query_one("#path", Input).value.strip()):
                self.query_one("#problem", Static).update(Text("exists: will be replaced when done", style="yellow"))
                self.query_one("#ok", Button).disabled = False
                return
        self._problem(problem)

    def confirm(self) -> None:
        path = self.query_one("#path", Input).value.strip()
        result = (path, int(self.query_one("#alignment", Input).value.strip()))
        if not os.path.exists(path):
            self.dismiss(result)
            return

        def answer(yes) -> None:
            if yes:
                self.dismiss(result)

        body = Text.assemble(path, " exists. It is replaced only when the write is complete; until then it is kept.")
        self.app.push_screen(ConfirmDialog("Replace the existing file?", "Replace", body=body), answer)


class DtypeDialog(_Dialog):
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
            yield Static(id="problem", classes="problem")
            yield _buttons("View")

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
        self.dismiss(self._dtype()[1] or "")


class ConfirmDialog(_Dialog):
    BINDINGS = [Binding("y", "yes", "Yes"), Binding("n,escape", "cancel", "No")]

    def __init__(self, question: str, yes: str = "Yes", *, body: Text | None = None, no: str = "No"):
        super().__init__()
        self.question, self.yes, self.body, self.no = question, yes, body, no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, classes="title")
            if self.body is not None:
                yield Static(self.body, classes="body")
            yield Static(id="problem", classes="problem")
            yield Horizontal(Button(self.yes, variant="error", id="ok"), Button(self.no, id="cancel"))

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    def action_yes(self) -> None:
        self.dismiss(True)

    def confirm(self) -> None:
        self.dismiss(True)
