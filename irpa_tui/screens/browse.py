"""The main screen: header, parameter table, detail pane, filter, plan bar."""

from __future__ import annotations

import os
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, Input, Static

from irpa_core.display import human
from irpa_core.dtypes import DType
from irpa_core.plan import Op

from ..editing import EditSession
from ..view import FilterError, TableView, filter_glob
from ..widgets.detail import DetailPane
from ..widgets.param_table import ParamTable
from .base import IrpaScreen


@dataclass(frozen=True)
class Key:
    """One key of the main screen: the binding, the footer, the help screen
    and the command palette are all generated from the table below."""

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


KEYS: tuple[Key, ...] = (
    Key(
        "slash", "filter", "Filter", "filter: substring, * ? globs, re:REGEX (enter keeps, escape clears)", footer=True
    ),
    Key("space", "toggle_keep", "Keep/Excl", "toggle keep / exclude on the row", footer=True),
    Key("e", "exclude_view", "Excl view", "exclude every row in view"),
    Key("k", "keep_view", "Keep view", "keep every row in view"),
    Key("x", "strip_view", "Strip view", "strip every row in view to zero splats", footer=True),
    Key("s", "splat", "Splat", "splat the row (or all rows in view) with TYPE=VALUE or zero", footer=True),
    Key("r", "rename", "Rename", "rename the row, or rows in view by substitution", footer=True),
    Key("u", "undo", "Undo", "undo the last edit", footer=True),
    Key("U", "redo", "Redo", "redo"),
    Key("w", "write", "Write", "write the edited archive as a new .irpa", footer=True),
    Key("v", "verify", "Verify", "verify an archive on disk against these sources and this plan"),
    Key("ctrl+s", "save_plan", "Save plan", "save the edit plan as JSON (replay: irpa convert --plan)"),
    Key("t", "tree", "Tree", "toggle the tree view grouped by dotted prefix", footer=True),
    Key("n", "sort", "Sort name", "sort by name (natural order: layer.2 before layer.10)", ("name",)),
    Key("z", "sort", "Sort size", "sort by size, largest first", ("size",)),
    Key("d", "sort", "Sort dtype", "sort by dtype", ("dtype",)),
    Key("f", "sort", "File order", "back to file order", ("file",)),
    Key("m", "metadata", "Metadata", "file metadata (GGUF key/values, safetensors, dataset JSON)", footer=True),
    Key("a", "view_as", "View as", "view the row's bytes as a chosen dtype (for entries without one)"),
    Key("escape", "escape", "Cancel", "cancel the running statistics pass / clear the filter"),
    Key("question_mark", "help", "Help", "this help", footer=True),
    Key("q", "quit", "Quit", "quit (asks when there are unsaved edits)", footer=True),
)


class BrowseScreen(IrpaScreen):
    # q is the app's own binding (quit asks about unsaved edits there).
    BINDINGS = [
        Binding(k.key, k.binding_action, k.label, show=k.footer, key_display=k.display) for k in KEYS if k.key != "q"
    ]

    def __init__(self, session: EditSession, title: str):
        super().__init__()
        self.session = session
        self.view = TableView(session.archive)
        self.title_text = title
        self.view_as: dict[int, DType] = {}  # entry index -> DType chosen with `a`
        self._detail_name: tuple[int, str] | None = None  # (entry, name) the detail pane shows

    # -- layout -------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        with Horizontal(id="main"):
            yield ParamTable(self.view, mark=self._mark, id="table")
            yield DetailPane(id="detail")
        yield Input(placeholder="filter: substring, *glob*, or re:regex", id="filter")
        yield Static(id="plan-bar")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.refresh_all()
        self.query_one(ParamTable).focus()

    @property
    def table(self) -> ParamTable:
        return self.query_one(ParamTable)

    def refresh_all(self, keep_entry: bool = True) -> None:
        self.table.refresh_rows(keep_entry)
        self._update_header()
        self._update_plan_bar()

    def _update_header(self) -> None:
        a = self.session.archive
        if not hasattr(self, "_dtype_text"):
            # The archive never changes under this screen: sum once.
            per: dict[str, int] = {}
            for e in a.entries:
                per[e.dtype_name or "?"] = per.get(e.dtype_name or "?", 0) + e.length
            self._dtype_text = "  ".join(f"{k} {human(v)}" for k, v in sorted(per.items(), key=lambda kv: -kv[1])[:6])
        dts = self._dtype_text
        formats = "+".join(sorted({f.format for f in a.files}))
        shown = len(self.view.rows)
        t = Text.assemble(
            (self.title_text, "bold"),
            f"  [{formats}]  ",
            (
                f"{shown:,} of {len(a):,} shown" if self.view.filtered else f"{len(a):,} parameters",
                "bold yellow" if self.view.filtered else "",
            ),
            f"  {human(a.total_bytes)}  ",
            (dts, "dim"),
        )
        if self.view.filtered:
            t.append(f"  filter: {self.view.query}", style="italic")
        self.query_one("#header", Static).update(t)

    def _update_plan_bar(self) -> None:
        s = self.session.summary()
        bar = self.query_one("#plan-bar", Static)
        if not self.session.plan.ops:
            bar.update(
                Text(
                    f"no edits yet: space, e, k, x, s, r mark parameters; w writes "
                    f"({len(self.session.archive):,} parameters, {human(s.bytes_before)})",
                    style="dim",
                )
            )
            return
        t = Text.assemble(
            ("plan ", "bold"),
            (f"{s.kept:,} kept", ""),
            "  ",
            (f"{s.excluded:,} excluded", "red"),
            "  ",
            (f"{s.renamed:,} renamed", "yellow"),
            "  ",
            (f"{s.splatted:,} splatted", "green"),
            "  ",
            f"{human(s.bytes_before)} -> {human(s.bytes_after)}",
        )
        if self.session.dirty:
            t.append("  (unsaved)", style="dim italic")
        bar.update(t)

    def _mark(self, index: int) -> tuple[str, str]:
        f = self.session.fate(index)
        e = self.session.archive.entries[index]
        if f.action == "exclude":
            return "✗ exclude", "exclude"
        if f.action == "splat":
            return "◆ " + (f.value or "zero"), "splat"
        if f.renamed:
            return "→ " + f.name, "rename"
        return ("· splat" if e.kind == "splat" else "· keep"), "keep"

    # -- highlighted row -> detail ------------------------------------------

    def on_param_table_highlighted(self, msg: ParamTable.Highlighted) -> None:
        detail = self.query_one(DetailPane)
        self._detail_name = None if msg.index is None else (msg.index, self.session.fate(msg.index).name)
        if msg.index is None:
            detail.show(None)
        else:
            detail.show(
                self.session.archive.entries[msg.index], self.session.fate(msg.index).name, self.view_as.get(msg.index)
            )

    # -- filter -------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.value = self.view.query
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "filter":
            return
        try:
            self.view.set_filter(event.value)
            event.input.remove_class("-invalid")
        except FilterError as e:
            event.input.add_class("-invalid")
            self.notify(str(e), severity="error", timeout=2)
            return
        self.table.refresh_rows()
        self._update_header()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.input.display = bool(event.value)
            self.table.focus()

    def action_escape(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_focus or (self.view.filtered and not self.query_one(DetailPane).cancel_stats()):
            box.value = ""
            self.view.set_filter("")
            box.display = False
            self.refresh_all()
            self.table.focus()

    # -- view ---------------------------------------------------------------

    def action_tree(self) -> None:
        self.view.toggle_tree()
        self.table.refresh_rows()

    def action_sort(self, key: str) -> None:
        self.view.set_sort(key)
        self.table.refresh_rows()
        self.notify(f"sorted by {key if key != 'file' else 'file order'}", timeout=1.5)

    def action_metadata(self) -> None:
        from .info import MetadataScreen

        self.app.push_screen(MetadataScreen(self.session.archive))

    def action_view_as(self) -> None:
        from .dialogs import DtypeDialog

        index = self.table.entry_at_cursor()
        if index is None:
            return
        current = self.view_as.get(index)

        def done(d) -> None:
            if d is None:
                return
            if d == "":
                self.view_as.pop(index, None)
            else:
                self.view_as[index] = d
            self.query_one(DetailPane).show(
                self.session.archive.entries[index], self.session.fate(index).name, self.view_as.get(index)
            )

        self.app.push_screen(
            DtypeDialog(self.session.archive.entries[index].name, current.name if current is not None else ""), done
        )

    def action_help(self) -> None:
        from .info import HelpScreen

        self.app.push_screen(HelpScreen([(k.display, k.help) for k in KEYS]))

    # -- edits --------------------------------------------------------------

    def _in_view(self) -> list[int]:
        return list(self.view.rows)

    def _edited(self, note: str | None = None) -> None:
        self.table.refresh()
        self._update_plan_bar()
        self._follow_names()
        if note:
            self.notify(note, timeout=2)

    def _follow_names(self) -> None:
        """After an edit (a rename, its undo): the filter matches the new
        names, and the detail pane shows the highlighted row's new name."""
        if any(op.action == "rename" for op in self.session.plan.ops):
            renamed = {i: f.name for i, f in enumerate(self.session.fates) if f.renamed}
        else:
            renamed = {}
        if renamed != self.view.renamed:
            self.view.set_renamed(renamed)
            self.table.refresh_rows()
            self._update_header()
        index = self.table.entry_at_cursor()
        if index is not None and self._detail_name != (index, self.session.fate(index).name):
            self.on_param_table_highlighted(ParamTable.Highlighted(index))

    def action_toggle_keep(self) -> None:
        index = self.table.entry_at_cursor()
        if index is None:
            return
        self.session.toggle(index)
        self._edited()
        self.table.action_cursor(1)

    def _bulk(self, action: str, value: str = "", label: str = "") -> None:
        rows = self._in_view()
        if not rows:
            return
        glob = filter_glob(self.view.query)
        candidate = self.session.plan.add(*self._bulk_ops(action, rows, glob, value))
        problem = self.session.check_plan(candidate)
        if problem:
            self.notify(problem, severity="error", timeout=4)
            return
        self.session.set_plan(candidate)
        self._edited(f"{label or action}: {len(rows):,} rows")

    def _bulk_ops(self, action, rows, glob, value):
        if glob is not None:
            return [Op(action, glob, value=value)]
        names = [self.session.archive.entries[i].name for i in rows]
        return [Op(action, n, value=value) for n in names]

    def action_exclude_view(self) -> None:
        self._bulk("exclude")

    def action_keep_view(self) -> None:
        self._bulk("keep")

    def action_strip_view(self) -> None:
        self._bulk("strip", label="stripped to zero splats")

    def action_undo(self) -> None:
        if self.session.undo():
            self._edited("undone")

    def action_redo(self) -> None:
        if self.session.redo():
            self._edited("redone")

    def action_splat(self) -> None:
        from .dialogs import SplatDialog

        index = self.table.entry_at_cursor()
        if index is None and not self.view.filtered:
            return
        entries = self.session.archive.entries
        rows = self._in_view()
        dialog = SplatDialog(
            entries[index] if index is not None else None, [entries[i] for i in rows] if self.view.filtered else []
        )

        def done(result) -> None:
            if result is None:
                return
            value, all_rows = result
            if all_rows:
                self._bulk("splat", value, f"splat {value or 'zero'}")
            elif index is not None:
                self.session.add(Op("splat", entries[index].name, value=value))
                self._edited()

        self.app.push_screen(dialog, done)

    def action_rename(self) -> None:
        from .dialogs import RenameDialog

        index = self.table.entry_at_cursor()
        rows = self._in_view()
        if index is None and not rows:
            return

        def done(ops) -> None:
            if ops:
                self.session.add(*ops)
                self._edited(f"renamed {len(ops):,}")

        substitute = self.view.filtered and len(rows) > 1
        self.app.push_screen(RenameDialog(self.session, index, rows, substitute), done)

    def action_save_plan(self) -> None:
        from .dialogs import PathDialog

        default = _beside(self.session.archive, ".plan.json")

        def done(path) -> None:
            if not path:
                return
            try:
                self.session.plan.save(path)
            except OSError as e:
                self.notify(f"{path}: {e.strerror}", severity="error")
                return
            self.session.saved = self.session.plan
            self._update_plan_bar()
            self.notify(f"plan saved to {path}")

        self.app.push_screen(PathDialog("Save the plan as JSON", default), done)

    def action_write(self) -> None:
        from .dialogs import WriteDialog

        try:
            targets = self.session.targets()
        except Exception as e:  # PlanError: shown, nothing written
            self.notify(str(e), severity="error")
            return
        default = _beside(self.session.archive, ".stripped.irpa")

        def done(result) -> None:
            if result:
                path, alignment = result
                self.irpa.start_write(targets, path, alignment)

        self.app.push_screen(WriteDialog(default), done)

    def action_verify(self) -> None:
        from .dialogs import PathDialog

        try:
            targets = self.session.targets()
        except Exception as e:  # PlanError: shown, nothing to verify against
            self.notify(str(e), severity="error")
            return
        default = self.irpa.last_written or _beside(self.session.archive, ".stripped.irpa")

        def done(path) -> None:
            if path:
                self.irpa.verify_written(targets, path)

        self.app.push_screen(PathDialog("Verify this archive against the sources and the plan", default), done)


def _beside(archive, suffix: str) -> str:
    first = archive.files[0].path
    d, base = os.path.split(first)
    stem = base.split("-00001-of-")[0].rsplit(".", 1)[0] if "." in base else base
    return os.path.join(d, stem + suffix)
