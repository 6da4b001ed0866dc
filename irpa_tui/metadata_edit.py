"""File metadata values as the text the metadata dialog edits, and back:
what ``e`` shows for a key, and which keys and types ``a`` and ``d`` take."""

from __future__ import annotations

import json
import math
from typing import Any

from irpa_core.filemeta import FileMetadata
from irpa_core.formats import registry
from irpa_core.formats.gguf_writer import SCALAR_TYPES, array_element, type_spec
from irpa_core.metadata import array_items

from .editing import EditSession, MetadataState
from .metadata_view import ARRAY, Node, value_text

# The GGUF types a new key can take (gguf_writer.parse_value reads each).
GGUF_TYPES: tuple[str, ...] = ("string", *SCALAR_TYPES, "array[string]", *(f"array[{t}]" for t in SCALAR_TYPES))
ARRAY_EDIT_LIMIT = 100_000  # items of an array edited as JSON text here


def editable_text(node: Node, meta: FileMetadata) -> tuple[str, str]:
    """(GGUF type, the value as text ``parse_value`` reads back to it) of a
    key; ValueError with a sentence when it cannot be edited as text."""
    key = node.label
    value, type_name = meta.values[key], meta.types.get(key, "string")
    spec = type_spec(type_name, value)
    if spec == "string":
        return spec, value if isinstance(value, str) else str(value)
    if array_element(spec) is None:
        return spec, value_text(value, type_name)
    count = node.count if node.kind == ARRAY else 0
    if count > ARRAY_EDIT_LIMIT:
        raise ValueError(
            f"an array of {count:,} items is too large to edit here: d deletes it, or irpa convert "
            "--set-metadata-file KEY=FILE sets it from a JSON file"
        )
    return spec, json.dumps(_plain(node.items), ensure_ascii=False)


def _plain(items) -> list:
    """Array items as JSON-ready values (nested arrays as lists; floats that
    JSON cannot hold as the strings ``parse_value`` reads)."""
    out: list[Any] = []
    for v in items:
        if hasattr(v, "items") and hasattr(v, "type_name"):  # a nested GGUF array
            v = array_items(v)
        if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], list):
            v = v[1]
        if isinstance(v, list):
            out.append(_plain(v))
        elif isinstance(v, float) and not math.isfinite(v):
            out.append(str(v))
        else:
            out.append(v)
    return out


def literal_key(key: str) -> str:
    """``key`` as an unset pattern that matches only itself (a key holding
    ``*``, ``?`` or ``[`` would otherwise be a glob)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in key)


def strings_only(session: EditSession, state: MetadataState) -> bool:
    """Whether the file metadata is a safetensors ``__metadata__``, whose
    values are all strings."""
    f = state.base.file
    fmt = f.format if f is not None else (session.archive.files[0].format if session.archive.files else "")
    spec = registry.find(fmt)
    return spec is not None and spec.file_metadata == registry.STRINGS
