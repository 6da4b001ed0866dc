"""IRPA v0 layout: target entries in, header bytes and data offsets out.

A pure function, no I/O, laid out like the reference tools (FORMATS.md):
header at 0, entry table at 96 with each entry on 16 bytes, the metadata
segment right after the table (names back to back, then metadata blobs),
storage at the next ``alignment`` boundary with each data entry aligned,
``minimum_alignment`` = ``alignment`` on data entries and 0 on splats, the
file padded with zeros to a multiple of 4096.
"""

from __future__ import annotations

from dataclasses import dataclass

from .irpa import (
    DATA_TAIL,
    ENTRY,
    ENTRY_ALIGNMENT,
    FILE_ALIGNMENT,
    HEADER,
    MAGIC,
    SPLAT_TAIL,
    TYPE_DATA,
    TYPE_SPLAT,
    VERSION_MAJOR,
    VERSION_MINOR,
)
from .registry import IRPA_ALIGNMENT as DEFAULT_ALIGNMENT


@dataclass(frozen=True)
class Layout:
    head: bytes  # header + entry table + metadata, from byte 0
    offsets: tuple[int | None, ...]  # absolute file offset of each target's data
    storage_start: int
    file_size: int  # padded to FILE_ALIGNMENT


def _round_up(n: int, a: int) -> int:
    return -(-n // a) * a


def layout(targets, alignment: int = DEFAULT_ALIGNMENT) -> Layout:
    """Targets need ``name``, ``kind`` ("data"/"splat"), ``length``,
    ``metadata`` (bytes) and ``pattern`` (splats)."""
    if alignment < 1 or alignment & (alignment - 1):
        raise ValueError(f"alignment {alignment} is not a power of two")
    names = [t.name.encode("utf-8", "surrogateescape") for t in targets]  # bytes read from an IRPA name
    # Metadata segment: all names, then all metadata blobs.
    meta = bytearray(b"".join(names))
    name_offsets, pos = [], 0
    for n in names:
        name_offsets.append(pos)
        pos += len(n)
    md_offsets = []
    for t in targets:
        md_offsets.append(len(meta) if t.metadata else 0)
        meta += t.metadata

    table_start = _round_up(HEADER.size, ENTRY_ALIGNMENT)
    entry_sizes = [ENTRY.size + (DATA_TAIL.size if t.kind == "data" else SPLAT_TAIL.size) for t in targets]
    table_len, starts = 0, []
    for i, size in enumerate(entry_sizes):
        starts.append(table_len)
        table_len += size if i == len(entry_sizes) - 1 else _round_up(size, ENTRY_ALIGNMENT)
    meta_start = table_start + table_len
    storage_start = _round_up(meta_start + len(meta), alignment)

    # Storage: each data entry aligned, in order.
    rel_offsets: list[int | None] = []
    storage_len = 0
    for t in targets:
        if t.kind == "data":
            off = _round_up(storage_len, alignment)
            rel_offsets.append(off)
            storage_len = off + t.length
        else:
            rel_offsets.append(None)

    table = bytearray(table_len)
    for i, t in enumerate(targets):
        common = (
            entry_sizes[i],
            TYPE_DATA if t.kind == "data" else TYPE_SPLAT,
            0,
            name_offsets[i],
            len(names[i]),
            md_offsets[i],
            len(t.metadata),
            alignment if t.kind == "data" else 0,
        )
        ENTRY.pack_into(table, starts[i], *common)
        if t.kind == "data":
            DATA_TAIL.pack_into(table, starts[i] + ENTRY.size, rel_offsets[i], t.length)
        else:
            pat = t.pattern
            SPLAT_TAIL.pack_into(table, starts[i] + ENTRY.size, t.length, pat.ljust(16, b"\0"), len(pat))

    header = HEADER.pack(
        MAGIC,
        VERSION_MAJOR,
        VERSION_MINOR,
        HEADER.size,
        0,
        0,
        len(targets),
        table_start,
        table_len,
        meta_start,
        len(meta),
        storage_start,
        storage_len,
    )
    head = b"".join((header.ljust(table_start, b"\0"), table, meta))  # one copy, not three
    offsets = tuple(None if r is None else storage_start + r for r in rel_offsets)
    file_size = _round_up(max(storage_start + storage_len, len(head)), FILE_ALIGNMENT)
    return Layout(head, offsets, storage_start, file_size)
