"""Numbered blocks in parameter names, and the block lists that prune them.

A model repeats one block N times and numbers it in the names:
``blk.3.ffn_down.weight`` (GGUF), ``model.layers.3.mlp.up_proj.weight``
(Hugging Face), ``encoder.layer.3.attention...`` (BERT). ``block_of`` finds
the number right after a block container's name (``blk``, ``layers``,
``layer``, ``h``, ``blocks``, ``block``) and the prefix up to it (the
container: ``blk.``, ``model.layers.``); the summary counts blocks with it,
the ``prune_blocks`` plan op removes and renumbers them.

A block list is written as ``llama-quantize --prune-layers`` takes it:
numbers and ranges separated by commas (``2,3,5-17``), ranges inclusive.
``parse_list`` reads it (ValueError with the reason), ``format_list``
writes the shortest form back. ``dense(index, removed)`` is the number a
kept block gets once the removed ones are gone (blocks keep their order).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_BLOCK = re.compile(r"(?:^|\.)(?:blk|layers|layer|h|blocks|block)\.(\d+)\.")


def block_of(name: str) -> tuple[str, int] | None:
    """(container prefix, block number) of a name, or None:
    ``blk.3.ffn_down.weight`` -> ``("blk.", 3)``."""
    m = _BLOCK.search(name)
    return (name[: m.start(1)], int(m.group(1))) if m else None


def parse_list(text: str) -> frozenset[int]:
    """The block numbers of ``2,3,5-17`` (ValueError saying what is wrong)."""
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        lo, dash, hi = part.partition("-")
        if not _is_number(lo) or (dash and not _is_number(hi)):
            raise ValueError(f"'{part}' is not a block number or a range N-M (e.g. 2,3,5-17)")
        a, b = int(lo), int(hi) if dash else int(lo)
        if b < a:
            raise ValueError(f"the range {part} goes down (write {b}-{a})")
        out.update(range(a, b + 1))
    return frozenset(out)


def _is_number(s: str) -> bool:
    return s.isascii() and s.isdigit()


def format_list(blocks: Iterable[int]) -> str:
    """The shortest list text of a set of block numbers: ``2,3,5-17``
    (a run of three or more becomes a range)."""
    nums = sorted(set(blocks))
    parts: list[str] = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{nums[i]}-{nums[j]}")
        else:
            parts.extend(str(n) for n in nums[i : j + 1])
        i = j + 1
    return ",".join(parts)


def dense(index: int, removed: frozenset[int]) -> int:
    """The number block ``index`` gets once the ``removed`` blocks are gone."""
    return index - sum(1 for r in removed if r < index)
