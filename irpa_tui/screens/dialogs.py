"""Modal dialogs: splat, rename, write, a path, and a yes/no question.

Each validates as the user types with the engine's own rules
(``check_splat``, ``Plan.apply``) and refuses to confirm while invalid.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Select, Static, TextArea

from irpa_core.display import escape, shape_str
from irpa_core.errors import PlanError
from irpa_core.formats import registry
from irpa_core.model import Entry
from irpa_core.output import Split, format_for, parse_split_size, parse_split_tensors
from irpa_core.plan import Op, check_splat
from irpa_core.shards import shard_paths
from irpa_core.splat import splat_warning

from ..editing import EditSession
from ..writing import WriteCheck

if TYPE_CHECKING:
    from irpa_core.output import Format

    CheckKey = tuple[Format, int | None, Split | None]  # format, alignment, split


class _Dialog(ModalScreen):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    _Dialog { align: center middle; }
    _Dialog > Vertical { width: 76; height: auto; max-height: 90%; border: thick $accent;
                         background: $surface; padding: 1 2; overflow-y: auto; }
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
    return escape(name if len(name) <= 60 else name[:59] + "…")


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
    """Where and in which format to write, and what that file will be.

    The format follows the typed extension (``.gguf`` selects gguf) and
    choosing a format changes a known extension; another extension is
    written in the chosen format (as ``irpa convert --format``). The
    alignment field shows only where it applies (irpa data, a GGUF's
    ``general.alignment``); the split fields only for GGUF (at most N bytes
    or N tensors per shard, as ``--split-max-size``/``--split-max-tensors``
    take them: the shards are named as gguf-split names them, after the
    path). Before confirming, ``check`` (a worker:
    ``writing.check_output``) says the real file size and what the format
    does to the plan, or gives the engine's refusal, which cannot be
    confirmed. Enter while the check runs confirms when it is done, if it
    passes. Dismissed with ``(path, output, alignment, split)``."""

    # Room for the GGUF fields and notes on a 40-row terminal (it scrolls beyond).
    DEFAULT_CSS = "WriteDialog > Vertical { max-height: 95%; }"

    class Checked(Message):
        def __init__(self, key: CheckKey, check: WriteCheck) -> None:
            self.key, self.check = key, check
            super().__init__()

    def __init__(
        self,
        default: str,
        check: Callable[[Format, int | None, Split | None], WriteCheck] | None = None,
        default_alignment: Callable[[Format], int | None] | None = None,
        plan_lines: Sequence[str] = (),
    ):
        super().__init__("Write the edited archive to", default)
        self.check = check or (lambda fmt, a, split: WriteCheck(fmt, a, None, problem="nothing to check"))
        self.default_alignment = default_alignment or (lambda fmt: registry.get(fmt).default_alignment)
        self.plan_lines = list(plan_lines)
        self.format: Format = format_for(default) or "irpa"
        self.checks: dict[CheckKey, WriteCheck] = {}
        self.pending: set[CheckKey] = set()
        self.confirm_when_checked = False

    def extra(self):
        with RadioSet(id="format"):
            for fmt in registry.NAMES:
                yield RadioButton(fmt, value=fmt == self.format, id=f"fmt-{fmt}")
        with Vertical(id="align-box"):
            yield Static(id="align-label")
            yield Input(id="alignment")
        with Horizontal(id="split-box"):
            yield Static("split: at most")
            yield Input(placeholder="e.g. 4G", id="split-size")
            yield Static("bytes or")
            yield Input(placeholder="N", id="split-tensors")
            yield Static("tensors per shard")
        if self.plan_lines:
            yield Static(Text("\n".join(self.plan_lines), style="dim"), id="plan-lines")
        yield Static(id="summary", classes="body")
        yield Static(id="warning", classes="warning")

    def on_mount(self) -> None:  # before PathDialog's (Textual calls both), which validates
        self._set_alignment_field()

    # -- format, alignment and split --------------------------------------

    def _set_alignment_field(self) -> None:
        default = self.default_alignment(self.format)
        self.query_one("#align-box").display = default is not None
        key = registry.get(self.format).alignment_key
        what = f"tensor data ({key})" if key else "tensor data"
        self.query_one("#align-label", Static).update(Text(f"alignment of {what}: bytes, a power of two", style="dim"))
        self.query_one("#alignment", Input).value = "" if default is None else str(default)
        # (what was typed stays, for a way back)
        self.query_one("#split-box").display = registry.get(self.format).shards

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        fmt = registry.NAMES[event.radio_set.pressed_index]
        if fmt == self.format:
            return
        self.format = fmt
        box = self.query_one("#path", Input)
        path = box.value
        if format_for(path) not in (None, fmt):
            box.value = os.path.splitext(path)[0] + "." + fmt  # follows the choice
        self._set_alignment_field()
        self._validate()

    def on_input_changed(self, event: Input.Changed) -> None:
        # (PathDialog's handler then validates.)
        if event.input.id == "path":
            fmt = format_for(event.value.strip())
            if fmt is not None and fmt != self.format:
                self.query_one(f"#fmt-{fmt}", RadioButton).value = True  # posts RadioSet.Changed

    def _alignment(self) -> tuple[int | None, str | None]:
        """(alignment chosen or None for the format's own, problem)."""
        default = self.default_alignment(self.format)
        if default is None:
            return None, None
        text = self.query_one("#alignment", Input).value.strip()
        if not text.isdigit() or int(text) < 1 or int(text) & (int(text) - 1):
            return None, f"alignment {text!r} is not a power of two"
        a = int(text)
        return (None if a == default else a), None

    def _split(self) -> tuple[Split | None, str | None]:
        """(the split asked for or None for one file, problem), with the
        command line's syntax and reasons; only a GGUF is split."""
        if not registry.get(self.format).shards:
            return None, None
        size = self.query_one("#split-size", Input).value.strip()
        tensors = self.query_one("#split-tensors", Input).value.strip()
        if size and tensors:
            return None, "split by size or by tensor count: give one of them, not both (as gguf-split)"
        try:
            if size:
                return Split(max_size=parse_split_size(size)), None
            if tensors:
                return Split(max_tensors=parse_split_tensors(tensors)), None
        except PlanError as e:
            what = "bytes per shard" if size else "tensors per shard"
            return None, f"split: {what} {size or tensors!r}: {e.reason}"
        return None, None

    def _choice(self) -> tuple[CheckKey, str | None]:
        """What the fields ask for, as the key of its check, and what is wrong with them."""
        alignment, align_problem = self._alignment()
        split, split_problem = self._split()
        return (self.format, alignment, split), align_problem or split_problem

    # -- checking ---------------------------------------------------------

    def _validate(self) -> None:
        path = self.query_one("#path", Input).value.strip()
        key, choice_problem = self._choice()
        problem = self._path_problem(path) or choice_problem
        check = None if choice_problem else self.checks.get(key)
        if check is None and key not in self.pending and not choice_problem:
            self.pending.add(key)
            fmt, alignment, split = key
            self.run_worker(
                lambda: self.post_message(self.Checked(key, self.check(fmt, alignment, split))), thread=True
            )
        self._show(check, path)
        existing = self._existing(check, path) if check is not None else []
        if problem:
            self._problem(problem)
        elif check is None:
            self.query_one("#problem", Static).update(Text("checking the output for this format…", style="dim"))
            self.query_one("#ok", Button).disabled = True
        elif check.problem:
            self._problem(check.problem)
            if "--cast=" in check.problem:
                hint = "\nc on the main screen casts a row (or every row in view)"
                self.query_one("#problem", Static).update(Text.assemble((check.problem, "red"), (hint, "dim")))
        elif existing:
            if check.split is None:
                what = "exists: will be replaced when done"
            else:
                what = f"{len(existing)} of the {check.shards} shard files exist: replaced when every shard is done"
            self.query_one("#problem", Static).update(Text(what, style="yellow"))
            self.query_one("#ok", Button).disabled = False
        else:
            self._problem(None)

    def _existing(self, check: WriteCheck, path: str) -> list[str]:
        """The files the write would replace: ``path``, or the shards' names."""
        names = shard_paths(path, check.shards) if check.split is not None and path else [path]
        return [p for p in names if os.path.exists(p)]

    def _show(self, check: WriteCheck | None, path: str) -> None:
        lines = list(check.notes) if check is not None else []
        if check is not None and format_for(path) is None and path:
            lines.append(f"the name's extension does not say the format: written as {check.format}")
        if check is not None and check.split is not None and check.output is not None and path:
            paths = shard_paths(path, check.shards)
            line = f"written as {escape(os.path.basename(paths[0]))}"
            if len(paths) > 1:  # the last by its number (-00005-of-00005.gguf): the set on one line
                line += " to -" + "-".join(escape(paths[-1]).rsplit("-", 3)[1:])
            lines.append(line)
        self.query_one("#summary", Static).update(Text("\n".join(lines)))
        warnings = list(check.warnings) if check is not None else []
        self.query_one("#warning", Static).update(
            Text("\n".join(f"warning: {w}" for w in warnings), style="yellow") if warnings else ""
        )

    def on_write_dialog_checked(self, msg: Checked) -> None:
        self.pending.discard(msg.key)
        self.checks[msg.key] = msg.check
        self._validate()
        if self.confirm_when_checked and self._current() is not None:
            self.confirm_when_checked = False
            if not self.query_one("#ok", Button).disabled:
                self.confirm()

    def _current(self) -> WriteCheck | None:
        key, problem = self._choice()
        return None if problem else self.checks.get(key)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self._current() is None and self._choice()[1] is None:
            self.confirm_when_checked = True  # confirmed when the check is done (if it passes)
            event.prevent_default()  # (else _Dialog's handler runs too)

    def confirm(self) -> None:
        path = self.query_one("#path", Input).value.strip()
        check = self._current()
        if check is None or check.output is None:
            return
        result = (path, check.output, check.alignment, check.split)
        existing = self._existing(check, path)
        if not existing:
            self.dismiss(result)
            return

        def answer(yes) -> None:
            if yes:
                self.dismiss(result)

        if check.split is None:
            question = "Replace the existing file?"
            kept = " exists. It is replaced only when the write is complete; until then it is kept."
            body = Text.assemble(path, kept)
        else:
            question = "Replace existing shard files?"
            shown = "\n".join(existing[:5]) + (f"\nand {len(existing) - 5:,} more" if len(existing) > 5 else "")
            body = Text.assemble(
                shown,
                "\nexist. They are replaced only when every shard is complete; until then they are kept.",
            )
        self.app.push_screen(ConfirmDialog(question, "Replace", body=body), answer)


class CastDialog(_Dialog):
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
            yield Static(id="problem", classes="problem")
            yield _buttons("Cast")

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

        from ..editing import cast_check

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
        self.dismiss((dst.name if dst is not None else "", all_rows))


# What a cast dialog offers (the engine decides which apply to a row).
CAST_CHOICES = (
    "f32", "f16", "bf16", "f64", "f8_e4m3fn", "f8_e5m2", "f8_e4m3fnuz", "f8_e5m2fnuz", "f8_e8m0fnu",
    "i16", "i32", "i64", "u16", "u32", "u64", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
)  # fmt: skip


def castable_to(e: Entry) -> list[str]:
    """The dtypes of ``CAST_CHOICES`` the engine can cast ``e`` to."""
    from irpa_core import dtypes

    from ..editing import cast_check

    out = []
    for name in CAST_CHOICES:
        d = dtypes.by_name(name)
        if d is not None and e.dtype is not None and d != e.dtype and cast_check(e, d) is None:
            out.append(name)
    return out


def cast_length_or_none(e: Entry, dst) -> int | None:
    from irpa_core.cast import cast_length
    from irpa_core.errors import PlanError

    try:
        return cast_length(e, dst)
    except PlanError:
        return None


@dataclass(frozen=True)
class MetadataInput:
    """What the metadata dialog gives back."""

    key: str
    type: str  # GGUF type name of the value
    value: str  # the value as text (parse_value reads it)
    changed: bool  # whether the text differs from what the dialog started with


class MetadataDialog(_Dialog):
    """Edit a file metadata value (``key`` given, its type kept) or add a
    key (``key`` None: a key field, and a type choice from ``types``).
    Strings and arrays (a JSON list) are edited in a multi-line editor, so a
    chat template keeps its newlines; numbers and bools in one line. As the
    user types, ``check(key, type, text)`` (the engine's own parsing, through
    the session) says why the value cannot be set, and it cannot be
    confirmed then. ctrl+s confirms from anywhere (enter in the editor is a
    new line)."""

    BINDINGS = [Binding("ctrl+s", "confirm", "Set", priority=True)]
    DEFAULT_CSS = """
    MetadataDialog > Vertical { width: 100; max-width: 95%; }
    MetadataDialog > Vertical.-multi { height: 90%; max-height: 40; }
    MetadataDialog #text { height: 1fr; min-height: 3; }
    MetadataDialog #type { width: 30; }
    MetadataDialog .field { height: auto; }
    """

    def __init__(
        self,
        title: Text,
        key: str | None,
        type_name: str,
        text: str,
        types: Sequence[str] | None,
        check: Callable[[str, str, str], str | None],
    ):
        super().__init__()
        self.title_text, self.key, self.type_name, self.text = title, key, type_name, text
        self.types = types
        self.check = check
        self.initial = text  # the editor's own text at start (it may normalise line ends)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            if self.key is None:
                yield Label("key")
                yield Input(placeholder="e.g. general.name, tokenizer.chat_template", id="key")
            if self.types is not None and len(self.types) > 1:
                yield Label("type")
                yield Select([(t, t) for t in self.types], value=self.type_name, allow_blank=False, id="type")
            else:
                yield Label(Text(f"type: {self.type_name}" + ("" if self.key is None else " (kept)"), style="dim"))
            yield Static(id="hint", classes="preview")
            yield TextArea(self.text, id="text")
            yield Input(self.text, id="line")
            yield Static(id="info", classes="preview")
            yield Static(id="problem", classes="problem")
            yield Static(Text("ctrl+s sets it   tab moves   escape cancels", style="dim"))
            yield _buttons("Add" if self.key is None else "Set")

    def on_mount(self) -> None:
        self.initial = self.query_one("#text", TextArea).text if self._multiline() else self.text
        self._sync()
        first = "#key" if self.key is None else ("#text" if self._multiline() else "#line")
        self.query_one(first).focus()

    def _multiline(self) -> bool:
        return self.type_name == "string" or self.type_name.startswith("array")

    def _sync(self) -> None:
        multi = self._multiline()
        self.query_one(Vertical).set_class(multi, "-multi")
        self.query_one("#text", TextArea).display = multi
        self.query_one("#line", Input).display = not multi
        self.query_one("#hint", Static).update(Text(_type_hint(self.type_name), style="dim"))
        self._validate()

    def _value(self) -> str:
        return self.query_one("#text", TextArea).text if self._multiline() else self.query_one("#line", Input).value

    def _key(self) -> str:
        return self.query_one("#key", Input).value if self.key is None else self.key

    def _validate(self) -> None:
        value = self._value()
        lines = value.count("\n") + 1 if value else 0
        info = f"{len(value):,} characters" + (f", {lines:,} lines" if lines > 1 else "")
        self.query_one("#info", Static).update(Text(info, style="dim"))
        self._problem(self.check(self._key(), self.type_name, value))

    def on_select_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.type_name:
            # Carry the text over to the other editor.
            value = self._value()
            self.type_name = event.value
            if self._multiline():
                self.query_one("#text", TextArea).text = value
            else:
                self.query_one("#line", Input).value = value
            self._sync()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._validate()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._validate()

    def action_confirm(self) -> None:
        if not self.query_one("#ok", Button).disabled:
            self.confirm()

    def confirm(self) -> None:
        value = self._value()
        self.dismiss(MetadataInput(self._key(), self.type_name, value, value != self.initial))


def _type_hint(type_name: str) -> str:
    if type_name == "string":
        return "text, kept exactly (newlines and quotes included)"
    if type_name == "bool":
        return "true or false"
    if type_name in ("f32", "f64"):
        return "a number (1e-5, 0.5, nan, inf)"
    if type_name.startswith("array"):
        return f"{type_name}: a JSON list, e.g. " + ('["a", "b"]' if "string" in type_name else "[1, 2, 3]")
    return f"an integer ({type_name}; 0x.. for hex)"


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
