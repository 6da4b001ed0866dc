"""What file-level metadata values mean to a person.

GGUF stores enums as integers (``general.file_type = 15``), token ids as
integers pointing into the vocabulary, and f32 values that Python prints as
doubles (``9.999999974752427e-07``). ``describe`` turns a key and its value
into the text to show: the value at its type's precision and, where the key
is a known enum or token id, what it stands for (``15 (MOSTLY_Q4_K_M)``,
``2 (<bos>)``). Enum names come from the ``gguf`` package's own tables, so
they follow llama.cpp.

Nothing here escapes text: callers show the result through
``display.escape`` (the CLI) or a ``rich.text.Text`` (the TUI).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .display import f32

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing slows start-up (bench/RESULTS.md)
    from typing import Any

# key (or its suffix after "ARCH.") -> name of the gguf.constants enum
_ENUM_KEYS = {
    "general.file_type": "LlamaFileType",
    "tokenizer.ggml.token_type": "TokenType",
    "pooling_type": "PoolingType",
    "expert_gating_func": "ExpertGatingFuncType",
}
_TOKEN_ID_SUFFIX = "_token_id"
_TOKENS_KEY = "tokenizer.ggml.tokens"


def enum_for(key: str) -> str | None:
    """The gguf enum a key's integers belong to, or None."""
    if key in _ENUM_KEYS:
        return _ENUM_KEYS[key]
    suffix = key.split(".", 1)[1] if "." in key else key
    return _ENUM_KEYS.get(suffix)


def enum_name(enum: str, value: Any) -> str | None:
    """``LlamaFileType`` 15 -> ``MOSTLY_Q4_K_M`` (None when unknown)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    try:
        from gguf import constants

        return getattr(constants, enum)(value).name
    except (AttributeError, ValueError, ImportError):
        return None


def enum_decoder(key: str) -> Callable[[Any], str | None] | None:
    """A function naming each item of a key's value (arrays of enums, such
    as token types, are decoded item by item), or None for other keys."""
    enum = enum_for(key)
    if enum is None:
        return None
    try:
        from gguf import constants

        table = {int(m.value): m.name for m in getattr(constants, enum)}
    except (AttributeError, ImportError):
        return None
    return lambda v: None if isinstance(v, bool) or not isinstance(v, int) else table.get(v)


def scalar_text(value: Any, type_name: str = "") -> str:
    """A scalar at its type's precision: f32 as the shortest decimal that
    reads back as the same f32; strings as they are (callers escape)."""
    if isinstance(value, float) and type_name == "f32":
        return f32(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe(key: str, value: Any, type_name: str = "", metadata: Mapping[str, Any] | None = None) -> str | None:
    """What a scalar value stands for, when the key says: an enum's name or
    the token an id points at (looked up in ``metadata``'s vocabulary).
    None when there is nothing to add."""
    enum = enum_for(key)
    if enum is not None:
        return enum_name(enum, value)
    if key.endswith(_TOKEN_ID_SUFFIX) and metadata is not None:
        return token_text(metadata, value)
    return None


def token_text(metadata: Mapping[str, Any], token_id: Any) -> str | None:
    """The vocabulary entry of a token id (None when out of range)."""
    tokens = metadata.get(_TOKENS_KEY)
    if isinstance(token_id, bool) or not isinstance(token_id, int) or tokens is None:
        return None
    if hasattr(tokens, "nbytes"):  # a lazy GGUF array
        items = array_items(tokens)
        item = items[token_id] if 0 <= token_id < len(items) else None
    elif isinstance(tokens, tuple) and len(tokens) == 2:  # (element type, items) from __SHARK_DATASET__
        items = tokens[1]
        item = items[token_id] if 0 <= token_id < len(items) else None
    else:
        return None
    return item if isinstance(item, str) else None


_ARRAYS: dict[tuple[str, int, int], list] = {}  # a few decoded arrays (vocabularies)
_KEEP_ARRAYS = 8


def array_items(arr: Any) -> list:
    """Every item of a lazy GGUF array, decoded in one read and kept (a
    262,144-token vocabulary is read once however often it is searched).
    Strings that are not UTF-8 keep their bytes (``surrogateescape``)."""
    from .formats.dataset_meta import read_array

    key = (arr.path, arr.offset, arr.nbytes)
    items = _ARRAYS.get(key)
    if items is None:
        items = read_array(arr)
        while len(_ARRAYS) >= _KEEP_ARRAYS:
            _ARRAYS.pop(next(iter(_ARRAYS)))
        _ARRAYS[key] = items
    return items
