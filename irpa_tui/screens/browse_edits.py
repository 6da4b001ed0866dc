"""The main screen's edits of the plan: keep, exclude, splat, cast,
rename (the row, or every row in view), undo and redo, and what leaves
with the plan: save it, write the archive, verify a written one.

``BrowseScreen`` is the one screen built on this: the dialogs give typed
results, the edits go to the session, the screen redraws (``_edited``);
writing and verifying are asked of the app (``messages``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.screen import Screen

from irpa_core.cast import cast_check
from irpa_core.display import plural, shown
from irpa_core.formats import registry
from irpa_core.output import build
from irpa_core.plan import CAST, Op, cast_dtype, written_dtype

from ..editing import EditSession
from ..messages import VerifyRequested, WriteRequested
from ..view import TableView
from ..widgets.param_table import ParamTable
from ..writing import beside, check_output, default_alignment, plan_lines

if TYPE_CHECKING:
    from .dialogs import WriteResult


class PlanEdits(Screen):
    """The edit actions of the main screen (see the module's docstring)."""

    session: EditSession
    view: TableView
    last_written: Callable[[], str | None]  # the file written last: the default of verify
    last_write: WriteResult | None = None  # the last write asked for: what the next w proposes

    @property
    def table(self) -> ParamTable:
        return self.query_one(ParamTable)

    def _edited(self, note: str | None = None) -> None:
        """Redraw after an edit (the screen's)."""
        raise NotImplementedError

    def _update_plan_bar(self) -> None:
        raise NotImplementedError

    def _in_view(self) -> list[int]:
        return list(self.view.rows)

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
        candidate = self.session.plan.add(*self._bulk_ops(action, rows, value))
        problem = self.session.check_plan(candidate)
        if problem:
            self.notify(shown(problem, 500), severity="error", timeout=4, markup=False)
            return
        self.session.set_plan(candidate)
        self._edited(f"{label or action}: {plural(len(rows), 'row')}")

    def _bulk_ops(self, action, rows, value):
        glob = self.view.plan_glob()
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
        from .dialogs import SplatDialog, SplatResult

        index = self.table.entry_at_cursor()
        if index is None and not self.view.filtered:
            return
        entries = self.session.archive.entries
        rows = self._in_view()
        fates = self.session.fates
        position = {id(entries[i]): i for i in [*rows, *([index] if index is not None else [])]}
        dialog = SplatDialog(
            entries[index] if index is not None else None,
            [entries[i] for i in rows] if self.view.filtered else [],
            lambda e: written_dtype(e, fates[position[id(e)]]),
        )

        def done(result: SplatResult | None) -> None:
            if result is None:
                return
            value = result.value
            if result.all_rows:
                self._bulk("splat", value, f"splat {value or 'zero'}")
            elif index is not None:
                self.session.add(Op("splat", entries[index].name, value=value))
                self._edited()

        self.app.push_screen(dialog, done)

    def action_cast(self) -> None:
        from .dialogs import CastDialog, CastResult

        index = self.table.entry_at_cursor()
        if index is None and not self.view.filtered:
            return
        entries = self.session.archive.entries
        rows = self._in_view() if self.view.filtered else []
        fates = self.session.fate

        def done(result: CastResult | None) -> None:
            if result is None:
                return
            dtype, all_rows = result.dtype, result.all_rows
            ops = self._cast_ops(rows if all_rows else [index] if index is not None else [], dtype, all_rows)
            if not ops:
                self.notify("nothing to cast", timeout=2)
                return
            candidate = self.session.plan.add(*ops)
            problem = self.session.check_plan(candidate)
            if problem:
                self.notify(shown(problem, 500), severity="error", timeout=4, markup=False)
                return
            self.session.set_plan(candidate)
            what = f"{len(rows):,} rows" if all_rows else shown(entries[index].name, 60) if index is not None else ""
            self._edited(f"cast {what} to {dtype}" if dtype else f"cast undone: {what}")

        current = fates(index).cast if index is not None else ""
        dialog = CastDialog(
            entries[index] if index is not None else None, [entries[i] for i in rows], current, index is None
        )
        self.app.push_screen(dialog, done)

    def _cast_ops(self, rows: list[int], dtype: str, all_rows: bool) -> list[Op]:
        """The ops of a cast: one glob op when the filter is a glob (the
        engine then casts what it can), else one op per row that can be cast
        (exact names that cannot are errors to the engine). ``dtype`` empty:
        undo the rows' casts (a cast to a row's own dtype)."""
        entries = self.session.archive.entries
        if not dtype:
            return [
                Op(CAST, entries[i].name, value=entries[i].dtype_name or "")
                for i in rows
                if self.session.fate(i).cast and entries[i].dtype is not None
            ]
        glob = self.view.plan_glob() if all_rows else None
        if glob is not None:
            return [Op(CAST, glob, value=dtype)]
        dst = cast_dtype(dtype)
        ok = [i for i in rows if dst is not None and cast_check(entries[i], dst) is None]
        return [Op(CAST, entries[i].name, value=dtype) for i in ok]

    def action_rename(self) -> None:
        from .dialogs import RenameDialog, RenameResult

        index = self.table.entry_at_cursor()
        rows = self._in_view()
        if index is None and not rows:
            return

        def done(result: RenameResult | None) -> None:
            if result is not None and result.ops:
                self.session.add(*result.ops)
                self._edited(f"renamed {len(result.ops):,}")

        substitute = self.view.filtered and len(rows) > 1
        self.app.push_screen(RenameDialog(self.session, index, rows, substitute), done)

    def action_keep_blocks(self) -> None:
        """Keep only some blocks (the row's by default): the others are
        removed and the rest renumbered (a ``prune_blocks`` op, undoable)."""
        from irpa_core import blocks

        from .dialogs import BlocksDialog

        archive = self.session.archive
        index = self.table.entry_at_cursor()
        group = self.table.group_at_cursor()
        at = blocks.block_of(archive.entries[index].name if index is not None else group.key + "." if group else "")
        container = at[0] if at is not None else self.session.block_container()
        if container is None:
            self.notify("no numbered blocks here (blk.N., model.layers.N., ...)", timeout=3)
            return
        count = self.session.block_count(container)
        default = str(at[1]) if at is not None else blocks.format_list(range(count))

        def done(op: Op | None) -> None:
            if op is None:
                return
            candidate = self.session.plan.add(op)
            problem = self.session.check_plan(candidate)
            if problem:
                self.notify(shown(problem, 500), severity="error", timeout=4, markup=False)
                return
            self.session.set_plan(candidate)
            self._edited(f"blocks {op.value} of {shown(container, 60)}N removed, the rest renumbered")

        self.app.push_screen(BlocksDialog(container, count, default), done)

    def action_save_plan(self) -> None:
        from .dialogs import PathDialog

        default = beside(self.session.archive, ".plan.json")

        def done(path: str | None) -> None:
            if not path:
                return
            try:
                self.session.plan.save(path)
            except OSError as e:
                self.notify(f"{shown(path, 200)}: {e.strerror}", severity="error", markup=False)
                return
            self.session.saved = self.session.plan
            self._update_plan_bar()
            self.notify(f"plan saved to {shown(path, 200)}", markup=False)

        self.app.push_screen(PathDialog("Save the plan as JSON", default), done)

    def action_write(self) -> None:
        from .dialogs import WriteDialog

        session = self.session
        problem = session.check_plan(session.plan)
        if problem:  # shown, nothing written
            self.notify(shown(problem, 500), severity="error", markup=False)
            return
        plan, archive, fates = session.plan, session.archive, session.fates
        defaults = {fmt: default_alignment(session, fmt) for fmt in registry.NAMES}
        default = beside(session.archive, ".stripped.irpa")

        def check(fmt, alignment, split):  # in the dialog's worker: the session is not touched
            return check_output(plan, archive, fates, fmt, alignment, defaults[fmt], split)

        def done(result: WriteResult | None) -> None:
            if result is not None:
                self.last_write = result
                self.post_message(WriteRequested(result.output, result.path, result.alignment, result.split))

        dialog = WriteDialog(default, check, defaults.get, plan_lines(session), previous=self.last_write)
        self.app.push_screen(dialog, done)

    def action_verify(self) -> None:
        from .dialogs import PathDialog

        session = self.session
        problem = session.check_plan(session.plan)
        if problem:  # shown, nothing to verify against
            self.notify(shown(problem, 500), severity="error", markup=False)
            return
        plan, archive, fates = session.plan, session.archive, session.fates
        default = self.last_written() or beside(self.session.archive, ".stripped.irpa")

        def expected(fmt):  # in the verify worker, once the file says its format
            return build(plan, archive, fmt, fates, salvage=True)  # what could be written from a cut-off file

        def done(path: str | None) -> None:
            if path:
                self.post_message(VerifyRequested(expected, path, archive.entries))

        self.app.push_screen(PathDialog("Verify this archive against the sources and the plan", default), done)
