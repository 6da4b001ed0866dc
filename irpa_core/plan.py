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
from .model import Archive, Entry
from .splat import SplatValueError, check_pattern, parse_splat

ACTIONS = ("exclude", "keep", "splat", "strip", "rename")
_GLOB_CHARS = re.compile(r"[*?\[]")
PLAN_VERSION = 1


def is_glob(pattern: str) -> bool:
    return bool(_GLOB_CHARS.search(pattern))


@dataclass(frozen=True)
class Op:
    action: str
    pattern: str
    value: str = ""      # splat: TYPE=VALUE or "" (zero)
    new: str = ""        # rename: the target name (may use * from the pattern)

    def __post_init__(self):
        if self.action not in ACTIONS:
            raise PlanError(None, f"unknown plan action {self.action!r} (known: {', '.join(ACTIONS)})")
        if not self.pattern:
            raise PlanError(None, f"{self.action} needs a parameter name or glob")
        if self.action == "rename":
            if not self.new:
                raise PlanError(self.pattern, "rename needs a new name")
            if self.new.count("*") > self.pattern.count("*"):
                raise PlanError(self.pattern, f"rename target {self.new!r} uses more '*' than the pattern has")
        if self.action == "splat":
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
        if self.action == "splat":
            d["value"] = self.value
        if self.action == "rename":
            d["new"] = self.new
        return d

    def describe(self) -> str:
        if self.action == "rename":
            return f"rename {self.pattern} -> {self.new}"
        if self.action == "splat":
            return f"splat {self.pattern} = {self.value or 'zero'}"
        return f"{self.action} {self.pattern}"


@dataclass(frozen=True)
class Fate:
    """What the plan does to one source entry."""

    action: str           # "keep", "exclude" or "splat"
    name: str             # target name (== source name unless renamed)
    value: str = ""       # splat spec ("" = zero)
    renamed: bool = False


@dataclass(frozen=True)
class Target:
    """One entry of the archive to write."""

    name: str
    kind: str                  # "data" or "splat"
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

    def add(self, *ops: Op) -> "Plan":
        return Plan(self.ops + tuple(ops))

    def exclude(self, pattern: str) -> "Plan":
        return self.add(Op("exclude", pattern))

    def keep(self, pattern: str) -> "Plan":
        return self.add(Op("keep", pattern))

    def splat(self, pattern: str, value: str = "") -> "Plan":
        return self.add(Op("splat", pattern, value=value))

    def strip(self, pattern: str = "*") -> "Plan":
        return self.add(Op("strip", pattern))

    def rename(self, pattern: str, new: str) -> "Plan":
        return self.add(Op("rename", pattern, new=new))

    @classmethod
    def from_reference_flags(cls, *, exclude=(), rename=(), splat=(), strip=False, keep=()) -> "Plan":
        """The plan ``iree-convert-parameters`` flags describe, with its
        precedence. ``rename``: (old, new) pairs; ``splat``: (name, spec)."""
        ops: list[Op] = []
        if strip:
            ops.append(Op("strip", "*"))
        # First matching --splat/--rename wins in the reference: reversed,
        # so that ours (last wins) agrees.
        # The reference matches --splat against the renamed name: a splat of
        # a rename's new name applies to its old name too.
        new_to_old = {}
        for o, n in rename:
            new_to_old.setdefault(n, o)
        for n, v in reversed(list(splat)):
            ops.append(Op("splat", n, value=v))
            if n in new_to_old and not is_glob(n):
                ops.append(Op("splat", new_to_old[n], value=v))
        ops += [Op("keep", n) for n in keep]
        ops += [Op("exclude", n) for n in exclude]
        ops += [Op("rename", o, new=n) for o, n in reversed(list(rename))]
        return cls(tuple(ops))

    # -- resolving -----------------------------------------------------------

    @cached_property
    def _exact(self) -> tuple[dict, dict, list, list]:
        """Index of the ops: exact names in dicts (last op wins), globs in
        lists with their position, so resolving 100k names stays cheap."""
        fate_exact: dict[str, tuple[int, Op]] = {}
        name_exact: dict[str, tuple[int, Op]] = {}
        fate_globs: list[tuple[int, Op]] = []
        name_globs: list[tuple[int, Op]] = []
        for i, op in enumerate(self.ops):
            glob = is_glob(op.pattern)
            if op.action == "rename":
                (name_globs.append((i, op)) if glob else name_exact.__setitem__(op.pattern, (i, op)))
            else:
                (fate_globs.append((i, op)) if glob else fate_exact.__setitem__(op.pattern, (i, op)))
        return fate_exact, name_exact, fate_globs, name_globs

    def fate(self, name: str) -> Fate:
        """What happens to the source entry called ``name``."""
        fate_exact, name_exact, fate_globs, name_globs = self._exact
        best = _last_match(fate_exact.get(name), fate_globs, name)
        rn = _last_match(name_exact.get(name), name_globs, name)
        target = rn[1].target_name(name) if rn else name
        renamed = rn is not None and target != name
        if best is None or best[1].action == "keep":
            return Fate("keep", target, renamed=renamed)
        op = best[1]
        if op.action == "exclude":
            return Fate("exclude", target, renamed=renamed)
        return Fate("splat", target, op.value if op.action == "splat" else "", renamed)

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

    def apply(self, archive: Archive) -> list[Target]:
        """Target entries in source order, validated: raises ``PlanError``
        naming the parameter for a rename collision, a splat pattern that
        does not fit the parameter, or a bad value."""
        return [_target(e, f, pattern) for e, f, pattern in self._resolve(archive)]

    def validate(self, archive: Archive) -> None:
        """The checks of ``apply`` without building targets (cheaper: the
        TUI runs this on every bulk edit)."""
        for _ in self._resolve(archive):
            pass

    def _resolve(self, archive: Archive):
        """(entry, fate, splat pattern or None) of each kept entry, checked."""
        taken: dict[str, tuple[str, bool]] = {}      # target name -> (source name, renamed)
        fates = self.fates(archive)
        for e, f in zip(archive.entries, fates):
            if f.action == "exclude":
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
            if f.action == "splat":
                pattern = _pattern(f.value)
                problem = check_pattern(pattern, e.length)
                if problem:
                    raise PlanError(e.name, f"cannot splat {f.value or 'zero'}: {problem}")
            yield e, f, pattern

    def fates(self, archive: Archive) -> list[Fate]:
        """``fate`` of every entry, in order (no ops: all kept, fast)."""
        cached = self.__dict__.get("_fates_of")
        if cached is not None and cached[0] is archive:
            return cached[1]
        if not self.ops:
            out = [Fate("keep", e.name) for e in archive.entries]
        else:
            out = [self.fate(e.name) for e in archive.entries]
        # Plans are immutable: validating one and then showing its marks
        # (the TUI does both per edit) resolve the 100k names once.
        self.__dict__["_fates_of"] = (archive, out)
        return out

    # -- checks a dialog can call as the user types --------------------------

    def check_rename(self, archive: Archive, old: str, new: str) -> str | None:
        """Why renaming source ``old`` to ``new`` is not possible, or None."""
        if not new:
            return "the new name is empty"
        if new == self.fate(old).name:
            return None
        for e in archive.entries:
            if e.name == old:
                continue
            f = self.fate(e.name)
            if f.action != "exclude" and f.name == new:
                return f"'{new}' is already the name of parameter '{e.name}'"
        return None

    # -- saving --------------------------------------------------------------

    def to_json(self) -> dict:
        return {"irpa_plan": PLAN_VERSION, "ops": [op.to_json() for op in self.ops]}

    @classmethod
    def from_json(cls, doc) -> "Plan":
        if not isinstance(doc, dict) or doc.get("irpa_plan") != PLAN_VERSION or not isinstance(doc.get("ops"), list):
            raise PlanError(None, f"not an irpa plan (expected {{\"irpa_plan\": {PLAN_VERSION}, \"ops\": [...]}})")
        ops = []
        for i, d in enumerate(doc["ops"]):
            if not isinstance(d, dict) or not isinstance(d.get("op"), str) or not isinstance(d.get("name"), str):
                raise PlanError(None, f"plan op {i} is not {{\"op\": ..., \"name\": ...}}")
            ops.append(Op(d["op"], d["name"], value=str(d.get("value", "")), new=str(d.get("new", ""))))
        return cls(tuple(ops))

    def save(self, path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, path) -> "Plan":
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
    if f.action == "keep" and e.kind != "splat":
        return Target(f.name, "data", e.length, e.dtype, e.shape, meta, e)
    if f.action == "keep":          # a source splat stays a splat
        return Target(f.name, "splat", e.length, e.dtype, e.shape, meta, e, e.pattern)
    return Target(f.name, "splat", e.length, e.dtype, e.shape, meta, e, pattern)
