"""Every file format we read and write, one record each.

Whatever differs by format is a field of its ``FileFormat`` record, and code
that needs it asks the record (``get(name).splats``) instead of comparing
format names. Readers and writers are imported on first use only: ``irpa
dump`` of an irpa file never pays for the GGUF reader.

Adding a format is one reader module (``read_<name>(source, scope) ->
(entries, metadata, metadata_types, data_end)``: ``data_end`` is where the
last byte its entries need lies, past the file's size when a download was
cut off; entries past the end still list, see ``irpa_core.salvage``), a writer layout in ``output.py``'s
terms (one of the three ``FileMetadata`` kinds below, or a new one), and one
record in ``FORMATS``. The three we have, as the example:

- ``irpa``: IREE's parameter archive. Splats and external entries are
  entries of their own; the data alignment is chosen at write time (64 by
  default, as IREE's tools); file metadata lives in a ``__SHARK_DATASET__``
  data entry (sharktank's JSON).
- ``gguf``: llama.cpp's format. Typed key/values; the alignment is the
  ``general.alignment`` key (32 without it); a model may be split into
  shards (``shards.py``); llama.cpp expects ``general.architecture``.
- ``safetensors``: Hugging Face's format. Packed data (no alignment), a
  ``__metadata__`` of strings, ``config.json`` beside it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

IRPA_ALIGNMENT = 64  # of data, when none is chosen: what IREE's tools use
GGUF_ALIGNMENT = 32  # what GGUF readers assume without a general.alignment key

# How a format keeps file-level metadata (``filemeta`` reads it, ``output``
# writes it).
DATASET_ENTRY = "dataset entry"  # a __SHARK_DATASET__ data entry: GGUF-typed key/values and properties
KEY_VALUES = "key/values"  # typed GGUF key/values
STRINGS = "strings"  # string key -> string value


@dataclass(frozen=True, slots=True, kw_only=True)
class FileFormat:
    name: str
    extensions: tuple[str, ...]  # lower case, with the dot; the first is the one we write
    detects: Callable[[bytes], bool]  # from the file's first 16 bytes
    reader: str  # "module:function", imported on first use
    noun: str  # what its entries are, for people: "entries", "tensors"
    splats: bool  # a splat is an entry of its own (else it is written as data)
    external: bool  # entries may point into other files
    file_metadata: str  # DATASET_ENTRY, KEY_VALUES or STRINGS
    default_alignment: int | None  # of tensor data when none is chosen; None: packed, nothing to choose
    alignment_key: str | None = None  # the alignment is this file metadata key (u32), not a write option
    shards: bool = False  # may be written as a split set (``shards.shard_paths``)
    expected_keys: tuple[tuple[str, str], ...] = ()  # (key, why a reader wants it): a warning when missing
    config_beside: bool = False  # a model config.json usually sits in the same directory
    refused: tuple[tuple[bytes, str], ...] = ()  # (first bytes, why): a variant we do not read

    @property
    def new_key_type(self) -> str:
        """The type a new metadata key gets when none is named ("" when the
        format has typed values and a type must be given)."""
        return "string" if self.file_metadata == STRINGS else ""

    @property
    def drops(self) -> str:
        """Why file metadata is left out when written in this format."""
        if self.file_metadata == STRINGS:
            return f"{self.name} holds only strings"
        if self.file_metadata == KEY_VALUES:
            return f"{self.name} cannot hold sharktank properties"
        return ""

    def read(self, source, scope: str):
        """The reader's ``(entries, metadata, metadata_types, data_end)`` of an open source."""
        module, _, function = self.reader.partition(":")
        from importlib import import_module

        return getattr(import_module(module), function)(source, scope)


FORMATS: tuple[FileFormat, ...] = (
    FileFormat(
        name="irpa",
        extensions=(".irpa",),
        detects=lambda head: head[:4] == b"IRPA",
        reader="irpa_core.formats.irpa:read_irpa",
        noun="entries",
        splats=True,
        external=True,
        file_metadata=DATASET_ENTRY,
        default_alignment=IRPA_ALIGNMENT,
    ),
    FileFormat(
        name="gguf",
        extensions=(".gguf",),
        detects=lambda head: head[:4] == b"GGUF",
        reader="irpa_core.formats.gguf:read_gguf",
        noun="tensors",
        splats=False,
        external=False,
        file_metadata=KEY_VALUES,
        default_alignment=GGUF_ALIGNMENT,
        alignment_key="general.alignment",
        shards=True,
        expected_keys=(
            (
                "general.architecture",
                "the GGUF has no general.architecture, which llama.cpp's loader and the gguf "
                "package's scripts expect: --set-metadata general.architecture=string:NAME",
            ),
        ),
        refused=((b"FUGG", "big-endian GGUF files are not supported"),),
    ),
    FileFormat(
        name="safetensors",
        extensions=(".safetensors",),
        # a u64 header size, then a JSON object starting with '{'
        detects=lambda head: len(head) >= 9 and head[8:9] == b"{",
        reader="irpa_core.formats.safetensors:read_safetensors",
        noun="tensors",
        splats=False,
        external=False,
        file_metadata=STRINGS,
        default_alignment=None,
        config_beside=True,
    ),
)
NAMES: tuple[str, ...] = tuple(f.name for f in FORMATS)
_BY_NAME = {f.name: f for f in FORMATS}


def get(name: str) -> FileFormat:
    """The record of a format name (ValueError for an unknown one)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r} (known: {', '.join(NAMES)})") from None


def find(name: str) -> FileFormat | None:
    """The record of a format name, or None (a plain data file that an
    archive's entries point into has format ``raw``)."""
    return _BY_NAME.get(name)


def for_path(path: str | os.PathLike) -> FileFormat | None:
    """The format a file name asks for by its extension, or None."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    return next((f for f in FORMATS if ext in f.extensions), None)


def sniff(head: bytes) -> FileFormat | str | None:
    """The format of a file from its first bytes; a str saying why for a
    variant we refuse; None when no format recognises them."""
    for f in FORMATS:
        for magic, why in f.refused:
            if head.startswith(magic):
                return why
        if f.detects(head):
            return f
    return None
