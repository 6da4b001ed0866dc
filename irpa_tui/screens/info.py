"""Read-only screens: file metadata, help, and the error screen."""

from __future__ import annotations

import json

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static, Tree

from irpa_core import read_bytes
from irpa_core.formats.gguf import GGUFArray
from irpa_core.model import Archive

# Archive-level JSON blobs that model-packaging tools store as entries.
KNOWN_JSON_ENTRIES = ("__SHARK_DATASET__", "__SHARK_INFERENCE_TENSORS__")
ARRAY_PREVIEW = 8
ARRAY_PAGE = 200


class MetadataScreen(Screen):
    """GGUF key/values, safetensors ``__metadata__`` and known JSON entries.
    Long GGUF arrays show their first items; expanding one loads a page."""

    BINDINGS = [Binding("escape,q,m", "app.pop_screen", "Back")]

    def __init__(self, archive: Archive):
        super().__init__()
        self.archive = archive

    def compose(self) -> ComposeResult:
        tree: Tree = Tree("metadata", id="meta-tree")
        tree.show_root = False
        for f in self.archive.files:
            node = tree.root.add(Text.assemble((f.format, "bold"), "  ", _basename(f.path)), expand=True)
            if not f.metadata:
                node.add_leaf(Text("(no file metadata)", style="dim"))
            for key, value in f.metadata.items():
                if isinstance(value, GGUFArray):  # lazy: items read when shown
                    label = Text.assemble((key, "bold"), f"  [{value.type_name} x {value.count:,}]")
                    arr = tree_node = node.add(label, data=("array", value))
                    for k, item in enumerate(value.items(ARRAY_PREVIEW)):
                        arr.add_leaf(f"[{k}] {item!r}")
                    if value.count > ARRAY_PREVIEW:
                        tree_node.add_leaf(
                            Text(f"… {value.count - ARRAY_PREVIEW:,} more (enter to load)", style="dim"),
                            data=("more", value, ARRAY_PREVIEW),
                        )
                else:
                    node.add_leaf(Text.assemble((key, "bold"), " = ", _scalar(value)))
        for e in self.archive.entries:
            if e.name in KNOWN_JSON_ENTRIES and e.kind == "data" and e.length < (4 << 20):
                node = tree.root.add(Text.assemble(("entry ", "bold"), e.name), expand=True)
                try:
                    doc = json.loads(read_bytes(e).rstrip(b"\0").decode("utf-8"))
                    _add_json(node, doc)
                except (ValueError, UnicodeDecodeError, OSError) as err:
                    node.add_leaf(Text(f"not JSON: {err}", style="red"))
        yield Static(Text("File metadata", style="bold"), classes="title")
        yield tree
        yield Footer()

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        data = event.node.data
        if isinstance(data, tuple) and data[0] == "more":
            _, arr, start = data
            parent = event.node.parent
            assert parent is not None
            event.node.remove()
            items = _slice(arr, start, start + ARRAY_PAGE)
            for k, item in enumerate(items, start):
                parent.add_leaf(f"[{k}] {item!r}")
            end = start + len(items)
            if end < arr.count:
                parent.add_leaf(
                    Text(f"… {arr.count - end:,} more (enter to load)", style="dim"), data=("more", arr, end)
                )


def _slice(arr, start, stop):
    return arr.items(stop)[start:stop]


def _scalar(v) -> str:
    s = repr(v) if isinstance(v, str) else str(v)
    return s if len(s) < 200 else s[:200] + "…"


def _add_json(node, doc, depth=0):
    if isinstance(doc, dict):
        for k, v in doc.items():
            if isinstance(v, (dict, list)) and v:
                _add_json(node.add(Text(str(k), style="bold"), expand=depth < 1), v, depth + 1)
            else:
                node.add_leaf(Text.assemble((str(k), "bold"), " = ", json.dumps(v)))
    elif isinstance(doc, list):
        for k, v in enumerate(doc[:ARRAY_PAGE]):
            if isinstance(v, (dict, list)) and v:
                _add_json(node.add(f"[{k}]"), v, depth + 1)
            else:
                node.add_leaf(f"[{k}] {json.dumps(v)}")
    else:
        node.add_leaf(json.dumps(doc))


def _basename(p: str) -> str:
    import os

    return os.path.basename(p)


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def __init__(self, bindings: list[tuple[str, str]]):
        super().__init__()
        self.rows = bindings

    def compose(self) -> ComposeResult:
        t = Table(title="irpa-tui keys", box=None, padding=(0, 2), title_style="bold")
        t.add_column("key", style="bold cyan", no_wrap=True)
        t.add_column("action")
        for key, text in self.rows:
            t.add_row(key, text)
        with VerticalScroll(id="help-box"):
            yield Static(t)
            yield Static(
                Text(
                    "ctrl+p opens the command palette with the same actions. "
                    "The mouse works: click a row, double-click a group, scroll.",
                    style="dim",
                )
            )


class ErrorScreen(Screen):
    """Shown instead of crashing when the archive cannot be opened."""

    BINDINGS = [Binding("q,escape", "app.quit", "Quit")]

    def __init__(self, message: str, paths: list[str]):
        super().__init__()
        self.message, self.paths = message, paths

    def compose(self) -> ComposeResult:
        with Vertical(id="error-box"):
            yield Static(Text("Cannot open the archive", style="bold red"))
            yield Static(Text(self.message))
            yield Static(Text("Files: " + ", ".join(self.paths), style="dim"))
            yield Static(
                Text(
                    "irpa-tui opens .irpa, .gguf and .safetensors files (format from the first bytes) "
                    "and directories holding model.safetensors.index.json. Press q to quit.",
                    style="dim",
                )
            )
        yield Footer()
