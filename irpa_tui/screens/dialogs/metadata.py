"""The metadata dialog: edit a file metadata value, or add a key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from .base import _Dialog, buttons

WRAP_MAX = 10_000  # characters of the longest line the editor still wraps


@dataclass(frozen=True)
class MetadataInput:
    """What the metadata dialog gives back."""

    key: str
    type: str  # GGUF type name of the value
    value: str  # the value as text (parse_value reads it)
    changed: bool  # whether the text differs from what the dialog started with


class MetadataDialog(_Dialog[MetadataInput]):
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
            # A line of more than WRAP_MAX characters (a 1 MB value on one
            # line) is not wrapped: Textual re-wraps the whole line for every
            # line it draws, seconds a frame; it scrolls sideways instead.
            wrap = max(map(len, self.text.splitlines()), default=0) <= WRAP_MAX
            yield TextArea(self.text, id="text", soft_wrap=wrap)
            yield Input(self.text, id="line")
            yield Static(id="info", classes="preview")
            yield Static(Text("ctrl+s sets it   tab moves   escape cancels", style="dim"))
            yield buttons("Add" if self.key is None else "Set")

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
