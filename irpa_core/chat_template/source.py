"""Where a model's chat template is kept, and what runtimes pass it.

- GGUF (and an .irpa's ``__SHARK_DATASET__`` keys): ``tokenizer.chat_template``,
  named variants ``tokenizer.chat_template.NAME``. The BOS/EOS text is the
  vocabulary's piece for ``tokenizer.ggml.bos_token_id``/``eos_token_id``
  (what llama-cpp-python passes: ``token_get_text``; "" without the id).
- Hugging Face (safetensors): beside the file, ``chat_template.jinja``
  (transformers' own file since 4.43) or ``tokenizer_config.json``'s
  ``chat_template`` (a string, or a list of ``{name, template}``); the
  special tokens from ``tokenizer_config.json``, else
  ``special_tokens_map.json`` (a string or an ``{"content": ...}`` object).
  transformers passes every named special token to the template
  (``unk_token``, ``pad_token``...): they are ``variables`` here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from ..errors import ArchiveError, IrpaError
from ..formats import registry
from ..model import Archive

KEY = "tokenizer.chat_template"
# The special tokens transformers passes a template (SpecialTokensMixin).
SPECIAL_TOKEN_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatTemplate:
    """A template and what a runtime renders it with. ``where``: the file
    and key it comes from, for messages (``model.gguf: tokenizer.chat_template``);
    ``names``: every named variant the file has (``tool_use``...)."""

    text: str
    where: str
    name: str | None = None
    names: tuple[str, ...] = ()
    bos_token: str = ""
    eos_token: str = ""
    variables: dict = field(default_factory=dict)


def find(archive: Archive, name: str | None = None) -> ChatTemplate:
    """The archive's chat template (``name``: a named variant). Raises
    ``IrpaError`` naming the file when it has none (or not that name)."""
    if not archive.files:
        raise IrpaError("no input file")
    if _is_hf(archive):
        return _from_hf(_hf_dir(archive), name)
    return _from_gguf_keys(archive, name)


def from_text(text: str, where: str, archive: Archive) -> ChatTemplate:
    """A template given as text (``--template-file``), rendered with what
    the archive's own template would get: its BOS/EOS and variables (the
    archive need not have a template)."""
    bos, eos, variables = _special_tokens(archive)
    return ChatTemplate(text=text, where=where, bos_token=bos, eos_token=eos, variables=variables)


def _special_tokens(archive: Archive) -> tuple[str, str, dict]:
    if not archive.files:
        raise IrpaError("no input file")
    if _is_hf(archive):
        variables = _hf_special_tokens(_hf_dir(archive))
        bos, eos = variables.pop("bos_token", ""), variables.pop("eos_token", "")
        return bos, eos, variables
    values, _ = _values(archive)
    return _piece(values, "tokenizer.ggml.bos_token_id"), _piece(values, "tokenizer.ggml.eos_token_id"), {}


def _is_hf(archive: Archive) -> bool:
    spec = registry.find(archive.files[0].format)
    return spec is not None and spec.config_beside


def _hf_dir(archive: Archive) -> str:
    return os.path.dirname(os.path.abspath(archive.files[0].path))


def _values(archive: Archive) -> tuple[dict, str]:
    from .. import filemeta
    from ..plan import Plan

    meta = filemeta.read(filemeta.origin(archive, Plan().fates(archive)))
    label = meta.file.path if meta.file is not None else archive.files[0].path
    return meta.values, label


def _from_gguf_keys(archive: Archive, name: str | None) -> ChatTemplate:
    values, path = _values(archive)
    names = tuple(sorted(k[len(KEY) + 1 :] for k in values if k.startswith(KEY + ".")))
    key = KEY if name is None else f"{KEY}.{name}"
    text = values.get(key)
    if not isinstance(text, str):
        if name is not None:
            have = f" (it has: {', '.join(names)})" if names else ""
            raise ArchiveError(path, None, f"has no chat template named '{name}': no key {key}{have}")
        if text is None:
            hint = f" (named ones: {', '.join(names)}; choose with --name)" if names else ""
            raise ArchiveError(path, None, f"has no chat template (no key {KEY}){hint}")
        raise ArchiveError(path, None, f"{key} is not a string")
    return ChatTemplate(
        text=text,
        where=f"{path}: {key}",
        name=name,
        names=names,
        bos_token=_piece(values, "tokenizer.ggml.bos_token_id"),
        eos_token=_piece(values, "tokenizer.ggml.eos_token_id"),
    )


def _piece(values: dict, id_key: str) -> str:
    """The vocabulary's text for the token ``values[id_key]`` ("" when the
    key or the token is missing, as llama-cpp-python passes a missing one)."""
    token_id = values.get(id_key)
    tokens = values.get("tokenizer.ggml.tokens")
    if not isinstance(token_id, int) or tokens is None:
        return ""
    items = _array(tokens)
    return items[token_id] if 0 <= token_id < len(items) and isinstance(items[token_id], str) else ""


def _array(value: object) -> list:
    from ..formats.dataset_meta import read_array
    from ..formats.gguf import GGUFArray

    if isinstance(value, GGUFArray):
        return read_array(value)
    if isinstance(value, tuple) and len(value) == 2:  # an .irpa dataset entry's (element type, items)
        return list(value[1])
    return value if isinstance(value, list) else []


def _read_json(path: str) -> dict | None:
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise ArchiveError(path, None, f"cannot read: {e}") from None
    if not isinstance(doc, dict):
        raise ArchiveError(path, None, "is not a JSON object")
    return doc


def _token_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):  # a serialized AddedToken
        return value["content"]
    return None


def _hf_special_tokens(directory: str) -> dict:
    """The named special tokens: tokenizer_config.json's, else special_tokens_map.json's."""
    config = _read_json(os.path.join(directory, "tokenizer_config.json")) or {}
    special = _read_json(os.path.join(directory, "special_tokens_map.json")) or {}
    variables: dict = {}
    for key in SPECIAL_TOKEN_NAMES:
        text = _token_text(config.get(key)) if config.get(key) is not None else _token_text(special.get(key))
        if text is not None:
            variables[key] = text
    extra = config.get("additional_special_tokens", special.get("additional_special_tokens"))
    if isinstance(extra, list):
        variables["additional_special_tokens"] = [t for t in map(_token_text, extra) if t is not None]
    return variables


def _from_hf(directory: str, name: str | None) -> ChatTemplate:
    config_path = os.path.join(directory, "tokenizer_config.json")
    config = _read_json(config_path) or {}
    variables = _hf_special_tokens(directory)
    templates: dict[str | None, tuple[str, str]] = {}
    jinja_path = os.path.join(directory, "chat_template.jinja")
    raw = config.get("chat_template")
    if isinstance(raw, str):
        templates[None] = (raw, f"{config_path}: chat_template")
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict) and isinstance(item.get("template"), str):
                n = item.get("name")
                label = f"{config_path}: chat_template '{n}'"
                templates[None if n == "default" else str(n)] = (item["template"], label)
    elif raw is not None:
        raise ArchiveError(config_path, None, "chat_template is neither a string nor a list of {name, template}")
    if os.path.isfile(jinja_path):  # transformers prefers this file to the config's key
        try:
            with open(jinja_path, encoding="utf-8") as f:
                templates[None] = (f.read(), jinja_path)
        except (OSError, UnicodeDecodeError) as e:
            raise ArchiveError(jinja_path, None, f"cannot read: {e}") from None
    names = tuple(sorted(n for n in templates if n is not None))
    if name not in templates:
        if name is not None:
            have = f" (it has: {', '.join(names)})" if names else ""
            raise ArchiveError(config_path, None, f"has no chat template named '{name}'{have}")
        where = config_path if config else directory
        hint = f" (named ones: {', '.join(names)}; choose with --name)" if names else ""
        raise ArchiveError(where, None, f"has no chat template (no chat_template key, no chat_template.jinja){hint}")
    text, where = templates[name]
    return ChatTemplate(
        text=text,
        where=where,
        name=name,
        names=names,
        bos_token=variables.get("bos_token", ""),
        eos_token=variables.get("eos_token", ""),
        variables={k: v for k, v in variables.items() if k not in ("bos_token", "eos_token")},
    )
