"""The edit session behind the TUI: a Plan, undo/redo, marks per row.

Edits only ever append ops to the engine's ``Plan`` (never bytes, never
layout); undo/redo swap whole plans, which are immutable. Fates of every
entry are computed once per plan change, so rendering 100k marks and the
summary bar is a list lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

from irpa_core.errors import PlanError
from irpa_core.model import Archive
from irpa_core.plan import Fate, Op, Plan


@dataclass(frozen=True)
class Summary:
    kept: int
    excluded: int
    renamed: int
    splatted: int
    bytes_before: int
    bytes_after: int          # data bytes the written archive will hold


class EditSession:
    def __init__(self, archive: Archive, plan: Plan | None = None):
        self.archive = archive
        self.plan = plan or Plan()
        self.saved = self.plan
        self._undo: list[Plan] = []
        self._redo: list[Plan] = []
        self._fates: list[Fate] | None = None
        self._summary: tuple[Plan, Summary] | None = None

    # -- state --------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        return self.plan != self.saved

    @property
    def fates(self) -> list[Fate]:
        if self._fates is None:
            self._fates = self.plan.fates(self.archive)
        return self._fates

    def fate(self, index: int) -> Fate:
        if not self.plan.ops:       # nothing to resolve: no need for 100k fates up front
            return Fate("keep", self.archive.entries[index].name)
        return self.fates[index]

    def summary(self) -> Summary:
        if self._summary is None or self._summary[0] is not self.plan:
            self._summary = (self.plan, self._compute_summary())
        return self._summary[1]

    def _compute_summary(self) -> Summary:
        if not self.plan.ops:
            splats = [e for e in self.archive.entries if e.kind == "splat"]
            total = self.archive.total_bytes
            return Summary(len(self.archive) - len(splats), 0, 0, len(splats), total,
                           total - sum(e.length for e in splats))
        kept = excluded = renamed = splatted = after = 0
        for e, f in zip(self.archive.entries, self.fates):
            if f.action == "exclude":
                excluded += 1
                continue
            renamed += f.renamed
            if f.action == "splat" or e.kind == "splat":
                splatted += 1
            else:
                kept += 1
                after += e.length
        return Summary(kept, excluded, renamed, splatted, self.archive.total_bytes, after)

    # -- edits --------------------------------------------------------------

    def set_plan(self, plan: Plan) -> None:
        if plan == self.plan:
            return
        self._undo.append(self.plan)
        self._redo.clear()
        self.plan = plan
        self._fates = None

    def add(self, *ops: Op) -> None:
        self.set_plan(self.plan.add(*ops))

    def undo(self) -> bool:
        if not self._undo:
            return False
        self._redo.append(self.plan)
        self.plan = self._undo.pop()
        self._fates = None
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        self._undo.append(self.plan)
        self.plan = self._redo.pop()
        self._fates = None
        return True

    def toggle(self, index: int) -> None:
        name = self.archive.entries[index].name
        self.add(Op("keep" if self.fate(index).action == "exclude" else "exclude", name))

    def mark_all(self, action: str, indices: list[int], glob: str | None, value: str = "") -> None:
        """``action`` (exclude/keep/strip/splat) for every row in view: one
        glob op when the view has one, else one op per row."""
        if glob is not None:
            self.add(Op(action, glob, value=value))
        else:
            names = [self.archive.entries[i].name for i in indices]
            self.add(*(Op(action, n, value=value) for n in names))

    # -- validation helpers for dialogs -------------------------------------

    def check_plan(self, plan: Plan) -> str | None:
        """The engine's validation of a candidate plan, as a sentence."""
        try:
            plan.validate(self.archive)
        except PlanError as e:
            return str(e)
        return None

    def rename_ops(self, indices: list[int], old: str, new: str) -> list[Op]:
        """Substitution ``old`` -> ``new`` in the current target names of rows."""
        ops = []
        for i in indices:
            src = self.archive.entries[i].name
            cur = self.fate(i).name
            if old and old in cur:
                ops.append(Op("rename", src, new=cur.replace(old, new)))
        return ops
