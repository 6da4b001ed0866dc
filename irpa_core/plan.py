"""An edit plan: what to do to each parameter of a source archive.

A ``Plan`` is an ordered tuple of ``Op``s. Each op names parameters by their
source name, exactly or with a shell glob (``blk.*.ffn_*``), and says:

- ``exclude``: leave it out;
- ``keep``: write it as data (undoes an earlier exclude, splat or strip);
- ``splat``: replace it by a splat (``value`` is ``TYPE=VALUE`` or ``""`` for zero);
- ``strip``: a zero splat (``--strip`` is ``strip *``);
- ``rename``: give it ``new`` as target name (with a glob, each ``*`` of the
  pattern is captured and substituted for the ``*``s of ``new`` in order).

For each parameter the last matching exclude/keep/splat/strip op decides its
fate and the last matching rename its name, so appending an op is always a
valid edit (what undo/redo in the TUI relies on). ``from_reference_flags``
orders the reference tool's flags so that it behaves exactly like
``iree-convert-parameters``: exclude beats splat, splat beats strip, and
the first matching --rename/--splat wins.

``Plan.apply(archive)`` validates everything before any byte is written and
returns the ``Target`` entries the writer lays out.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

from .dtypes import DType
from .errors import PlanError
from .formats import pytorch_meta
from .model import DATA, SPLAT, Archive, Entry
from .splat import SplatValueError, check_pattern, parse_splat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Final, Literal

    Action = Literal["exclude", "keep", "splat", "strip", "rename"]
    FateAction = Literal["keep", "exclude", "splat"]
    TargetKind = Literal["data", "splat"]

EXCLUDE: Final = "exclude"
KEEP: Final = "keep"
SPLAT_OP: Final = "splat"
STRIP: Final = "strip"
RENAME: Final = "rename"
ACTIONS: tuple[Action, ...] = (EXCLUDE, KEEP, SPLAT_OP, STRIP, RENAME)
_GLOB_CHARS = re.compile(r"[*?\[]")
PLAN_VERSION = 1


def is_glob(pattern: str) -> bool:
    return bool(_GLOB_CHARS.search(pattern))


@dataclass(frozen=True)
class Op:
    action: Action
    pattern: str
    value: str = ""  # splat: TYPE=VALUE or "" (zero)
    new: str = ""  # rename: the target name (may use * from the pattern)

    def __post_init__(self):
        if self.action not in ACTIONS:
            raise PlanError(None, f"unknown plan action {self.action!r} (known: {', '.join(ACTIONS)})")
        if not self.pattern:
            raise PlanError(None, f"{self.action} needs a parameter name or glob")
        if self.action == RENAME:
            if not self.new:
                raise PlanError(self.pattern, "rename needs a new name")
            if self.new.count("*") > self.pattern.count("*"):
                raise PlanError(self.pattern, f"rename target {self.new!r} uses more '*' than the pattern has")
        if self.action == SPLAT_OP:
            try:
                parse_splat(self.value)
            except SplatValueError as e:
                raise PlanError(self.pattern, str(e)) from None

    @cached_property
    def _regex(self):
        if not is_glob(self.pattern):
            return None
        if "[" in self.pattern:
            return re.compile(fnmatch.translate(self.pattern))
        # Captures for '*' so a glob rename can carry them over.
        out = []
        for ch in self.pattern:
            if ch == "*":
                out.append("(.*)")
            elif ch == "?":
                out.append(".")
            else:
                out.append(re.escape(ch))
        return re.compile("".join(out) + r"\Z", re.S)

    def matches(self, name: str) -> bool:
        rx = self._regex
        return name == self.pattern if rx is None else rx.match(name) is not None

    def target_name(self, name: str) -> str:
        """The new name for ``name`` (rename ops; ``name`` must match)."""
        rx = self._regex
        if rx is None or "*" not in self.new:
            return self.new
        parts = iter(rx.match(name).groups())
        return re.sub(r"\*", lambda _: next(parts, ""), self.new)

    def to_json(self) -> dict:
        d = {"op": self.action, "name": self.pattern}
        if self.action == SPLAT_OP:
            d["value"] = self.value
        if self.action == RENAME:
            d["new"] = self.new
        return d

    def describe(self) -> str:
        if self.action == RENAME:
            return f"rename {self.pattern} -> {self.new}"
        if self.action == SPLAT_OP:
            return f"splat {self.pattern} = {self.value or 'zero'}"
        return f"{self.action} {self.pattern}"


@dataclass(frozen=True)
class Fate:
    """What the plan does to one source entry."""

    action: FateAction
    name: str  # target name (== source name unless renamed)
    value: str = ""  # splat spec ("" = zero)
    renamed: bool = False


@dataclass(frozen=True)
class Target:
    """One entry of the archive to write."""

    name: str
    kind: TargetKind
    length: int
    dtype: DType | None
    shape: tuple[int, ...] | None
    metadata: bytes
    source: Entry
    pattern: bytes | None = None


@dataclass(frozen=True)
class Plan:
    ops: tuple[Op, ...] = ()

    # -- building (each returns a new Plan) ----------------------------------

    def add(self, *ops: Op) -> Plan:
        return Plan(self.ops + tuple(ops))

    def exclude(self, pattern: str) -> Plan:
        return self.add(Op(EXCLUDE, pattern))

    def keep(self, pattern: str) -> Plan:
        return self.add(Op(KEEP, pattern))

    def splat(self, pattern: str, value: str = "") -> Plan:
        return self.add(Op(SPLAT_OP, pattern, value=value))

    def strip(self, pattern: str = "*") -> Plan:
        return self.add(Op(STRIP, pattern))

    def rename(self, pattern: str, new: str) -> Plan:
        return self.add(Op(RENAME, pattern, new=new))

    @classmethod
    def from_reference_flags(cls, *, exclude=(), rename=(), splat=(), strip=False, keep=()) -> Plan:
        """The plan ``iree-convert-parameters`` flags describe, with its
        precedence. ``rename``: (old, new) pairs; ``splat``: (name, spec)."""
        ops: list[Op] = []
        if strip:
            ops.append(Op(STRIP, "*"))
        # First matching --splat/--rename wins in the reference: reversed,
        # so that ours (last wins) agrees.
        # The reference matches --splat against the renamed name: a splat of
        # a rename's new name applies to its old name too.
        new_to_old: dict[str, str] = {}
        for o, n in rename:
            new_to_old.setdefault(n, o)
        for n, v in reversed(list(splat)):
            ops.append(Op(SPLAT_OP, n, value=v))
            if n in new_to_old and not is_glob(n):
                ops.append(Op(SPLAT_OP, new_to_old[n], value=v))
        ops += [Op(KEEP, n) for n in keep]
        ops += [Op(EXCLUDE, n) for n in exclude]
        ops += [Op(RENAME, o, new=n) for o, n in reversed(list(rename))]
        return cls(tuple(ops))

    # -- resolving -----------------------------------------------------------

    @cached_property
    def _index(self) -> tuple[dict[str, tuple[int, Op]], dict[str, tuple[int, Op]], list, list]:
        """Index of the ops: exact names in dicts (last op wins), globs in
        lists with their position, so resolving 100k names stays cheap.
        (Computed once per plan; plans are immutable.)"""
        fate_exact: dict[str, tuple[int, Op]] = {}
        name_exact: dict[str, tuple[int, Op]] = {}
        fate_globs: list[tuple[int, Op]] = []
        name_globs: list[tuple[int, Op]] = []
        for i, op in enumerate(self.ops):
            glob = is_glob(op.pattern)
            if op.action == RENAME:
                (name_globs.append((i, op)) if glob else name_exact.__setitem__(op.pattern, (i, op)))
            else:
                (fate_globs.append((i, op)) if glob else fate_exact.__setitem__(op.pattern, (i, op)))
        return fate_exact, name_exact, fate_globs, name_globs

    def fate(self, name: str) -> Fate:
        """What happens to the source entry called ``name``."""
        fate_exact, name_exact, fate_globs, name_globs = self._index
        best = _last_match(fate_exact.get(name), fate_globs, name)
        rn = _last_match(name_exact.get(name), name_globs, name)
        target = rn[1].target_name(name) if rn else name
        renamed = rn is not None and target != name
        if best is None or best[1].action == KEEP:
            return Fate(KEEP, target, renamed=renamed)
        op = best[1]
        if op.action == EXCLUDE:
            return Fate(EXCLUDE, target, renamed=renamed)
        return Fate(SPLAT_OP, target, op.value if op.action == SPLAT_OP else "", renamed)

    def unmatched(self, archive: Archive) -> list[Op]:
        """Ops whose exact name or glob matches no parameter (likely typos)."""
        names = [e.name for e in archive]
        known = set(names)
        out = []
        for op in self.ops:
            if is_glob(op.pattern):
                if not any(op.matches(n) for n in names):
                    out.append(op)
            elif op.pattern not in known:
                out.append(op)
        return out

    def apply(self, archive: Archive, fates: list[Fate] | None = None) -> list[Target]:
        """Target entries in source order, validated: raises ``PlanError``
        naming the parameter for a rename collision, a splat pattern that
        does not fit the parameter, or a bad value. ``fates``: this plan's
        ``fates(archive)`` when the caller already has them."""
        return [_target(e, f, pattern) for e, f, pattern in self._resolve(archive, fates)]

    def validate(self, archive: Archive, fates: list[Fate] | None = None) -> None:
        """The checks of ``apply`` without building targets (cheaper: the
        TUI runs this on every bulk edit)."""
        for _ in self._resolve(archive, fates):
            pass

    def _resolve(self, archive: Archive, fates: list[Fate] | None) -> Iterator[tuple[Entry, Fate, bytes | None]]:
        """(entry, fate, splat pattern or None) of each kept entry, checked."""
        taken: dict[str, tuple[str, bool]] = {}  # target name -> (source name, renamed)
        if fates is None:
            fates = self.fates(archive)
        for e, f in zip(archive.entries, fates):
            if f.action == EXCLUDE:
                continue
            if f.name in taken:
                other, other_renamed = taken[f.name]
                if f.renamed:
                    raise PlanError(e.name, f"renaming to '{f.name}' collides with parameter '{other}'")
                if other_renamed:
                    raise PlanError(other, f"renaming to '{f.name}' collides with parameter '{e.name}'")
                raise PlanError(e.name, "appears twice in the sources (rename or exclude one of them)")
            taken[f.name] = (e.name, f.renamed)
            pattern = None
            if f.action == SPLAT_OP:
                pattern = _pattern(f.value)
                problem = check_pattern(pattern, e.length)
                if problem:
                    raise PlanError(e.name, f"cannot splat {f.value or 'zero'}: {problem}")
            yield e, f, pattern

    def fates(self, archive: Archive) -> list[Fate]:
        """``fate`` of every entry, in order (no ops: all kept, fast). Not
        cached here: a caller that needs them twice keeps them (the TUI's
        edit session does) and passes them to ``apply``/``validate``."""
        if not self.ops:
            return [Fate(KEEP, e.name) for e in archive.entries]
        fate = self.fate
        return [fate(e.name) for e in archive.entries]

    # -- checks a dialog can call as the user types --------------------------

    def check_rename(self, archive: Archive, old: str, new: str, fates: list[Fate] | None = None) -> str | None:
        """Why renaming source ``old`` to ``new`` is not possible, or None."""
        if not new:
            return "the new name is empty"
        if new == self.fate(old).name:
            return None
        if fates is None:
            fates = self.fates(archive)
        for e, f in zip(archive.entries, fates):
            if e.name == old:
                continue
            if f.action != EXCLUDE and f.name == new:
                return f"'{new}' is already the name of parameter '{e.name}'"
        return None

    # -- saving --------------------------------------------------------------

    def to_json(self) -> dict:
        return {"irpa_plan": PLAN_VERSION, "ops": [op.to_json() for op in self.ops]}

    @classmethod
    def from_json(cls, doc) -> Plan:
        if not isinstance(doc, dict) or doc.get("irpa_plan") != PLAN_VERSION or not isinstance(doc.get("ops"), list):
            raise PlanError(None, f'not an irpa plan (expected {{"irpa_plan": {PLAN_VERSION}, "ops": [...]}})')
        ops = []
        for i, d in enumerate(doc["ops"]):
            if not isinstance(d, dict) or not isinstance(d.get("op"), str) or not isinstance(d.get("name"), str):
                raise PlanError(None, f'plan op {i} is not {{"op": ..., "name": ...}}')
            ops.append(Op(d["op"], d["name"], value=str(d.get("value", "")), new=str(d.get("new", ""))))
        return cls(tuple(ops))

    def save(self, path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, path) -> Plan:
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.loads(f.read())
        except OSError as e:
            raise PlanError(None, f"{path}: cannot read plan: {e.strerror}") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise PlanError(None, f"{path}: plan is not valid JSON ({e})") from None
        return cls.from_json(doc)


def _last_match(exact: tuple[int, Op] | None, globs: list[tuple[int, Op]], name: str):
    """The latest op matching ``name``: the exact one, or a glob added after it."""
    for i, op in reversed(globs):
        if exact is not None and i < exact[0]:
            break
        if op.matches(name):
            return i, op
    return exact


def check_splat(entry: Entry, spec: str) -> str | None:
    """Why ``entry`` cannot become a splat of ``spec``, or None."""
    try:
        pattern = parse_splat(spec)
    except SplatValueError as e:
        return str(e)
    return check_pattern(pattern, entry.length)


@lru_cache(maxsize=256)
def _pattern(value: str) -> bytes:
    return parse_splat(value)


def _target(e: Entry, f: Fate, pattern: bytes | None) -> Target:
    meta = e.metadata
    if not meta and e.dtype is not None and e.shape is not None:
        meta = pytorch_meta.encode(e.dtype, e.shape, e.length)
    if f.action == KEEP and e.kind != SPLAT:
        return Target(f.name, DATA, e.length, e.dtype, e.shape, meta, e)
    if f.action == KEEP:  # a source splat stays a splat
        return Target(f.name, SPLAT, e.length, e.dtype, e.shape, meta, e, e.pattern)
    return Target(f.name, SPLAT, e.length, e.dtype, e.shape, meta, e, pattern)
