"""The keep-blocks dialog: which blocks of the model stay (``0,1``,
``0-3,17``); the others are removed and the rest renumbered, as ``irpa
convert --keep-blocks`` does (the engine's ``prune.removal`` checks it as
the user types)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from irpa_core import blocks
from irpa_core.display import shown
from irpa_core.plan import Op
from irpa_core.prune import removal

from .base import _Dialog, buttons


class BlocksDialog(_Dialog[Op]):
    """A block list to keep, prefilled (the row's block); gives back the
    ``prune_blocks`` op removing the others."""

    def __init__(self, container: str, count: int, default: str):
        super().__init__()
        self.container, self.count, self.default = container, count, default
        self.op: Op | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            what = f"{shown(self.container, 60)}N, {self.count:,} blocks"
            yield Label(Text.assemble("Keep only these blocks (", what, ")"), classes="title")
            yield Static(
                Text(
                    "e.g. 0,1 or 0-3,17: the other blocks are removed and these renumbered 0, 1, ...; "
                    "the block count and per-layer metadata follow",
                    style="dim",
                )
            )
            yield Input(value=self.default, id="blocks")
            yield Static(id="preview", classes="preview")
            yield buttons("Keep these")

    def on_mount(self) -> None:
        self.query_one("#blocks", Input).focus()
        self._validate()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._validate()

    def _validate(self) -> None:
        text = self.query_one("#blocks", Input).value.strip()
        try:
            self.op = removal(text, self.container, self.count, keep=True)
        except ValueError as e:
            self.op = None
            self._problem(str(e))
            self.query_one("#preview", Static).update("")
            return
        removed = blocks.parse_list(self.op.value)
        kept = [b for b in range(self.count) if b not in removed]
        moves = [f"{b}→{blocks.dense(b, removed)}" for b in kept if blocks.dense(b, removed) != b]
        line = f"keeps {len(kept):,} of {self.count:,} blocks, removes {self.op.value}"
        if moves:
            line += "; renumbered " + ", ".join(moves[:8]) + (", …" if len(moves) > 8 else "")
        self.query_one("#preview", Static).update(Text(line))
        self._problem(None)

    def confirm(self) -> None:
        if self.op is not None:
            self.dismiss(self.op)
