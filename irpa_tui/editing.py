"""The edit session behind the TUI: a Plan, undo/redo, marks per row.

Edits only ever append ops to the engine's ``Plan`` (never bytes, never
layout); undo/redo swap whole plans, which are immutable. Fates of every
entry are computed once per plan and kept here (the one fate cache): a
candidate plan is validated with them before it is applied, and rendering
100k marks and the summary bar is then a list lookup.

Metadata edits are plan ops too (``set_metadata``/``unset_metadata``, and
the block count a ``prune_blocks`` op sets): ``metadata()`` is the file
metadata before and after them, with each key's edit, as the engine's
``filemeta`` computes it for the output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from irpa_core import filemeta, prune
from irpa_core.cast import cast_length_or_none
from irpa_core.errors import IrpaError, PlanError
from irpa_core.filemeta import FileMetadata
from irpa_core.model import SPLAT, Archive, Entry
from irpa_core.output import apply
from irpa_core.plan import CAST, EXCLUDE, KEEP, SPLAT_OP, Fate, Op, Plan, Target, cast_dtype

EDITED, ADDED, DELETED = "edited", "added", "deleted"


@dataclass(frozen=True)
class Summary:
    kept: int
    excluded: int
    renamed: int
    splatted: int
    bytes_before: int
    bytes_after: int  # data bytes the written archive will hold (casts included; splats are none in .irpa)
    cast: int = 0  # entries written with other values than their source's


@dataclass(frozen=True)
class MetadataState:
    """The output's file metadata under a plan: ``base`` before the plan's
    metadata ops, ``edited`` after them, and what happened to each key
    (``EDITED``, ``ADDED``, ``DELETED``). ``problem``: why the metadata
    cannot be read or the ops do not apply (then ``edited`` is ``base``)."""

    base: FileMetadata
    edited: FileMetadata
    status: dict[str, str] = field(default_factory=dict)
    problem: str | None = None

    def count(self, status: str) -> int:
        return sum(1 for s in self.status.values() if s == status)


class EditSession:
    def __init__(self, archive: Archive, plan: Plan | None = None):
        self.archive = archive
        self.plan = plan or Plan()
        self.saved = self.plan
        self._undo: list[Plan] = []
        self._redo: list[Plan] = []
        self._fates: list[tuple[Plan, list[Fate]]] = []  # the last few plans' fates, newest last
        self._summary: tuple[Plan, Summary] | None = None
        self._meta_base: tuple[object, FileMetadata | str] | None = None  # (origin key, metadata or error)
        self._meta: tuple[Plan, MetadataState] | None = None
        self._casts: tuple[Plan, dict[int, int]] | None = None
        self._container: tuple[str | None] | None = None
        self._counts: dict[str, int] = {}  # block container -> its block count

    # -- state --------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        return self.plan != self.saved

    @property
    def fates(self) -> list[Fate]:
        return self.fates_of(self.plan)

    def fates_of(self, plan: Plan) -> list[Fate]:
        """``plan.fates(archive)``, computed once per plan: the current one,
        a candidate being validated, and the ones undo/redo go back to."""
        for p, fates in self._fates:
            if p is plan:
                return fates
        fates = plan.fates(self.archive)
        self._fates = [*self._fates[-3:], (plan, fates)]
        return fates

    def fate(self, index: int) -> Fate:
        if not self.plan.ops:  # nothing to resolve: no need for 100k fates up front
            return Fate(KEEP, self.archive.entries[index].name)
        return self.fates[index]

    def summary(self) -> Summary:
        if self._summary is None or self._summary[0] is not self.plan:
            self._summary = (self.plan, self._compute_summary())
        return self._summary[1]

    def _compute_summary(self) -> Summary:
        if not self.plan.ops:
            splats = [e for e in self.archive.entries if e.kind == SPLAT]
            total = self.archive.total_bytes
            return Summary(
                len(self.archive) - len(splats), 0, 0, len(splats), total, total - sum(e.length for e in splats)
            )
        kept = excluded = renamed = splatted = after = 0
        casts = self.casts()
        for i, (e, f) in enumerate(zip(self.archive.entries, self.fates)):
            if f.action == EXCLUDE:
                excluded += 1
                continue
            renamed += f.renamed
            if f.action == SPLAT_OP or e.kind == SPLAT:
                splatted += 1
            else:
                kept += 1
                after += casts.get(i, e.length)
        cast = sum(1 for i in casts if self.fates[i].action != EXCLUDE)
        return Summary(kept, excluded, renamed, splatted, self.archive.total_bytes, after, cast)

    def casts(self) -> dict[int, int]:
        """Entry index -> its length once cast, for every entry whose cast
        applies (a glob leaves alone what it cannot cast, as the engine
        does); computed once per plan."""
        if self._casts is None or self._casts[0] is not self.plan:
            out: dict[int, int] = {}
            if any(op.action == CAST for op in self.plan.ops):
                for i, (e, f) in enumerate(zip(self.archive.entries, self.fates)):
                    if f.cast:
                        n = cast_length_of(e, f)
                        if n is not None:
                            out[i] = n
            self._casts = (self.plan, out)
        return self._casts[1]

    # -- file metadata --------------------------------------------------------

    def metadata_base(self, plan: Plan | None = None) -> FileMetadata:
        """The output's file metadata under ``plan``'s fates (an excluded
        ``__SHARK_DATASET__`` has none) before any metadata edit; read once
        per origin (an irpa's dataset entry is read from the file). Raises
        IrpaError when it cannot be read."""
        org = filemeta.origin(self.archive, self.fates_of(plan or self.plan))
        key = None if org is None else (org.file.path, id(org.entry))
        if self._meta_base is None or self._meta_base[0] != key:
            try:
                got: FileMetadata | str = filemeta.read(org)
            except IrpaError as e:
                got = str(e)
            self._meta_base = (key, got)
        got = self._meta_base[1]
        if isinstance(got, str):
            raise IrpaError(got)
        return got

    def metadata(self, plan: Plan | None = None) -> MetadataState:
        """The file metadata under ``plan`` (default: the current one), each
        key's edit, or why it cannot be edited (cached per plan)."""
        plan = plan or self.plan
        if self._meta is not None and self._meta[0] is plan:
            return self._meta[1]
        try:
            base = self.metadata_base(plan)
        except IrpaError as e:
            state = MetadataState(FileMetadata(), FileMetadata(), problem=str(e))
        else:
            state = _metadata_state(base, plan.file_ops)
        if plan is self.plan:
            self._meta = (plan, state)
        return state

    # -- edits --------------------------------------------------------------

    def load(self, plan: Plan) -> None:
        """Start over from a saved plan (not an undoable edit; not dirty)."""
        self.plan = self.saved = plan
        self._undo.clear()
        self._redo.clear()

    def set_plan(self, plan: Plan) -> None:
        if plan == self.plan:
            return
        self._undo.append(self.plan)
        self._redo.clear()
        self.plan = plan

    def add(self, *ops: Op) -> None:
        self.set_plan(self.plan.add(*ops))

    def undo(self) -> bool:
        return self._step(self._undo, self._redo)

    def redo(self) -> bool:
        return self._step(self._redo, self._undo)

    def _step(self, back: list[Plan], forth: list[Plan]) -> bool:
        """Go to the last plan of ``back``, keeping the current one in ``forth``."""
        if not back:
            return False
        forth.append(self.plan)
        self.plan = back.pop()
        return True

    def toggle(self, index: int) -> None:
        name = self.archive.entries[index].name
        self.add(Op(KEEP if self.fate(index).action == EXCLUDE else EXCLUDE, name))

    # -- validation helpers for dialogs -------------------------------------

    def check_plan(self, plan: Plan) -> str | None:
        """The engine's validation of a candidate plan (its metadata edits
        included), as a sentence."""
        try:
            if plan.pruned:
                prune.check(plan, self.archive, self.block_count)
            plan.validate(self.archive, self.fates_of(plan))
        except PlanError as e:
            return str(e)
        if plan.file_ops:
            return self.metadata(plan).problem
        return None

    def block_count(self, container: str) -> int:
        """``prune.block_count`` of a container, found once."""
        if container not in self._counts:
            self._counts[container] = prune.block_count(self.archive, container)
        return self._counts[container]

    def block_container(self) -> str | None:
        """The archive's main block container (``blk.``), found once."""
        if self._container is None:
            self._container = (prune.main_container(self.archive),)
        return self._container[0]

    def check_rename(self, old: str, new: str) -> str | None:
        """Why renaming source ``old`` to ``new`` is not possible, or None."""
        return self.plan.check_rename(self.archive, old, new, self.fates)

    def targets(self) -> list[Target]:
        """The current plan applied (raises ``PlanError``)."""
        return apply(self.plan, self.archive, fates=self.fates)

    def substitute(self, indices: list[int], old: str, new: str) -> list[tuple[int, str]]:
        """(entry index, new name) for each row whose current target name
        changes when ``old`` is replaced by ``new`` (every occurrence);
        ``re:PATTERN`` is a regular expression and ``new`` may use its groups.
        Raises ValueError with a sentence for a bad pattern or group."""
        import re

        if old.startswith("re:"):
            try:
                rx = re.compile(old[3:])
            except re.error as e:
                raise ValueError(f"bad regular expression: {e}") from None

            def sub(name: str) -> str:
                try:
                    return rx.sub(new, name)
                except (re.error, IndexError) as e:
                    raise ValueError(f"bad replacement: {e}") from None
        else:

            def sub(name: str) -> str:
                return name.replace(old, new) if old in name else name

        out = []
        for i in indices:
            cur = self.fate(i).name
            renamed = sub(cur)
            if renamed != cur:
                out.append((i, renamed))
        return out

    def collisions(self, changes: list[tuple[int, str]]) -> list[str]:
        """Names that two kept parameters would share after ``changes``."""
        if not changes:
            return []
        names = [f.name for f in self.fates] if self.plan.ops else [e.name for e in self.archive.entries]
        kept = [f.action != EXCLUDE for f in self.fates] if self.plan.ops else None
        for i, n in changes:
            names[i] = n
        seen: set[str] = set()
        dup: list[str] = []
        new = {n for _, n in changes}
        for k, n in enumerate(names):
            if kept is not None and not kept[k]:
                continue
            if n in seen and n in new and n not in dup:
                dup.append(n)
            seen.add(n)
        return dup


def cast_length_of(e: Entry, f: Fate) -> int | None:
    """Bytes of ``e`` cast as fate ``f`` says, or None when no cast applies
    (none asked, its own dtype, or a glob over a dtype the engine leaves
    as it is, as ``Plan.apply`` does)."""
    dst = cast_dtype(f.cast) if f.cast else None
    if dst is None or dst == e.dtype:
        return None
    return cast_length_or_none(e, dst)


def _metadata_state(base: FileMetadata, ops: tuple[Op, ...]) -> MetadataState:
    try:
        edited, was_set = filemeta.edit(base, ops)
    except PlanError as e:
        return MetadataState(base, base, problem=str(e))
    status: dict[str, str] = {}
    for key, value in base.values.items():
        if key not in edited.values:
            status[key] = DELETED
        elif key in was_set or edited.values[key] is not value:  # set, or changed by a prune
            status[key] = EDITED
    for key in edited.values:
        if key not in base.values:
            status[key] = ADDED
    return MetadataState(base, edited, status)
