"""What a parameter's name says about where it sits in a model.

Transformer checkpoints number their repeated blocks with a dotted
component of digits (``blk.3.ffn_down.weight``, ``model.layers.3.mlp...``,
``encoder.layer.3.attention...``). Tensors that differ only by those
numbers are siblings: the same role in every block. The summary groups
dtypes by role, the scan compares each tensor with its siblings.
"""

from __future__ import annotations

import re

# A whole dotted component made of digits: `.3.` or a leading `3.` / trailing `.3`.
_NUMBER = re.compile(r"(?:(?<=^)|(?<=\.))\d+(?=\.|$)")
# A module's parameters: its weight and bias are one role (``LayerNorm``).
_SUFFIXES = (".weight", ".bias")


def layer_group(name: str) -> str:
    """The name with every numbered component replaced by ``*``:
    ``blk.3.ffn_down.weight`` -> ``blk.*.ffn_down.weight``."""
    return _NUMBER.sub("*", name)


def block_index(name: str) -> int | None:
    """The first numbered component (the block), or None."""
    m = _NUMBER.search(name)
    return int(m.group()) if m else None


def renumbered(name: str, old: int, new: int) -> str:
    """``name`` with its first numbered component that is ``old`` written as
    ``new`` (unchanged when none is): a block's new number after pruning,
    wherever a rename put it (``x.3.q`` -> ``x.1.q``)."""
    for m in _NUMBER.finditer(name):
        if int(m.group()) == old:
            return name[: m.start()] + str(new) + name[m.end() :]
    return name


def role(name: str) -> str:
    """A short label for the tensor's role: what follows the block number,
    without a trailing ``.weight`` or ``.bias`` (``blk.3.ffn_down.weight`` ->
    ``ffn_down``; ``embeddings.LayerNorm.bias`` -> ``embeddings.LayerNorm``).
    Nested numbers (experts) become ``*``."""
    m = _NUMBER.search(name)
    rest = name[m.end() + 1 :] if m and m.end() < len(name) else name
    rest = _NUMBER.sub("*", rest)
    for suffix in _SUFFIXES:
        if rest.endswith(suffix) and len(rest) > len(suffix):
            rest = rest[: -len(suffix)]
    return rest
