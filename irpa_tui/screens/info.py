"""Read-only screens: help and the error screen (file metadata is in
``metadata.py``, the model summary in ``summary.py``)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from irpa_core.display import shown

from ..filtering import HELP as FILTER_HELP


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def __init__(self, bindings: list[tuple[str, str]], title: str = "irpa-tui keys", filter_help: bool = True):
        super().__init__()
        self.rows = bindings
        self.title_text, self.filter_help = title, filter_help

    def compose(self) -> ComposeResult:
        t = Table(title=self.title_text, box=None, padding=(0, 2), title_style="bold")
        t.add_column("key", style="bold cyan", no_wrap=True)
        t.add_column("action")
        for key, text in self.rows:
            t.add_row(key, text)
        f = Table(title="the filter (/)", box=None, padding=(0, 2), title_style="bold")
        f.add_column("term", style="bold cyan", no_wrap=True)
        f.add_column("matches")
        for term, text in FILTER_HELP:
            f.add_row(term, text)
        with VerticalScroll(id="help-box"):
            yield Static(Group(t, Text(""), f) if self.filter_help else t)
            mouse = " The mouse works: click a row, click a column title to sort, double-click a group, scroll."
            note = "ctrl+p opens the command palette with the same actions." + (mouse if self.filter_help else "")
            yield Static(Text(note, style="dim"))


class ErrorScreen(Screen):
    """Shown instead of crashing when the archive cannot be opened."""

    BINDINGS = [Binding("q,escape", "app.quit", "Quit")]

    def __init__(self, message: str, paths: list[str]):
        super().__init__()
        self.message, self.paths = message, paths

    def compose(self) -> ComposeResult:
        with Vertical(id="error-box"):
            yield Static(Text("Cannot open the archive", style="bold red"))
            yield Static(Text(shown(self.message, 2000)))
            yield Static(Text("Files: " + ", ".join(shown(p, 300) for p in self.paths), style="dim"))
            yield Static(
                Text(
                    "irpa-tui opens .irpa, .gguf and .safetensors files (format from the first bytes) "
                    "and a directory holding one model (an index, a safetensors file or a GGUF). Press q to quit.",
                    style="dim",
                )
            )
        yield Footer()
