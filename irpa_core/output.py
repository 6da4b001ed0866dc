"""What one output file holds, for each format we write, and the bytes of
each of its targets.

``build(plan, archive, format)`` gives an ``Output``: the
targets in the order they are written and the file-level metadata the
format keeps (``filemeta`` says where it comes from):

- ``irpa``: the targets as the plan gives them (splats stay splats). The
  file metadata becomes a ``__SHARK_DATASET__`` data entry (``dataset_meta``:
  sharktank's JSON, GGUF types kept) when it comes from a GGUF or
  safetensors input or when the plan edits it; an irpa input's own dataset
  entry is otherwise copied like any parameter (so ``--strip`` zeroes it, as
  ``iree-convert-parameters`` does). The entry goes where the input's was,
  else first.
- ``gguf``: every key/value with its exact GGUF type (``kvs``, encoded,
  arrays copied verbatim), splats written as data, no dataset entry (its
  content is the key/values). sharktank properties that are not GGUF
  key/values cannot be kept (``dropped``).
- ``safetensors``: ``__metadata__`` from the string key/values (``dropped``
  lists the others; setting a non-string value is an error), splats
  written as data.

A GGUF output may be split into shards as llama.cpp's ``gguf-split`` does
(``Output.split(Split(max_size=...))``, ``shards.shard_paths``): one
``Output`` per shard file, written together by ``write.write_split``.

``target_chunks(target)`` is the byte stream a target must hold, whatever
produces it (copied, pattern expanded, cast, generated): the writer writes
it and verify compares against it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from . import dtypes, filemeta, prune
from . import salvage as salvage_rule
from .cast import iter_cast
from .errors import Cancelled, PlanError
from .filemeta import DATASET, FileMetadata
from .formats import dataset_meta, gguf_writer, irpa_writer, pytorch_meta, registry, safetensors_writer
from .formats.gguf import SPLIT_KEYS
from .formats.irpa_writer import Layout
from .formats.registry import DATASET_ENTRY, KEY_VALUES, FileFormat
from .model import CHUNK, DATA, SPLAT, Archive, Entry, iter_chunks
from .plan import CAST_STREAM, COPY, EXPAND, MEMORY, SET_METADATA, Fate, Op, Plan, Target

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing slows start-up (bench/RESULTS.md)
    from typing import Any

Format = str  # a format's name: one of ``registry.NAMES``


def format_for(path: str | os.PathLike) -> Format | None:
    """The output format a file name asks for by its extension, or None."""
    f = registry.for_path(path)
    return f.name if f is not None else None


def format_of(archive: Archive) -> Format:
    """The format of a written file, as its reader found it."""
    return registry.get(archive.files[0].format).name


def aligned(plan: Plan, format: Format, alignment: int | None) -> tuple[Plan, int | None]:
    """An alignment chosen for an output (``--alignment``; None: the
    format's own) as the plan and the writer's ``alignment`` take it: an
    irpa's is the writer's; a GGUF's is its ``general.alignment`` key (u32),
    as GGUFWriter's custom alignment does; safetensors data is packed
    (PlanError: there is nothing to choose)."""
    f = registry.get(format)
    if alignment is None:
        return plan, None
    if f.default_alignment is None:
        raise PlanError(None, f"{f.name} data is packed, there is no alignment to choose")
    if f.alignment_key is not None:
        return plan.add(Op(SET_METADATA, f.alignment_key, value=str(alignment), type="u32")), None
    return plan, alignment


def default_alignment(format: Format, metadata: dict[str, Any]) -> int | None:
    """The data alignment an output gets when none is chosen, given its
    file metadata values: irpa 64, gguf its ``general.alignment`` key (when
    valid) or 32, safetensors None (packed)."""
    f = registry.get(format)
    if f.alignment_key is not None:
        value = metadata.get(f.alignment_key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return f.default_alignment


def parse_split_size(text: str) -> int:
    """A split's ``max_size`` as the CLI and the TUI take it: ``N``, ``NK``,
    ``NM`` or ``NG`` bytes (powers of 1000, as llama.cpp's
    ``convert_hf_to_gguf.py`` reads --split-max-size). PlanError (the reason
    only: the caller names the field) otherwise."""
    unit = {"K": 10**3, "M": 10**6, "G": 10**9}.get(text[-1:], 1)
    digits = text[:-1] if unit > 1 else text
    if not (digits.isascii() and digits.isdigit()) or int(digits) <= 0:
        raise PlanError(None, "expected a positive number of bytes, optionally with K, M or G")
    return int(digits) * unit


def parse_split_tensors(text: str) -> int:
    """A split's ``max_tensors``: a positive integer (PlanError otherwise)."""
    if not (text.isascii() and text.isdigit()) or int(text) <= 0:
        raise PlanError(None, "expected a positive number of tensors")
    return int(text)


@dataclass(frozen=True)
class Split:
    """How to split a GGUF output, as ``gguf-split --split`` offers: at most
    ``max_size`` bytes of tensor data per shard (each tensor rounded up to
    the alignment, the header not counted) or at most ``max_tensors``
    tensors per shard; exactly one of them (gguf-split takes one mode)."""

    max_size: int = 0
    max_tensors: int = 0

    def __post_init__(self) -> None:
        if self.max_size < 0 or self.max_tensors < 0:
            raise PlanError(None, "a split limit must be positive")
        if bool(self.max_size) == bool(self.max_tensors):
            raise PlanError(None, "split by size or by tensor count: give exactly one limit")


@dataclass(frozen=True)
class Output:
    """One file to write: targets in write order and file-level metadata."""

    format: Format
    targets: tuple[Target, ...]
    kvs: tuple[bytes, ...] = ()  # gguf: the encoded key/values, in order
    metadata: dict[str, str] | None = None  # safetensors: __metadata__ (None: none written)
    dropped: tuple[str, ...] = ()  # file metadata keys this format cannot hold
    left_out: tuple[Target, ...] = ()  # incomplete in a cut-off source: not written (``build(salvage=True)``)
    # Files written beside the output, (file name, content): a pruned
    # checkpoint's config.json (``prune.config_beside``; ``write.write_archive``).
    beside: tuple[tuple[str, bytes], ...] = ()

    @property
    def data_bytes(self) -> int:
        """Bytes of tensor data the file will hold (splats written as data
        included)."""
        return sum(t.length for t in self.targets if t.kind == DATA)

    @property
    def spec(self) -> FileFormat:
        """The record of its format (``registry``)."""
        return registry.get(self.format)

    @property
    def alignment(self) -> int | None:
        """The data alignment written when none is chosen: irpa 64, gguf its
        ``general.alignment`` key or 32, safetensors None (packed). PlanError
        for a ``general.alignment`` readers refuse."""
        f = self.spec
        if f.alignment_key is not None:
            return gguf_writer.kv_alignment(self.kvs) or f.default_alignment
        return f.default_alignment

    def expanded(self) -> tuple[int, int, int]:
        """Targets whose bytes are a pattern repeated (splats, which GGUF and
        safetensors write as data): their count, bytes, and bytes of zeros."""
        count = size = zeros = 0
        for t in self.targets:
            if t.kind == DATA and t.how == EXPAND:
                count += 1
                size += t.length
                pattern = t.pattern if t.pattern is not None else (t.source.pattern or b"\0")
                zeros += t.length if not any(pattern) else 0
        return count, size, zeros

    def warnings(self) -> list[str]:
        """What the file leaves out or lacks that a reader may expect, one
        sentence each (``irpa convert`` prints them; the TUI's write dialog
        shows them)."""
        out = []
        f = self.spec
        if self.dropped:
            shown = ", ".join(self.dropped[:5]) + (", ..." if len(self.dropped) > 5 else "")
            out.append(f"{len(self.dropped)} metadata key(s) not written ({f.drops}): {shown}")
        if f.expected_keys:
            keys = {gguf_writer.kv_key(b) for b in self.kvs}
            out += [why for key, why in f.expected_keys if key not in keys]
        if self.left_out:
            out.append(salvage_rule.left_out_line(self.left_out, len(self.targets)))
        return out

    def split(self, split: Split) -> tuple[Output, ...]:
        """The shards of this GGUF output (see ``gguf_writer``'s "Split
        models"): every key/value in the first, the split keys in each.
        PlanError for another format or more shards than ``split.count``
        holds."""
        if not self.spec.shards:
            raise PlanError(None, f"only GGUF output can be split into shards, not {self.format}")
        bounds = gguf_writer.shard_bounds(
            [t.length for t in self.targets], self.alignment or 0, split.max_size, split.max_tensors
        )
        count = len(bounds)
        if count > gguf_writer.MAX_SHARDS:
            raise PlanError(None, f"{count} shards: a split GGUF has at most {gguf_writer.MAX_SHARDS}")
        # As gguf-split sets them: an existing split key is replaced, at the end.
        kvs = tuple(b for b in self.kvs if gguf_writer.kv_key(b) not in SPLIT_KEYS)
        aligned = tuple(b for b in kvs if gguf_writer.kv_key(b) == self.spec.alignment_key)
        total = len(self.targets)
        return tuple(
            replace(
                self,
                targets=self.targets[r.start : r.stop],
                kvs=(kvs if no == 0 else aligned) + gguf_writer.split_kvs(no, count, total),
                dropped=self.dropped if no == 0 else (),
            )
            for no, r in enumerate(bounds)
        )

    def layout(self, alignment: int | None = None) -> Layout:
        """Header bytes, data offsets and file size. ``alignment``: irpa data
        alignment (default 64); for gguf it must agree with the key/values
        (``general.alignment``, else 32); safetensors has none. Raises
        ValueError or PlanError (a target the format cannot hold, named)."""
        f = self.spec
        if f.file_metadata == DATASET_ENTRY:
            return irpa_writer.layout(self.targets, alignment or f.default_alignment or 1)
        if f.file_metadata == KEY_VALUES:
            return gguf_writer.layout(self.targets, self.kvs, alignment or f.default_alignment or 1)
        if alignment is not None:
            raise ValueError(f"{f.name} data is packed: there is no alignment to choose")
        return safetensors_writer.layout(self.targets, self.metadata)


def build(
    plan: Plan, archive: Archive, format: Format, fates: list[Fate] | None = None, *, salvage: bool = False
) -> Output:
    """The ``Output`` of ``plan`` applied to ``archive`` in ``format``,
    validated (PlanError naming the parameter or the metadata key). From a
    cut-off file (``salvage``), a plan that copies a partial or missing
    entry is an ``IncompleteError``; with ``salvage`` those entries are
    left out (``Output.left_out``)."""
    f = registry.get(format)
    if fates is None:
        fates = plan.fates(archive)
    if plan.pruned:
        prune.check(plan, archive)
    targets = plan.tensor_targets(archive, fates)
    left_out: list[Target] = []
    if archive.truncated:
        targets, left_out = salvage_rule.keep_complete(targets, salvage)
    ops = plan.file_ops
    org = filemeta.origin(archive, fates)
    if f.file_metadata == DATASET_ENTRY and not ops and (org is None or org.entry is not None):
        # an irpa's dataset entry, if any, is copied as it is
        return Output(f.name, tuple(targets), left_out=tuple(left_out))
    out = replace(assemble(targets, format, ops, filemeta.read(org)), left_out=tuple(left_out))
    config = prune.config_beside(plan, archive, format)
    return out if config is None else replace(out, beside=((prune.CONFIG, config[1]),))


def apply(plan: Plan, archive: Archive, format: Format = "irpa", fates: list[Fate] | None = None) -> list[Target]:
    """The entries of ``plan`` applied to ``archive`` in ``format``, in write
    order, validated: PlanError naming the parameter for a rename
    collision, a splat pattern that does not fit the parameter, a cast that
    is not possible, or a bad value (``build`` gives the file metadata too).
    ``fates``: the plan's ``fates(archive)`` when the caller has them."""
    return list(build(plan, archive, format, fates).targets)


def assemble(
    targets: Sequence[Target], format: Format, ops: Sequence[Op] = (), meta: FileMetadata | None = None
) -> Output:
    """An ``Output`` of ``format`` from parameter targets, the file metadata
    of the sources and the metadata ops (``irpa create`` has no sources)."""
    f = registry.get(format)
    edited, was_set = filemeta.edit(meta or FileMetadata(), ops)
    if f.file_metadata == DATASET_ENTRY:
        return Output(f.name, tuple(_with_dataset(targets, edited)))
    tensors = tuple(t for t in targets if not _is_dataset(t))
    if not f.splats:
        tensors = tuple(replace(t, kind=DATA) if t.kind == SPLAT else t for t in tensors)
    if f.file_metadata == KEY_VALUES:
        kvs = gguf_writer.kv_blobs(edited.values, edited.types)
        return Output(f.name, tensors, kvs=tuple(kvs), dropped=tuple(edited.properties))
    metadata: dict[str, str] = {}
    dropped = []
    for key, value in edited.values.items():
        type_name = edited.types.get(key)
        if type_name == "string":
            metadata[key] = value
        elif key in was_set:
            raise PlanError(
                None, f"metadata key '{key}' is {type_name}: {f.name} __metadata__ holds only strings (string:VALUE)"
            )
        else:
            dropped.append(key)
    return Output(f.name, tensors, metadata=metadata or None, dropped=(*dropped, *edited.properties))


def _is_dataset(t: Target) -> bool:
    """An input's (unrenamed) __SHARK_DATASET__ entry: file metadata, not a tensor."""
    return t.name == DATASET and t.source.name == DATASET


def _with_dataset(targets: Sequence[Target], meta: FileMetadata) -> list[Target]:
    """``targets`` with the __SHARK_DATASET__ entry holding ``meta``: in place
    of an input's dataset entry, else first; none when there is nothing to keep."""
    out = list(targets)
    at = next((i for i, t in enumerate(out) if _is_dataset(t)), None)
    if not meta.values and not meta.properties:
        if at is not None:
            del out[at]
        return out
    try:
        blob = dataset_meta.encode(meta.values, meta.types, properties=meta.properties)
    except ValueError as e:
        raise PlanError(None, str(e)) from None
    n = len(blob)
    u8 = dtypes.U8
    source = meta.entry or (out[at].source if at is not None else None)
    if source is None:
        path = meta.file.path if meta.file is not None else ""
        source = Entry(name=DATASET, kind=DATA, length=n, file=path, dtype=u8, shape=(n,))
    target = Target(DATASET, DATA, n, u8, (n,), pytorch_meta.encode(u8, (n,), n), source, data=blob)
    if at is not None:
        out[at] = target
    elif any(t.name == DATASET for t in out):
        raise PlanError(DATASET, "a parameter renamed to this name takes the place of the file metadata entry")
    else:
        out.insert(0, target)
    return out


# ---------------------------------------------------------------------------
# The bytes of a target


def target_chunks(t: Target, chunk: int = CHUNK, cancel: Any = None) -> Iterator[bytes | memoryview]:
    """The bytes ``t`` holds, in order, at most about ``chunk`` bytes at a
    time (memory stays bounded): the source's bytes, its pattern repeated
    (a splat's value), its source's values cast, or its generated bytes.
    Raises Cancelled when ``cancel`` is set, ArchiveError for a short source."""
    how = t.how
    if how == COPY:
        for part in iter_chunks(t.source, chunk):
            _check(cancel)
            yield part
    elif how == CAST_STREAM:
        assert t.cast is not None
        yield from iter_cast(t.source, t.cast, cancel=cancel)
    elif how == MEMORY:
        assert t.data is not None
        view = memoryview(t.data)
        for pos in range(0, len(view), chunk):
            _check(cancel)
            yield view[pos : pos + chunk]
    else:  # a pattern: a splat, or a splat written as data
        pattern = t.pattern if t.pattern is not None else (t.source.pattern or b"\0")
        yield from _repeat(pattern, t.length, chunk, cancel)


def _repeat(pattern: bytes, length: int, chunk: int, cancel: Any) -> Iterator[memoryview]:
    k = len(pattern)
    per = max(k, chunk // k * k)  # whole patterns per chunk: every chunk starts on one
    block = memoryview(pattern * (min(per, length) // k + 1))
    pos = 0
    while pos < length:
        _check(cancel)
        n = min(per, length - pos)
        yield block[:n]
        pos += n


def _check(cancel: Any) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()
