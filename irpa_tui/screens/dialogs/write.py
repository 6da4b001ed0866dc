"""The write dialog: where, in which format, and what that file will be."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, RadioButton, RadioSet, Static

from irpa_core.display import escape
from irpa_core.errors import IrpaError, PlanError
from irpa_core.formats import registry
from irpa_core.output import Output, Split, format_for, parse_split_size, parse_split_tensors
from irpa_core.shards import shard_paths
from irpa_core.write import beside_files

from ...writing import WriteCheck
from .confirm import ConfirmDialog
from .path import PathDialogBase

if TYPE_CHECKING:
    from irpa_core.output import Format

    CheckKey = tuple[Format, int | None, Split | None]  # format, alignment, split


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteResult:
    """What to write where: the ``Output`` the check built for the path's
    format, its alignment (None: the format's own) and the split asked for
    (None: one file)."""

    path: str
    output: Output
    alignment: int | None
    split: Split | None


def split_fields(split: Split | None) -> tuple[str, str]:
    """The split fields' text (bytes, tensors) that asks for ``split``
    again: a size in the largest unit that divides it (``4G``), as
    ``parse_split_size`` reads it back."""
    if split is None:
        return "", ""
    if split.max_tensors:
        return "", str(split.max_tensors)
    for unit, factor in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if split.max_size % factor == 0:
            return f"{split.max_size // factor}{unit}", ""
    return str(split.max_size), ""


class WriteDialog(PathDialogBase[WriteResult]):
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
    passes. ``previous``: the last write asked for, whose path, format,
    alignment and split it proposes again. Dismissed with a ``WriteResult``."""

    # Room for the GGUF fields and notes on a 40-row terminal (it scrolls beyond).
    DEFAULT_CSS = "WriteDialog > Vertical { max-height: 95%; }"

    @dataclass
    class Checked(Message):
        """A check done by the worker (private to the dialog)."""

        key: CheckKey
        check: WriteCheck

    def __init__(
        self,
        default: str,
        check: Callable[[Format, int | None, Split | None], WriteCheck] | None = None,
        default_alignment: Callable[[Format], int | None] | None = None,
        plan_lines: Sequence[str] = (),
        previous: WriteResult | None = None,
    ):
        super().__init__("Write the edited archive to", previous.path if previous is not None else default)
        self.check = check or (lambda fmt, a, split: WriteCheck(fmt, a, None, problem="nothing to check"))
        self.default_alignment = default_alignment or (lambda fmt: registry.get(fmt).default_alignment)
        self.plan_lines = list(plan_lines)
        self.previous = previous
        self.format: Format = previous.output.format if previous is not None else format_for(default) or "irpa"
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
        last = self.previous
        if last is not None:
            if last.alignment is not None:
                self.query_one("#alignment", Input).value = str(last.alignment)
            size, tensors = split_fields(last.split)
            self.query_one("#split-size", Input).value = size
            self.query_one("#split-tensors", Input).value = tensors

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
        elif beside_problem := self._beside_problem(check, path):
            self._problem(beside_problem)
        elif existing:
            if check.split is None:
                what = "exists: will be replaced when done"
            else:
                what = f"{len(existing)} of the {check.shards} shard files exist: replaced when every shard is done"
            self.query_one("#problem", Static).update(Text(what, style="yellow"))
            self.query_one("#ok", Button).disabled = False
        else:
            self._problem(None)

    def _beside_problem(self, check: WriteCheck, path: str) -> str | None:
        """Why a file that goes beside the output (a pruned checkpoint's
        config.json) cannot be written there, as the write would refuse."""
        if check.output is None or not check.output.beside or not path:
            return None
        try:
            beside_files(check.output, path)
        except IrpaError as e:
            return str(e)
        return None

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
            Text("\n".join(f"warning: {escape(w)}" for w in warnings), style="yellow") if warnings else ""
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
        result = WriteResult(path=path, output=check.output, alignment=check.alignment, split=check.split)
        existing = self._existing(check, path)
        if not existing:
            self.dismiss(result)
            return

        def answer(yes: bool | None) -> None:
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
