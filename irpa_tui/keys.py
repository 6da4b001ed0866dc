"""The keys of the main screen, in one table: its bindings, the footer,
the help screen and the command palette are all generated from it."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


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


# Footer keys first by what a newcomer needs (they stay visible at 80 columns).
KEYS: tuple[Key, ...] = (
    Key("slash", "filter", "Filter", "filter (see below); enter keeps it, escape clears it", footer=True),
    Key("question_mark", "help", "Help", "this help", footer=True),
    Key("q", "quit", "Quit", "quit (asks when there are unsaved edits)", footer=True),
    Key("i", "info", "Info", "model summary: architecture, sizes, dtype mix per layer group", footer=True),
    Key("h", "heatmap", "Heatmap", "the row's tensor as a heatmap (mean or abs-max per cell, zoomable)", footer=True),
    Key(
        "S",
        "scan",
        "Scan",
        "exact statistics of every tensor: std/absmax/zeros/NaN columns, anomaly flags",
        footer=True,
    ),
    Key(
        "m",
        "metadata",
        "Metadata",
        "file metadata: / searches, g goes to an index, e a d edit, add, delete keys",
        footer=True,
    ),
    Key("space", "toggle_keep", "Keep/Excl", "toggle keep / exclude on the row", footer=True),
    Key("s", "splat", "Splat", "splat the row (or all rows in view) with TYPE=VALUE or zero", footer=True),
    Key("r", "rename", "Rename", "rename the row, or rows in view by substitution", footer=True),
    Key("u", "undo", "Undo", "undo the last edit", footer=True),
    Key("w", "write", "Write", "write the edited archive: .irpa, .gguf or .safetensors", footer=True),
    Key("t", "tree", "Tree", "tree by dotted prefix (right/left open and close groups)", footer=True),
    Key("e", "exclude_view", "Excl view", "exclude every row in view"),
    Key("k", "keep_view", "Keep view", "keep every row in view"),
    Key("x", "strip_view", "Strip view", "strip every row in view to zero splats"),
    Key("c", "cast", "Cast", "cast the row (or every row in view) to a dtype: f16, bf16, f32, Q8_0, ..."),
    Key("U", "redo", "Redo", "redo"),
    Key("v", "verify", "Verify", "verify an archive on disk against these sources and this plan"),
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
