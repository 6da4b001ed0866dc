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
from textual.widgets import Button, Checkbox, Input, Label, Static

from irpa_core.model import Entry
from irpa_core.plan import Op, check_splat

from ..editing import EditSession


class _Dialog(ModalScreen):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    _Dialog { align: center middle; }
    _Dialog > Vertical { width: 76; height: auto; max-height: 90%; border: thick $accent;
                         background: $surface; padding: 1 2; }
    _Dialog .title { text-style: bold; margin-bottom: 1; }
    _Dialog .problem { color: $error; height: auto; min-height: 1; }
    _Dialog .ok { color: $success; }
    _Dialog .preview { height: auto; max-height: 10; color: $text-muted; }
    _Dialog Horizontal { height: auto; margin-top: 1; }
    _Dialog Button { margin-right: 2; }
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
    """TYPE=VALUE (empty for zero) for the row, or for every row in view."""

    def __init__(self, entry: Entry | None, in_view: list[Entry]):
        super().__init__()
        self.entry = entry
        self.in_view = in_view

    def compose(self) -> ComposeResult:
        with Vertical():
            what = self.entry.name if self.entry is not None else f"{len(self.in_view):,} rows in view"
            yield Label(f"Splat {what}", classes="title")
            yield Static(
                Text("TYPE=VALUE, e.g. f32=1.0, bf16=0.5, i8=3, x32=CAFEF00D; empty = zero bytes", style="dim")
            )
            yield Input(placeholder="zero", id="value")
            yield Checkbox(
                f"all {len(self.in_view):,} rows in view", value=self.entry is None, id="all", disabled=not self.in_view
            )
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
        self._problem(problem)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._validate()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self._validate()

    def confirm(self) -> None:
        all_rows = bool(self.in_view) and self.query_one("#all", Checkbox).value
        self.dismiss((self.query_one("#value", Input).value.strip(), all_rows))


class RenameDialog(_Dialog):
    """A new name for the row; with a filter active, ``old -> new``
    substitution over every row in view, previewed live."""

    def __init__(self, session: EditSession, index: int | None, in_view: list[int]):
        super().__init__()
        self.session = session
        self.index = index
        self.in_view = in_view
        self.ops: list[Op] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            if self.index is not None:
                cur = self.session.fate(self.index).name
                yield Label(f"Rename {self.session.archive.entries[self.index].name}", classes="title")
            else:
                cur = ""
                yield Label("Rename rows in view", classes="title")
            yield Input(value=cur, placeholder="new name", id="new")
            yield Checkbox(f"substitute in all {len(self.in_view):,} rows in view", value=self.index is None, id="all")
            yield Input(placeholder="replace this text (e.g. blk.)", id="old")
            yield Static(id="preview", classes="preview")
            yield Static(id="problem", classes="problem")
            yield _buttons("Rename")

    def on_mount(self) -> None:
        self.query_one("#all", Checkbox).display = bool(self.in_view)
        self._sync()

    def _bulk(self) -> bool:
        return bool(self.in_view) and self.query_one("#all", Checkbox).value

    def _sync(self) -> None:
        bulk = self._bulk()
        self.query_one("#old", Input).display = bulk
        self.query_one("#new", Input).placeholder = "with this text (e.g. layers.)" if bulk else "new name"
        (self.query_one("#old", Input) if bulk else self.query_one("#new", Input)).focus()
        self._validate()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if (
            self._bulk()
            and self.index is not None
            and self.query_one("#new", Input).value == self.session.fate(self.index).name
        ):
            self.query_one("#new", Input).value = ""
        self._sync()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._validate()

    def _validate(self) -> None:
        new = self.query_one("#new", Input).value
        preview = self.query_one("#preview", Static)
        if self._bulk():
            old = self.query_one("#old", Input).value
            self.ops = self.session.rename_ops(self.in_view, old, new) if old else []
            lines = [f"{o.pattern} -> {o.new}" for o in self.ops[:6]]
            if len(self.ops) > 6:
                lines.append(f"… and {len(self.ops) - 6:,} more")
            preview.update("\n".join(lines) or Text("type the text to replace", style="dim"))
            if not self.ops:
                self._problem("nothing to rename" if old else "type the text to replace")
                return
        elif self.index is not None:
            src = self.session.archive.entries[self.index].name
            preview.update("")
            if not new:
                self.ops = []
                self._problem("the new name is empty")
                return
            self.ops = [Op("rename", src, new=new)]
            problem = self.session.check_rename(src, new)
            if problem:
                self._problem(problem)
                return
        self._problem(self.session.check_plan(self.session.plan.add(*self.ops)))

    def confirm(self) -> None:
        self.dismiss(self.ops)


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
        self.dismiss(
            (self.query_one("#path", Input).value.strip(), int(self.query_one("#alignment", Input).value.strip()))
        )


class DtypeDialog(_Dialog):
    """The dtype to view an entry's bytes as (entries without a dtype)."""

    def __init__(self, name: str, current: str = ""):
        super().__init__()
        self.entry_name, self.current = name, current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"View {self.entry_name} as", classes="title")
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

    def __init__(self, question: str, yes: str = "Yes"):
        super().__init__()
        self.question, self.yes = question, yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, classes="title")
            yield Static(id="problem", classes="problem")
            yield Horizontal(Button(self.yes, variant="error", id="ok"), Button("No", id="cancel"))

    def action_yes(self) -> None:
        self.dismiss(True)

    def confirm(self) -> None:
        self.dismiss(True)
