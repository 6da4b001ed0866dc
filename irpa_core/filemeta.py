"""File-level metadata of an archive, and the plan's edits of it.

An archive's file metadata is the key/values of the first input file that
has any, whatever the output format (so gguf -> irpa -> gguf and
safetensors -> irpa -> safetensors give back what they started with):

- a GGUF file: its key/values with their GGUF types, except ``split.no``,
  ``split.count`` and ``split.tensors.count`` (what we write is one file; a
  split model's first shard holds every other key);
- a safetensors file: its ``__metadata__`` (every value a string);
- an irpa file: its ``__SHARK_DATASET__`` entry decoded by ``dataset_meta``
  (GGUF key/values, and sharktank's own properties such as ``hparams``),
  unless the plan excludes or renames that entry.

``edit`` applies the plan's ``set_metadata``/``unset_metadata`` ops in order
(and a ``prune_blocks`` op's block count and per-layer arrays, ``prune.py``,
at its place among them)
(``gguf_writer.apply_edits`` parses the values: an existing key keeps its
type). ``set_op`` turns the command-line text ``KEY=[TYPE:]VALUE`` into an
op; see its docstring for when ``TYPE:`` is a type.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from . import prune
from .errors import ArchiveError
from .formats import dataset_meta, registry
from .formats.gguf import SPLIT_KEYS
from .formats.gguf_writer import MetadataEdit, apply_edits, parse_value
from .formats.registry import DATASET_ENTRY
from .model import SPLAT, Archive, Entry, SourceFile, read_bytes
from .plan import EXCLUDE, PRUNE_BLOCKS, SET_METADATA, UNSET_METADATA, Fate, Op, is_glob

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing slows start-up (bench/RESULTS.md)
    from typing import Any

DATASET = dataset_meta.NAME
# A GGUF type name followed by ':' at the start of a set_metadata value.
_TYPE_PREFIX = re.compile(r"(u8|i8|u16|i16|u32|i32|u64|i64|f32|f64|bool|string|array\[[a-z0-9\[\]]+\]):")


@dataclass(frozen=True)
class FileMetadata:
    """Key/values (as the readers give them: arrays are ``GGUFArray`` or
    ``(element_type, items)`` pairs), their GGUF type names, and the other
    properties of an irpa's dataset entry. ``file``/``entry``: where they
    were read from (None: no input has file metadata)."""

    values: dict[str, Any] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    file: SourceFile | None = None
    entry: Entry | None = None  # the irpa __SHARK_DATASET__ entry they come from


@dataclass(frozen=True)
class Origin:
    """The input the file metadata comes from (before reading it)."""

    file: SourceFile
    entry: Entry | None  # an irpa's __SHARK_DATASET__ entry


def origin(archive: Archive, fates: Sequence[Fate]) -> Origin | None:
    """The first input file with file metadata (see the module docstring),
    found without reading any data."""
    datasets: dict[str, Entry] = {}
    for e, f in zip(archive.entries, fates):
        if e.name == DATASET and e.kind != SPLAT and f.action != EXCLUDE and not f.renamed:
            datasets.setdefault(e.file, e)
    for sf in archive.files:
        spec = registry.find(sf.format)
        if spec is None:
            continue  # a plain data file
        if spec.file_metadata == DATASET_ENTRY:
            if sf.path in datasets:
                return Origin(sf, datasets[sf.path])
        elif any(k not in SPLIT_KEYS for k in sf.metadata):  # a split's own keys say where its shards are
            return Origin(sf, None)
    return None


def read(org: Origin | None) -> FileMetadata:
    """The file metadata of ``org`` (an irpa's dataset entry is read and
    decoded here; ArchiveError when it is not valid)."""
    if org is None:
        return FileMetadata()
    sf, entry = org.file, org.entry
    if entry is None:
        values = {k: v for k, v in sf.metadata.items() if k not in SPLIT_KEYS}
        types = {k: sf.metadata_types.get(k, "string") for k in values}
        return FileMetadata(values, types, {}, sf)
    blob = read_bytes(entry)
    try:
        values, types = dataset_meta.decode(blob)
        properties = dataset_meta.decode_properties(blob)
    except ValueError as e:
        raise ArchiveError(entry.file, entry.start, f"entry '{DATASET}': {e}") from None
    return FileMetadata(values, types, properties, sf, entry)


def edit(meta: FileMetadata, ops: Sequence[Op]) -> tuple[FileMetadata, set[str]]:
    """``meta`` with the metadata ops applied in order, and the keys an op
    set (PlanError naming the key for a value that does not parse, or a new
    key without a type). An unset glob also drops matching properties."""
    values, types = dict(meta.values), dict(meta.types)
    properties = dict(meta.properties)
    was_set: set[str] = set()
    for op in ops:
        if op.action == UNSET_METADATA:
            keys = [k for k in values if op.matches(k)] if is_glob(op.pattern) else [op.pattern]
            for k in keys:
                values.pop(k, None)
                types.pop(k, None)
                was_set.discard(k)
            for k in [k for k in properties if op.matches(k)]:
                del properties[k]
        elif op.action == SET_METADATA:
            values, types = apply_edits(values, types, [MetadataEdit("set", op.pattern, op.value, op.type)])
            was_set.add(op.pattern)
        elif op.action == PRUNE_BLOCKS:
            properties = prune.edit_properties(properties, values, op)
            values, types = prune.edit_metadata(values, types, op)
    return FileMetadata(values, types, properties, meta.file, meta.entry), was_set


def set_op(key: str, text: str, known: Collection[str], default_type: str = "") -> Op:
    """The ``set_metadata`` op for ``KEY=TEXT`` on the command line.

    ``TEXT`` is ``VALUE`` or ``TYPE:VALUE`` with TYPE a GGUF type name
    (``u32``, ``f32``, ``string``, ``array[string]``...). ``TYPE:`` is read
    as a type when the key is new (not in ``known``), or when VALUE parses
    as TYPE; otherwise the whole TEXT is the value, with the key's own type.
    So a chat template holding ':' stays intact, and an existing key takes a
    new type only when asked in a form that parses (``u32:4096``). To set a
    text that starts with a type name and ':' write its type first
    (``string:u8:...``). A new key without ``TYPE:`` gets ``default_type``
    (``string`` for safetensors, where every value is one)."""
    m = _TYPE_PREFIX.match(text)
    if m:
        type_name, value = m[1], text[m.end() :]
        if key not in known:
            return Op(SET_METADATA, key, value=value, type=type_name)
        try:
            parse_value(type_name, value)
        except ValueError:
            pass
        else:
            return Op(SET_METADATA, key, value=value, type=type_name)
    return Op(SET_METADATA, key, value=text, type="" if key in known else default_type)
