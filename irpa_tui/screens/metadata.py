"""The metadata screen: GGUF key/values with their types, safetensors
``__metadata__``, ``__SHARK_DATASET__`` and other JSON entries; and the
editing of the file metadata written (``e`` edit a value, ``a`` add a key,
``d`` delete one), each edit an op of the session's plan.

Rows come from ``MetadataModel`` (expand, search, reveal) and are drawn by a
line widget (``widgets/meta_list.py``), so a 262,144-token vocabulary
scrolls like ten items; values become editable text in ``metadata_edit``.
``/`` searches keys, values and array items (in a worker: the vocabulary is
read once) and jumps to the first match; ``n``/``N`` go to the
next/previous; ``g`` goes to an index of the array under the cursor. Every
string from the file is escaped and drawn as text, never markup.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from irpa_core.display import clip, escape, plural, shown
from irpa_core.errors import PlanError
from irpa_core.model import Archive
from irpa_core.plan import SET_METADATA, UNSET_METADATA, Op, Plan

from ..editing import ADDED, DELETED, EDITED, EditSession
from ..keys import HELP_BINDING, show_help
from ..metadata_edit import GGUF_TYPES, editable_text, literal_key, strings_only
from ..metadata_view import Match, MetadataModel, Node
from ..widgets.meta_list import MetaList


class MetadataScreen(Screen):
    """File metadata; ``/`` search, ``n``/``N`` next/previous match, ``g`` go to
    an index, ``escape`` back. With an edit session: ``e`` edits the value
    under the cursor, ``a`` adds a key, ``d`` deletes one, ``u``/``U`` undo
    and redo, ctrl+s saves the plan; every edit is an op of the session's
    plan, shown here at once (``metadata_view``: marks and new values)."""

    # The footer fits 80 columns; ? and the palette list every key (tooltip: the longer help).
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="close the search, clear the matches, else back to the table"),
        Binding("q,m", "app.pop_screen", "Back", show=False),
        Binding("slash", "search", "Search", key_display="/", tooltip="search keys, values and array items"),
        Binding("n", "next_match(1)", "Next match", key_display="n", show=False),
        Binding("N", "next_match(-1)", "Previous match", key_display="N", show=False),
        Binding(
            "g",
            "goto",
            "Go to index",
            key_display="g",
            show=False,
            tooltip="go to an index of the array under the cursor (else a row)",
        ),
        Binding("e", "edit", "Edit", key_display="e", tooltip="edit the value under the cursor (the metadata written)"),
        Binding("a", "add", "Add", key_display="a", tooltip="add a key to the metadata written"),
        Binding("d,delete", "delete", "Delete", key_display="d", tooltip="delete the key under the cursor"),
        Binding("u", "undo", "Undo", key_display="u", tooltip="undo the last edit (of the plan, tensors included)"),
        Binding("U", "redo", "Redo", key_display="U", show=False),
        Binding(
            "ctrl+s",
            "save_plan",
            "Save plan",
            key_display="^s",
            show=False,
            tooltip="save the plan as JSON (replay: irpa convert --plan)",
        ),
        HELP_BINDING,
    ]
    EDIT_ACTIONS = ("edit", "add", "delete", "undo", "redo", "save_plan")

    def __init__(
        self,
        archive: Archive,
        session: EditSession | None = None,
        on_edit: Callable[[], None] | None = None,
        save_plan: Callable[[], None] | None = None,
        go_to: str | None = None,
    ):
        """``session``: the plan the edits go to (None: read only);
        ``on_edit`` is called after each edit (the main screen's bar),
        ``save_plan`` saves the plan (the main screen's dialog); ``go_to``:
        a key the cursor starts on (the tokenizer screen's chat template)."""
        super().__init__()
        self.model = MetadataModel(archive)
        self.session = session
        self.on_edit = on_edit or (lambda: None)
        self.save_plan = save_plan
        self.matches: list[Match] = []
        self.match_at = -1
        self.mode = ""  # "search" or "goto" while the input is open
        self.query_text = ""
        self._shown_plan: Plan | None = None
        self.go_to = go_to
        self.go_note: Text | None = None  # the title says go_to is missing, until an edit

    def compose(self) -> ComposeResult:
        yield Static(id="meta-title")
        yield MetaList(self.model, id="meta-list")
        with Horizontal(id="meta-bar"):
            yield Input(id="meta-input")
            yield Static(id="meta-msg")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#meta-bar").display = False
        self.query_one(MetaList).focus()
        self._show_edits()
        self._title()
        row = self.model.row_of_key(self.go_to) if self.go_to is not None else None
        if row is not None:
            self.rows.go(row, center=False)
        elif self.go_to is not None:
            hint = ": a adds it" if self.session is not None and self.model.target is not None else ""
            self.go_note = Text(f"no key {clip(escape(self.go_to), 60)}{hint}", style="yellow")
            self._title()

    def on_screen_resume(self) -> None:
        self._show_edits()  # the plan may have changed (undo on the main screen)
        self._title()

    def check_action(self, action: str, parameters) -> bool | None:
        if action in self.EDIT_ACTIONS:
            return self.session is not None
        return True

    @property
    def rows(self) -> MetaList:
        return self.query_one(MetaList)

    # -- edits ----------------------------------------------------------------

    def _show_edits(self, key: str | None = None) -> None:
        """Lay the plan's metadata edits over the rows (once per plan); the
        cursor stays on its key (or goes to ``key``)."""
        session = self.session
        if session is None or (self._shown_plan is session.plan and key is None):
            return
        self._shown_plan = session.plan
        line = self.model.row(self.rows.cursor) if self.model.row_count else None
        follow = key or (line.node.label if line is not None and line.index is None else None)
        state = session.metadata()
        base = state.base
        root = self.model.root_for(base.file, base.entry)
        self.model.show_edits(root, state.edited.values, state.edited.types, state.status)
        row = self.model.row_of_key(follow) if follow is not None else None
        if row is not None:
            self.rows.go(row, center=False)
        else:
            self.rows.refresh_rows()

    def _edit_summary(self) -> Text | None:
        if self.session is None or not self.session.plan.file_ops:
            return None
        state = self.session.metadata()
        if state.problem:
            return Text(f"edits do not apply: {state.problem}", style="bold red")
        parts = [f"{state.count(s):,} {s}" for s in (EDITED, ADDED, DELETED) if state.count(s)]
        return Text("edits: " + (", ".join(parts) or "none left") + "  (u undoes, ctrl+s saves the plan)", "magenta")

    def _node_at_cursor(self) -> Node | None:
        if not self.model.row_count:
            return None
        return self.model.row(self.rows.cursor).node

    def _why_not_editable(self, node: Node | None) -> str:
        state = self.session.metadata() if self.session is not None else None
        if state is not None and state.problem and not state.base.values:
            return state.problem
        if self.model.target is None:
            return "the file metadata written is not shown as key/values here, so it cannot be edited"
        where = escape(self.model.target.label)
        return f"only the metadata that is written can be edited: the keys of {clip(where, 80)}"

    def _apply(self, op: Op, note: str) -> None:
        assert self.session is not None
        candidate = self.session.plan.add(op)
        problem = self.session.check_plan(candidate)
        if problem:
            self.notify(shown(problem, 500), severity="error", markup=False)
            return
        self.session.set_plan(candidate)
        self._after_edit(op.pattern if op.action == SET_METADATA else None, note)

    def _after_edit(self, key: str | None, note: str) -> None:
        self.go_note = None
        self._show_edits(key)
        self._title()
        self.on_edit()
        self.notify(note, timeout=2, markup=False)

    def action_edit(self) -> None:
        from .dialogs import MetadataDialog, MetadataInput

        assert self.session is not None
        node = self._node_at_cursor()
        if node is None or not self.model.editable(node):
            self.notify(self._why_not_editable(node), timeout=4, markup=False)
            return
        key = node.label
        state = self.session.metadata()
        deleted = node.status == DELETED
        try:
            type_name, text = editable_text(node, state.base if deleted else state.edited)
        except ValueError as e:
            self.notify(f"{shown(key, 80)}: {e}", severity="warning", timeout=5, markup=False)
            return
        # An existing key keeps its type (op type ""); a deleted one is set again with its own.
        op_type = type_name if deleted or key not in state.edited.values else ""

        def check(_key: str, _type: str, value: str) -> str | None:
            return self._check_set(key, value, op_type)

        def done(result: MetadataInput | None) -> None:
            if result is not None and (result.changed or deleted):
                self._apply(Op(SET_METADATA, key, value=result.value, type=op_type), f"set {shown(key, 80)}")

        title = Text.assemble("Set " if deleted else "Edit ", (key, "bold"))
        self.app.push_screen(MetadataDialog(title, key, type_name, text, None, check), done)

    def action_add(self) -> None:
        from .dialogs import MetadataDialog, MetadataInput

        assert self.session is not None
        state = self.session.metadata()
        if self.model.target is None:
            self.notify(self._why_not_editable(None), timeout=4, markup=False)
            return
        strings = strings_only(self.session, state)
        types = ("string",) if strings else GGUF_TYPES

        def check(key: str, type_name: str, value: str) -> str | None:
            if not key:
                return "the key is empty"
            if key in state.edited.values:
                return f"'{key}' exists: e edits its value"
            if key in state.edited.properties:
                return f"'{key}' is a sharktank property of the dataset entry"
            return self._check_set(key, value, type_name)

        def done(result: MetadataInput | None) -> None:
            if result is not None:
                op = Op(SET_METADATA, result.key, value=result.value, type=result.type)
                self._apply(op, f"added {shown(result.key, 80)}")

        title = Text("Add a metadata key" + (" (safetensors __metadata__: strings)" if strings else ""))
        self.app.push_screen(MetadataDialog(title, None, "string", "", types, check), done)

    def _check_set(self, key: str, value: str, type_name: str) -> str | None:
        """Why ``key`` cannot be set to ``value`` (the engine's parsing, through
        the session's metadata), or None."""
        assert self.session is not None
        try:
            candidate = self.session.plan.add(Op(SET_METADATA, key, value=value, type=type_name))
        except PlanError as e:  # the op's own check: a value that does not parse as its type
            return e.reason
        return self.session.metadata(candidate).problem

    def action_delete(self) -> None:
        assert self.session is not None
        node = self._node_at_cursor()
        if node is None or not self.model.editable(node):
            self.notify(self._why_not_editable(node), timeout=4, markup=False)
            return
        if node.status == DELETED:
            self.notify("already deleted (u undoes, e sets it again)", timeout=3)
            return
        self._apply(Op(UNSET_METADATA, literal_key(node.label)), f"deleted {shown(node.label, 80)} (u undoes)")

    def action_undo(self) -> None:
        if self.session is not None and self.session.undo():
            self._after_edit(None, "undone")

    def action_redo(self) -> None:
        if self.session is not None and self.session.redo():
            self._after_edit(None, "redone")

    def action_save_plan(self) -> None:
        if self.save_plan is not None:
            self.save_plan()

    def action_help(self) -> None:
        show_help(self, "file metadata keys")

    def _title(self, status: Text | None = None) -> None:
        status = status if status is not None else self.go_note
        t = Text.assemble(("File metadata", "bold"), f"  {plural(self.model.row_count, 'row')}")
        edits = self._edit_summary()
        if edits is not None:
            t.append("  ")
            t.append_text(edits)
        if status is not None:
            t.append("  ")
            t.append_text(status)
        elif self.matches:
            t.append(f"  match {self.match_at + 1:,} of {len(self.matches):,} for ", style="yellow")
            t.append(clip(escape(self.query_text), 60), style="yellow bold")
            t.append("  (n/N: next/previous)", style="dim")
        self.query_one("#meta-title", Static).update(t)

    # -- search and go to ---------------------------------------------------

    def _open(self, mode: str, placeholder: str, value: str = "") -> None:
        self.mode = mode
        bar = self.query_one("#meta-bar")
        bar.display = True
        box = self.query_one("#meta-input", Input)
        box.placeholder = placeholder
        box.value = value
        box.focus()
        self.query_one("#meta-msg", Static).update(Text("enter: go  escape: cancel", style="dim"))

    def _close(self) -> None:
        self.mode = ""
        self.query_one("#meta-bar").display = False
        self.rows.focus()

    def action_search(self) -> None:
        self._open("search", "search keys, values and array items (any case)", self.query_text)

    def action_goto(self) -> None:
        arr = self.model.array_at(self.rows.cursor)
        if arr is None:
            self._open("goto", "row number")
        else:
            self._open("goto", f"index in {escape(arr.label)} (0 .. {arr.count - 1:,})")

    def action_back(self) -> None:
        if self.mode:
            self._close()
        elif self.matches:
            self.matches, self.match_at, self.rows.match = [], -1, None
            self.rows.refresh()
            self._title()
        else:
            self.app.pop_screen()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "meta-input":
            return
        text = event.value.strip()
        if self.mode == "search":
            if not text:
                self._close()
                return
            self.query_text = text
            self.query_one("#meta-msg", Static).update(Text("searching…", style="dim"))
            self.run_worker(lambda: self._search(text), thread=True, exclusive=True, group="meta-search")
        elif self.mode == "goto":
            self._goto(text)

    class Found(Message):
        """A search's matches, posted by its worker (no wait on the UI)."""

        def __init__(self, text: str, matches: list[Match]) -> None:
            super().__init__()
            self.text, self.matches = text, matches

    def _search(self, text: str) -> None:
        self.post_message(self.Found(text, self.model.search(text)))

    def on_metadata_screen_found(self, event: Found) -> None:
        text, matches = event.text, event.matches
        if text != self.query_text:
            return
        if not matches:
            # A key the file lacks (no chat template yet) is added, not searched for.
            hint = ": esc, a adds a key" if self.session is not None and self.model.target is not None else ""
            msg = Text(f"no match for {clip(escape(text), 60)}{hint}", style="red")
            self.query_one("#meta-msg", Static).update(msg)
            return
        self._close()
        self.matches = matches
        self.match_at = -1
        self.action_next_match(1)

    def action_next_match(self, step: int) -> None:
        if not self.matches:
            self._title(Text("no search yet: / searches", style="dim"))
            return
        self.match_at = (self.match_at + step) % len(self.matches)
        m = self.matches[self.match_at]
        row = self.model.reveal(m.node, m.index)
        self.rows.match = m
        self.rows.go(row)
        self._title()

    def _goto(self, text: str) -> None:
        msg = self.query_one("#meta-msg", Static)
        try:
            k = int(text.replace(",", "").replace("_", ""))
        except ValueError:
            msg.update(Text(f"not a number: {clip(escape(text), 40)}", style="red"))
            return
        arr = self.model.array_at(self.rows.cursor)
        if arr is None:
            if not 0 <= k < self.model.row_count:
                msg.update(Text(f"rows are 0 .. {self.model.row_count - 1:,}", style="red"))
                return
            self._close()
            self.rows.go(k)
            return
        if not 0 <= k < arr.count:
            msg.update(Text(f"{escape(arr.label)} has indices 0 .. {arr.count - 1:,}", style="red"))
            return
        self._close()
        self.rows.go(self.model.reveal(arr, k))
        self._title()
