"""An edit plan: what to do to each parameter of a source archive.

A ``Plan`` is an ordered tuple of ``Op``s. Each op names parameters by their
source name, exactly or with a shell glob (``blk.*.ffn_*``), and says:

- ``exclude``: leave it out;
- ``keep``: write it as data (undoes an earlier exclude, splat or strip);
- ``splat``: replace it by a splat (``value`` is ``TYPE=VALUE`` or ``""`` for zero);
- ``strip``: a zero splat (``--strip`` is ``strip *``);
- ``rename``: give it ``new`` as target name (with a glob, each ``*`` of the
  pattern is captured and substituted for the ``*``s of ``new`` in order);
- ``cast``: convert its values to the dtype ``value`` (``cast.py`` says which
  casts exist; casting to the source's own dtype undoes an earlier cast). A
  glob casts the parameters it can (``* -> bf16`` leaves integers alone);
  a parameter named exactly that cannot be cast is an error.

Two more operations edit the output's file-level metadata rather than a
parameter (``output.py`` applies them to GGUF key/values, safetensors
``__metadata__`` or an irpa's ``__SHARK_DATASET__`` entry):

- ``set_metadata``: key ``pattern`` takes ``value`` (text, parsed with the
  key's type; ``type`` names a GGUF type for a new key or a type change);
- ``unset_metadata``: drop the key ``pattern`` (a glob drops every key it
  matches: ``unset_metadata *`` is ``--no-metadata``).

One operation changes the model's structure, as ``llama-quantize
--prune-layers`` does:

- ``prune_blocks``: remove the blocks ``value`` (a block list, ``2,3,5-17``,
  see ``blocks.py``) of the block container ``pattern`` (``blk.``,
  ``model.layers.``, ``encoder.layer.``: the name up to the block number)
  and renumber the blocks that stay densely, in order (``blk.4.*`` ->
  ``blk.2.*`` when 2 and 3 go). The output's file metadata follows
  (``prune.py``): ``{arch}.block_count`` and every per-layer array of
  the architecture's keys; a safetensors output gets a ``config.json``
  beside it with ``num_hidden_layers`` and its per-layer lists updated.
  JSON: ``{"op": "prune_blocks", "name": "blk.", "value": "2-17"}``.

  Block numbers always mean the source's, wherever the op sits: several
  prune ops of one container remove the union of their blocks. A removed
  block stays removed (no later keep or splat brings it back: its number
  is gone). Every other op still names the source's parameters
  (``blk.5.attn_q.weight``, not its new name) and applies to the kept
  blocks as usual. The renumbering applies to the name the renames give:
  its first numbered component that is the source's block number (a glob
  rename carries it through its ``*``) becomes the dense number; a name
  written out with another number is taken as written.

For each parameter the last matching exclude/keep/splat/strip op decides its
fate, the last matching rename its name and the last matching cast its
dtype, so appending an op is always a valid edit (what undo/redo in the TUI
relies on); metadata edits apply in order. ``from_reference_flags``
orders the reference tool's flags so that it behaves exactly like
``iree-convert-parameters``: exclude beats splat, splat beats strip, and
the first matching --rename/--splat wins.

``Plan.tensor_targets(archive)`` validates everything before any byte is
written and returns the ``Target`` entries of the parameters; ``output.build``
adds what a given output format holds besides (``output.Output``).
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

from . import blocks, dtypes, naming
from .cast import cast_length
from .dtypes import DType
from .errors import PlanError
from .formats import pytorch_meta
from .model import DATA, SPLAT, Archive, Entry
from .splat import SplatValueError, check_pattern, parse_splat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Final, Literal

    Action = Literal[
        "exclude", "keep", "splat", "strip", "rename", "cast", "set_metadata", "unset_metadata", "prune_blocks"
    ]
    FateAction = Literal["keep", "exclude", "splat"]
    TargetKind = Literal["data", "splat"]
    How = Literal["copy", "expand", "cast", "memory", "splat"]

EXCLUDE: Final = "exclude"
KEEP: Final = "keep"
SPLAT_OP: Final = "splat"
STRIP: Final = "strip"
RENAME: Final = "rename"
CAST: Final = "cast"
SET_METADATA: Final = "set_metadata"
UNSET_METADATA: Final = "unset_metadata"
PRUNE_BLOCKS: Final = "prune_blocks"
ACTIONS: tuple[Action, ...] = (EXCLUDE, KEEP, SPLAT_OP, STRIP, RENAME, CAST, SET_METADATA, UNSET_METADATA, PRUNE_BLOCKS)
METADATA_ACTIONS: tuple[Action, ...] = (SET_METADATA, UNSET_METADATA)
# Ops that edit the output's file metadata, in order (``filemeta.edit``).
FILE_ACTIONS: tuple[Action, ...] = (SET_METADATA, UNSET_METADATA, PRUNE_BLOCKS)
_GLOB_CHARS = re.compile(r"[*?\[]")
# New operations only add to version 1: every plan saved before still loads.
PLAN_VERSION = 1

# How the bytes of a target are produced (``Target.how``).
COPY: Final = "copy"  # the source's bytes, unchanged
EXPAND: Final = "expand"  # a splat pattern repeated (a splat written as data)
CAST_STREAM: Final = "cast"  # the source's values cast, chunk by chunk
MEMORY: Final = "memory"  # bytes we generate (``Target.data``)
SPLAT_ENTRY: Final = "splat"  # none: an irpa splat entry holds the pattern


def is_glob(pattern: str) -> bool:
    return bool(_GLOB_CHARS.search(pattern))


@dataclass(frozen=True)
class Op:
    action: Action
    pattern: str
    value: str = ""  # splat: TYPE=VALUE or "" (zero); cast: the dtype; set_metadata: the value as text;
    # prune_blocks: the block list
    new: str = ""  # rename: the target name (may use * from the pattern)
    type: str = ""  # set_metadata: GGUF type name, or "" for the key's own type

    def __post_init__(self):
        if self.action not in ACTIONS:
            raise PlanError(None, f"unknown plan action {self.action!r} (known: {', '.join(ACTIONS)})")
        if not self.pattern:
            what = (
                "a metadata key"
                if self.action in METADATA_ACTIONS
                else "a block container (blk.)"
                if self.action == PRUNE_BLOCKS
                else "a parameter name or glob"
            )
            raise PlanError(None, f"{self.action} needs {what}")
        if self.action == CAST and cast_dtype(self.value) is None:
            raise PlanError(self.pattern, f"cannot cast to {self.value!r}: unknown dtype (f32, f16, bf16, Q8_0, ...)")
        if self.action == SET_METADATA and self.type:
            from .formats.gguf_writer import parse_value

            try:
                parse_value(self.type, self.value)
            except ValueError as e:
                raise PlanError(None, f"metadata key '{self.pattern}': {e}") from None
        if self.action == RENAME:
            if not self.new:
                raise PlanError(self.pattern, "rename needs a new name")
            if self.new.count("*") > self.pattern.count("*"):
                raise PlanError(self.pattern, f"rename target {self.new!r} uses more '*' than the pattern has")
        if self.action == PRUNE_BLOCKS:
            try:
                if not blocks.parse_list(self.value):
                    raise ValueError("no block given")
            except ValueError as e:
                raise PlanError(None, f"prune_blocks {self.value!r}: {e}") from None
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
        if self.action in (SPLAT_OP, CAST, SET_METADATA, PRUNE_BLOCKS):
            d["value"] = self.value
        if self.action == RENAME:
            d["new"] = self.new
        if self.action == SET_METADATA and self.type:
            d["type"] = self.type
        return d

    def describe(self) -> str:
        if self.action == RENAME:
            return f"rename {self.pattern} -> {self.new}"
        if self.action == SPLAT_OP:
            return f"splat {self.pattern} = {self.value or 'zero'}"
        if self.action == CAST:
            return f"cast {self.pattern} -> {self.value}"
        if self.action == SET_METADATA:
            shown = self.value if len(self.value) <= 40 else self.value[:37] + "..."
            return f"set metadata {self.pattern} = {self.type + ':' if self.type else ''}{shown!r}"
        if self.action == UNSET_METADATA:
            return "unset all metadata" if self.pattern == "*" else f"unset metadata {self.pattern}"
        if self.action == PRUNE_BLOCKS:
            return f"remove blocks {self.value} of {self.pattern}N (renumbered)"
        return f"{self.action} {self.pattern}"


def cast_dtype(name: str) -> DType | None:
    """The dtype a cast names: ours (``f16``, ``bf16``, ``f8_e4m3fn``,
    ``Q8_0`` in any case), IREE's (``f8E4M3FN``) or safetensors' (``BF16``)."""
    return dtypes.by_name(name) or dtypes.from_iree(name) or dtypes.from_safetensors(name.upper())


@dataclass(frozen=True)
class Fate:
    """What the plan does to one source entry."""

    action: FateAction
    name: str  # target name (== source name unless renamed)
    value: str = ""  # splat spec ("" = zero)
    renamed: bool = False
    cast: str = ""  # dtype its values are cast to ("" = none)


@dataclass(frozen=True)
class Target:
    """One entry of the file to write: its name, the dtype/shape/length it
    is written with, and where its bytes come from (``how``)."""

    name: str
    kind: TargetKind  # "splat" only in irpa output; other formats write every target as data
    length: int
    dtype: DType | None
    shape: tuple[int, ...] | None
    metadata: bytes  # the irpa entry's metadata (PYTORCH: JSON)
    source: Entry  # the source entry (for a generated entry: the one it stands for)
    pattern: bytes | None = None  # a splat entry's pattern, or the pattern a data target repeats
    cast: DType | None = None  # data: the source's values cast to this dtype
    data: bytes | None = None  # data: these bytes (an entry generated here, e.g. __SHARK_DATASET__)

    @property
    def how(self) -> How:
        """How its bytes are produced: ``copy`` (the source's bytes),
        ``expand`` (a pattern repeated), ``cast`` (the source's values cast,
        streamed), ``memory`` (``data``), or ``splat`` (an irpa splat entry:
        no bytes). ``output.target_chunks`` yields them."""
        if self.kind == SPLAT:
            return SPLAT_ENTRY
        if self.data is not None:
            return MEMORY
        if self.cast is not None:
            return CAST_STREAM
        if self.pattern is not None or self.source.kind == SPLAT:
            return EXPAND
        return COPY


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

    def cast(self, pattern: str, dtype: str) -> Plan:
        return self.add(Op(CAST, pattern, value=dtype))

    def set_metadata(self, key: str, value: str, type: str = "") -> Plan:
        return self.add(Op(SET_METADATA, key, value=value, type=type))

    def unset_metadata(self, key: str) -> Plan:
        return self.add(Op(UNSET_METADATA, key))

    def prune_blocks(self, container: str, removed: str) -> Plan:
        return self.add(Op(PRUNE_BLOCKS, container, value=removed))

    @property
    def metadata_ops(self) -> tuple[Op, ...]:
        """The set_metadata/unset_metadata ops, in order."""
        return tuple(op for op in self.ops if op.action in METADATA_ACTIONS)

    @property
    def file_ops(self) -> tuple[Op, ...]:
        """The ops that edit the output's file metadata, in order: the
        metadata ops and the prune ops (``filemeta.edit``)."""
        return tuple(op for op in self.ops if op.action in FILE_ACTIONS)

    @cached_property
    def pruned(self) -> dict[str, frozenset[int]]:
        """The source blocks removed, per block container (the union of
        its prune ops)."""
        out: dict[str, frozenset[int]] = {}
        for op in self.ops:
            if op.action == PRUNE_BLOCKS:
                out[op.pattern] = out.get(op.pattern, frozenset()) | blocks.parse_list(op.value)
        return out

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
    def _index(self) -> dict[str, tuple[dict[str, tuple[int, Op]], list[tuple[int, Op]]]]:
        """Index of the ops per kind (fate, rename, cast): exact names in a
        dict (last op wins), globs in a list with their position, so
        resolving 100k names stays cheap. (Computed once per plan; plans
        are immutable.) Metadata ops name no parameter."""
        index: dict[str, tuple[dict[str, tuple[int, Op]], list[tuple[int, Op]]]] = {
            "fate": ({}, []),
            RENAME: ({}, []),
            CAST: ({}, []),
        }
        for i, op in enumerate(self.ops):
            if op.action in FILE_ACTIONS:
                continue
            exact, globs = index[op.action if op.action in (RENAME, CAST) else "fate"]
            if is_glob(op.pattern):
                globs.append((i, op))
            else:
                exact[op.pattern] = (i, op)
        return index

    def fate(self, name: str) -> Fate:
        """What happens to the source entry called ``name``."""
        index = self._index
        block = blocks.block_of(name) if self.pruned else None
        removed = self.pruned.get(block[0]) if block is not None else None
        if block is not None and removed is not None and block[1] in removed:
            return Fate(EXCLUDE, name)  # a removed block stays removed
        fates, renames, casts = index["fate"], index[RENAME], index[CAST]
        best = _last_match(fates[0].get(name), fates[1], name)
        rn = _last_match(renames[0].get(name), renames[1], name)
        target = rn[1].target_name(name) if rn else name
        if block is not None and removed:
            target = naming.renumbered(target, block[1], blocks.dense(block[1], removed))
        renamed = target != name
        c = _last_match(casts[0].get(name), casts[1], name) if casts[0] or casts[1] else None
        cast = c[1].value if c else ""
        if best is None or best[1].action == KEEP:
            return Fate(KEEP, target, renamed=renamed, cast=cast)
        op = best[1]
        if op.action == EXCLUDE:
            return Fate(EXCLUDE, target, renamed=renamed, cast=cast)
        return Fate(SPLAT_OP, target, op.value if op.action == SPLAT_OP else "", renamed, cast)

    def _cast_by_glob(self, name: str) -> bool:
        """Whether the cast op deciding ``name``'s dtype names it by a glob."""
        exact, globs = self._index[CAST]
        c = _last_match(exact.get(name), globs, name)
        return c is not None and is_glob(c[1].pattern)

    def splats(self, archive: Archive, fates: list[Fate] | None = None) -> Iterator[tuple[str, str, DType | None]]:
        """(name, splat value, dtype written) of each parameter splatted to a
        value other than zero (what ``splat.splat_warnings`` takes)."""
        if not any(op.action == SPLAT_OP and op.value for op in self.ops):
            return
        for e, f in zip(archive.entries, fates or self.fates(archive)):
            if f.action == SPLAT_OP and f.value:
                yield e.name, f.value, written_dtype(e, f)

    def unmatched(self, archive: Archive) -> list[Op]:
        """Ops whose exact name or glob matches no parameter (likely typos)."""
        names = [e.name for e in archive]
        known = set(names)
        out = []
        containers = {b[0] for b in map(blocks.block_of, names) if b is not None} if self.pruned else set()
        for op in self.ops:
            if op.action in METADATA_ACTIONS:
                continue
            if op.action == PRUNE_BLOCKS:
                if op.pattern not in containers:
                    out.append(op)
            elif is_glob(op.pattern):
                if not any(op.matches(n) for n in names):
                    out.append(op)
            elif op.pattern not in known:
                out.append(op)
        return out

    def tensor_targets(self, archive: Archive, fates: list[Fate] | None = None) -> list[Target]:
        """The targets of the source parameters, in source order, validated
        (``output.apply`` without the file metadata of an output format)."""
        return [_target(e, f, pattern, dst, n) for e, f, pattern, dst, n in self._resolve(archive, fates)]

    def validate(self, archive: Archive, fates: list[Fate] | None = None) -> None:
        """The checks of ``tensor_targets`` without building targets (cheaper: the
        TUI runs this on every bulk edit)."""
        for _ in self._resolve(archive, fates):
            pass

    def _resolve(
        self, archive: Archive, fates: list[Fate] | None
    ) -> Iterator[tuple[Entry, Fate, bytes | None, DType | None, int]]:
        """(entry, fate, splat pattern or None, dtype cast to or None, target
        length) of each kept entry, checked."""
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
            dst = None
            length = e.length
            if f.cast:
                dst = cast_dtype(f.cast)
                assert dst is not None  # Op checked it
                if dst == e.dtype:
                    dst = None
                else:
                    try:
                        length = cast_length(e, dst)  # PlanError naming the parameter
                    except PlanError:
                        if not self._cast_by_glob(e.name):
                            raise
                        dst = None  # a glob casts what it can: '*=bf16' leaves integers alone
            pattern = None
            if f.action == SPLAT_OP:
                pattern = _pattern(f.value)
                problem = check_pattern(pattern, length)
                if problem:
                    raise PlanError(e.name, f"cannot splat {f.value or 'zero'}: {problem}")
            yield e, f, pattern, dst, length

    def fates(self, archive: Archive) -> list[Fate]:
        """``fate`` of every entry, in order (no ops: all kept, fast). Not
        cached here: a caller that needs them twice keeps them (the TUI's
        edit session does) and passes them to ``output.build``/``validate``."""
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
            ops.append(
                Op(
                    d["op"],
                    d["name"],
                    value=str(d.get("value", "")),
                    new=str(d.get("new", "")),
                    type=str(d.get("type", "")),
                )
            )
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


def written_dtype(entry: Entry, fate: Fate) -> DType | None:
    """The dtype ``entry`` is written with under ``fate``: its cast's, else
    its own."""
    return (cast_dtype(fate.cast) if fate.cast else None) or entry.dtype


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


def _zero_is_zero(d: DType | None) -> bool:
    """All-zero bytes are the value 0 (f8_e8m0fnu has no zero; block types
    we do not assume)."""
    return d is not None and d.kind in ("float", "int", "uint") and d.name != "f8_e8m0fnu"


def _target(e: Entry, f: Fate, pattern: bytes | None, dst: DType | None, length: int) -> Target:
    dtype = dst or e.dtype
    meta = e.metadata if dst is None else b""
    if not meta and dtype is not None and e.shape is not None:
        meta = pytorch_meta.encode(dtype, e.shape, length)
    if f.action == KEEP and e.kind != SPLAT:
        return Target(f.name, DATA, length, dtype, e.shape, meta, e, cast=dst)
    if f.action == KEEP:  # a source splat stays a splat
        if dst is None:
            return Target(f.name, SPLAT, length, dtype, e.shape, meta, e, e.pattern)
        if not any(e.pattern or b"\0") and _zero_is_zero(e.dtype) and _zero_is_zero(dst):
            return Target(f.name, SPLAT, length, dtype, e.shape, meta, e, b"\0")  # zero cast is zero
        return Target(f.name, DATA, length, dtype, e.shape, meta, e, cast=dst)  # the splat's values, cast
    return Target(f.name, SPLAT, length, dtype, e.shape, meta, e, pattern)
