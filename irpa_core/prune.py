"""Block pruning on an archive: the ``prune_blocks`` op made from a block
list, its checks, and what it does to the file metadata and ``config.json``.

The op itself (which parameters go, their new names) is the plan's
(``plan.py``); this module holds what needs the archive or the output:

- ``prune_op(archive, text, keep=...)``: the op removing the blocks of
  ``text`` (``--prune-blocks``), or every block but those (``--keep-blocks``),
  of the archive's main block container (the one numbering the most
  parameters: ``blk.`` in a GGUF, ``model.layers.`` or ``encoder.layer.``
  in a Hugging Face checkpoint). ValueError with the reason for a list
  that does not parse, a block past the count, or one removing every block.
- ``check(plan, archive)``: the same checks for a plan loaded from JSON.
- ``edit_metadata(values, types, op)``: GGUF-style key/values (a GGUF's, an
  irpa's ``__SHARK_DATASET__``) when the op prunes ``blk.``:
  ``{arch}.block_count`` set to the blocks that stay (its type kept) and
  every array of the architecture's keys (``{arch}.*``) as long as the old
  block count sliced to the blocks that stay. (llama-quantize
  ``--prune-layers`` sets only the block count; per-layer arrays such as
  ``head_count_kv`` or ``sliding_window_pattern`` would then be longer than
  the model, which llama.cpp refuses.) ``edit_properties`` does the same
  to the ``hparams`` of an irpa's sharktank properties (``block_count``).
- ``config_beside(plan, archive, format)``: a safetensors output of a
  checkpoint with a ``config.json`` beside it gets one beside it too, with
  ``num_hidden_layers`` (also in ``text_config``) and every per-layer list
  (``layer_types``...) updated (``Output.beside``; ``write.write_archive``
  writes it only where no ``config.json`` is or one with the same content
  is: an existing different one, such as the input's own when the output
  goes in the input's directory, is never replaced, and that refusal
  comes before any byte of the model is written).
"""

from __future__ import annotations

import json
import os
from collections import Counter

from . import blocks
from .errors import PlanError
from .formats import registry
from .formats.gguf import GGUFArray
from .model import Archive
from .plan import PRUNE_BLOCKS, Op, Plan

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing slows start-up (bench/RESULTS.md)
    from collections.abc import Callable
    from typing import Any

GGUF_CONTAINER = "blk."  # the container whose count is ``{arch}.block_count``
CONFIG = "config.json"
_LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers")


def containers(archive: Archive) -> Counter[str]:
    """Block containers of the archive's parameters, with how many
    parameters each numbers."""
    return Counter(b[0] for b in map(blocks.block_of, (e.name for e in archive.entries)) if b is not None)


def main_container(archive: Archive) -> str | None:
    """The container numbering the most parameters (None: no blocks)."""
    found = containers(archive).most_common(1)
    return found[0][0] if found else None


def block_count(archive: Archive, container: str) -> int:
    """How many blocks ``container`` has: one past the highest number in the
    names, or the GGUF ``{arch}.block_count`` when larger."""
    found = [b[1] for b in map(blocks.block_of, (e.name for e in archive.entries)) if b and b[0] == container]
    count = max(found) + 1 if found else 0
    if container == GGUF_CONTAINER:
        for f in archive.files:
            arch = f.metadata.get("general.architecture")
            declared = f.metadata.get(f"{arch}.block_count") if isinstance(arch, str) else None
            if isinstance(declared, int) and not isinstance(declared, bool):
                count = max(count, declared)
                break
    return count


def prune_op(archive: Archive, text: str, *, keep: bool = False, container: str | None = None) -> Op:
    """The ``prune_blocks`` op removing the blocks of ``text`` (``keep``:
    every block but those) of ``container`` (default: the main one).
    ValueError with the reason when it cannot be."""
    container = container or main_container(archive)
    if container is None:
        raise ValueError("no numbered blocks in the parameter names (blk.N., model.layers.N., ...)")
    return removal(text, container, block_count(archive, container), keep=keep)


def removal(text: str, container: str, count: int, *, keep: bool = False) -> Op:
    """``prune_op`` once the container and its block count are known (a
    dialog checks each keystroke with it)."""
    listed = blocks.parse_list(text)
    _check_listed(listed, count, container)
    removed = frozenset(range(count)) - listed if keep else listed
    _check_removed(removed, count, container)
    return Op(PRUNE_BLOCKS, container, value=blocks.format_list(removed))


def _check_listed(listed: frozenset[int], count: int, container: str) -> None:
    if not count:
        raise ValueError(f"no parameter is named {container}N. (no such blocks)")
    past = sorted(b for b in listed if b >= count)
    if past:
        raise ValueError(f"block {past[0]} is past the last block ({container}{count - 1})")


def _check_removed(removed: frozenset[int], count: int, container: str) -> None:
    if not removed:
        raise ValueError("removes no block")
    if count and len(removed & frozenset(range(count))) >= count:
        raise ValueError(f"removes every block of {container}N (keep at least one)")


def check(plan: Plan, archive: Archive, count_of: Callable[[str], int] | None = None) -> None:
    """PlanError when a prune op of ``plan`` names a block past the count or
    removes every block of its container. ``count_of``: a container's
    ``block_count`` when the caller keeps them (the TUI checks every edit)."""
    for container, removed in plan.pruned.items():
        count = count_of(container) if count_of is not None else block_count(archive, container)
        try:
            _check_listed(removed, count, container)
            _check_removed(removed, count, container)
        except ValueError as e:
            raise PlanError(None, f"prune_blocks {blocks.format_list(removed)}: {e}") from None


def kept_count(count: int, removed: frozenset[int]) -> int:
    return count - len(removed & frozenset(range(count)))


# ---------------------------------------------------------------------------
# File metadata


def edit_metadata(values: dict[str, Any], types: dict[str, str], op: Op) -> tuple[dict[str, Any], dict[str, str]]:
    """``values``/``types`` with the block count and per-layer arrays of a
    ``blk.`` prune (see the module docstring); unchanged for another
    container or without ``general.architecture`` and its block count."""
    if op.pattern != GGUF_CONTAINER:
        return values, types
    arch = values.get("general.architecture")
    key = f"{arch}.block_count"
    count = values.get(key)
    if not isinstance(arch, str) or not isinstance(count, int) or isinstance(count, bool):
        return values, types
    removed = blocks.parse_list(op.value)
    kept = [i for i in range(count) if i not in removed]
    out = dict(values)
    out[key] = len(kept)
    for k, v in values.items():
        if k.startswith(arch + ".") and types.get(k) == "array":
            sliced = _sliced(v, count, kept)
            if sliced is not None:
                out[k] = sliced
    return out, types


def edit_properties(properties: dict[str, Any], values: dict[str, Any], op: Op) -> dict[str, Any]:
    """An irpa's sharktank properties after a ``blk.`` prune: in its
    ``hparams``, ``block_count`` (bare, as sharktank's own hparams, or
    ``{arch}.block_count``) set to the blocks that stay and every list as
    long as the old count cut to them."""
    hparams = properties.get("hparams")
    if op.pattern != GGUF_CONTAINER or not isinstance(hparams, dict):
        return properties
    arch = values.get("general.architecture", hparams.get("general.architecture"))
    keys = ["block_count", *([f"{arch}.block_count"] if isinstance(arch, str) else [])]
    key = next((k for k in keys if isinstance(hparams.get(k), int) and not isinstance(hparams[k], bool)), None)
    if key is None:
        return properties
    count = hparams[key]
    removed = blocks.parse_list(op.value)
    kept = [i for i in range(count) if i not in removed]
    out = {k: [v[i] for i in kept] if isinstance(v, list) and len(v) == count else v for k, v in hparams.items()}
    out[key] = len(kept)
    return {**properties, "hparams": out}


def _sliced(value: Any, count: int, kept: list[int]) -> tuple[str, list] | None:
    """An array of ``count`` items cut to the ``kept`` ones, as an
    (element type, items) pair (None: not such an array)."""
    if isinstance(value, GGUFArray):
        if value.count != count or value.type_name == "array":
            return None
        etype, items = value.type_name, value.items()
    elif isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[1], list):
        etype, items = value
        if len(items) != count or etype == "array":
            return None
    else:
        return None
    return etype, [items[i] for i in kept]


# ---------------------------------------------------------------------------
# config.json beside a safetensors output


def config_beside(plan: Plan, archive: Archive, format: str) -> tuple[str, bytes] | None:
    """(path of the input's config.json, the text the output's must hold)
    when ``plan`` prunes the blocks of a ``format`` output whose format keeps
    a config.json beside it and an input has one; else None. PlanError for
    a config.json that is not a JSON object."""
    if not plan.pruned or not registry.get(format).config_beside:
        return None
    for f in archive.files:
        spec = registry.find(f.format)
        if spec is None or not spec.config_beside:
            continue
        path = os.path.join(os.path.dirname(os.path.abspath(f.path)), CONFIG)
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError) as e:
            raise PlanError(None, f"{path}: cannot read it to update num_hidden_layers: {e}") from None
        if not isinstance(doc, dict):
            raise PlanError(None, f"{path}: not a JSON object, cannot update num_hidden_layers")
        container = main_container(archive)
        removed = plan.pruned.get(container or "")
        if removed is None:
            return None
        pruned = edit_config(doc, removed, block_count(archive, container or ""))
        return path, (json.dumps(pruned, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return None


def edit_config(doc: dict, removed: frozenset[int], count: int) -> dict:
    """A Hugging Face config with the ``removed`` blocks gone: the layer
    count (``num_hidden_layers``, ``n_layer`` or ``num_layers``, at the top
    and in ``text_config``) set, and every list as long as the old count
    cut to the blocks that stay."""
    out = dict(doc)
    declared = next((out[k] for k in _LAYER_KEYS if isinstance(out.get(k), int)), count)
    kept = [i for i in range(declared) if i not in removed]
    for k in _LAYER_KEYS:
        if isinstance(out.get(k), int) and not isinstance(out[k], bool):
            out[k] = len(kept)
    for k, v in doc.items():
        if isinstance(v, list) and len(v) == declared and declared > 0:
            out[k] = [v[i] for i in kept]
    if isinstance(out.get("text_config"), dict):
        out["text_config"] = edit_config(out["text_config"], removed, count)
    return out
