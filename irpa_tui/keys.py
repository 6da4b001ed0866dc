"""The keys of the main screen, in one table: its bindings, the footer,
the help screen and the command palette are all generated from it. The
other screens' help and palette commands come from their own ``BINDINGS``
(``screen_keys``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from textual.actions import parse as parse_action
from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen


@dataclass(frozen=True)
class Key:
    """One key of the main screen."""

    key: str
    action: str  # BrowseScreen.action_<action>
    label: str  # footer and palette
    help: str
    args: tuple[str, ...] = ()
    footer: bool = False

    @property
    def binding_action(self) -> str:
        return f"{self.action}({', '.join(map(repr, self.args))})" if self.args else self.action

    @property
    def display(self) -> str:
        return {"slash": "/", "question_mark": "?", "space": "space"}.get(self.key, self.key)


# The footer holds what a newcomer needs and fits 80 columns (the palette's
# key included); `?` and ctrl+p list every key. Footer keys first.
KEYS: tuple[Key, ...] = (
    Key("slash", "filter", "Filter", "filter (see below); enter keeps it, escape clears it", footer=True),
    Key("question_mark", "help", "Help", "this help", footer=True),
    Key("space", "toggle_keep", "Keep/Excl", "toggle keep / exclude on the row", footer=True),
    Key("u", "undo", "Undo", "undo the last edit", footer=True),
    Key("w", "write", "Write", "write the edited archive: .irpa, .gguf or .safetensors", footer=True),
    Key("i", "info", "Info", "model summary: architecture, sizes, dtype mix per layer group", footer=True),
    Key("q", "quit", "Quit", "quit (asks when there are unsaved edits)", footer=True),
    Key(
        "m",
        "metadata",
        "Metadata",
        "file metadata: / searches, g goes to an index, e a d edit, add, delete keys",
    ),
    Key(
        "k",
        "tokenizer",
        "Tokenizer",
        "the tokenizer: vocabulary (search text, /regex/, #id), tokens as you type, the chat template's prompt "
        "and audit",
    ),
    Key("h", "heatmap", "Heatmap", "the row's tensor as a heatmap (mean or abs-max per cell, zoomable)"),
    Key("S", "scan", "Scan", "exact statistics of every tensor: std/absmax/zeros/NaN columns, anomaly flags"),
    Key("s", "splat", "Splat", "splat the row (or all rows in view) with TYPE=VALUE or zero"),
    Key("r", "rename", "Rename", "rename the row, or rows in view by substitution"),
    Key("t", "tree", "Tree", "tree by dotted prefix (right/left open and close groups)"),
    Key("B", "keep_blocks", "Keep blocks", "keep only the row's block (or a list: 0,1); remove the others, renumber"),
    Key("e", "exclude_view", "Excl view", "exclude every row in view"),
    Key("K", "keep_view", "Keep view", "keep every row in view"),
    Key("x", "strip_view", "Strip view", "strip every row in view to zero splats"),
    Key("c", "cast", "Cast", "cast the row (or every row in view) to a dtype: f16, bf16, f32, Q8_0, ..."),
    Key("U", "redo", "Redo", "redo"),
    Key("v", "verify", "Verify", "verify an archive on disk against these sources and this plan"),
    Key("D", "compare", "Compare", "compare with a second file (path, URL, hf://): verdicts per tensor pair"),
    Key("ctrl+s", "save_plan", "Save plan", "save the edit plan as JSON (replay: irpa convert --plan)"),
    Key("n", "sort", "Sort name", "sort by name (natural order: layer.2 before layer.10)", ("name",)),
    Key("z", "sort", "Sort size", "sort by size, largest first", ("size",)),
    Key("d", "sort", "Sort dtype", "sort by dtype", ("dtype",)),
    Key("f", "sort", "File order", "back to file order", ("file",)),
    Key("o", "next_sort", "Next sort", "cycle the sorts (std, absmax, zeros, NaN/Inf after a scan); or click a title"),
    Key("p", "pane", "Pane", "show or hide the detail pane"),
    Key("b", "bins", "Bin counts", "show or hide the histogram's bin counts in the detail pane"),
    Key("a", "view_as", "View as", "view the row's bytes as a chosen dtype (for entries without one)"),
    Key("F", "fetch_exact", "Fetch exact", "remote tensor over 64 MiB: fetch all of it for the exact statistics"),
    Key("escape", "escape", "Cancel", "clear the filter, else cancel the statistics pass, else the scan"),
)


def bindings() -> list[BindingType]:
    """The main screen's bindings (``q`` is the app's quit, which asks
    first when there are unsaved edits)."""
    return [
        Binding(k.key, "app.quit" if k.action == "quit" else k.binding_action, k.label, show=k.footer,
                key_display=k.display)
        for k in KEYS
    ]  # fmt: skip


# -- the other screens: their help and palette from their own BINDINGS ----------

HELP_BINDING = Binding("question_mark", "help", "Help", key_display="?", tooltip="this help")


def screen_keys(screen: Screen) -> list[tuple[str, Binding]]:
    """The keys a screen other than the main one declares (its own
    ``BINDINGS``, once per description, those it allows now), with the key
    shown for each: what its ``?`` help lists and the palette offers. A
    binding's ``tooltip`` is its longer help."""
    out: list[tuple[str, Binding]] = []
    seen: set[str] = set()
    for b in type(screen).BINDINGS:
        assert isinstance(b, Binding)  # (the screens declare Bindings, not tuples)
        if not b.description or b.description in seen:
            continue
        namespace, name, params = parse_action(b.action)
        if not namespace and screen.check_action(name, params) is False:
            continue
        seen.add(b.description)
        out.append((b.key_display or screen.app.get_key_display(b), b))
    return out


def show_help(screen: Screen, title: str) -> None:
    """``?`` on a screen other than the main one: its keys."""
    from .screens.info import HelpScreen

    rows = [(key, b.tooltip or b.description) for key, b in screen_keys(screen)]
    screen.app.push_screen(HelpScreen(rows, title=title, filter_help=False))


def screen_commands(screen: Screen) -> Iterator[SystemCommand]:
    """The palette's commands on a screen other than the main one: its keys."""
    for key, b in screen_keys(screen):
        yield SystemCommand(
            f"{b.description} ({key})", b.tooltip or b.description, partial(screen.run_action, b.action)
        )
