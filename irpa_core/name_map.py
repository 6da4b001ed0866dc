"""Pairing tensors across naming schemes: Hugging Face <-> GGUF, a user's table.

The Hugging Face -> GGUF names come from the ``gguf`` package's own tables
(``gguf.get_tensor_name_map(arch, n_blocks)``), the ones llama.cpp's
``convert_hf_to_gguf.py`` renames with, so a pairing here is the one the
converter made. The architecture is read from a GGUF's
``general.architecture`` (or an irpa holding GGUF keys), else from the
``config.json`` beside a safetensors file (``model_type``).

``pair_names(a, b, "auto")``: names that match pair first (identity); the
rest pair through the table (each side's name put into GGUF's scheme).
``"identity"`` pairs by name only; a path names a JSON object
``{"A name or glob": "B name or glob"}`` (globs as in ``--rename``).
Tensors left over are listed with the reason: ``no mapping`` (the table
has no name for it) or ``no counterpart`` (it maps to a name the other
side does not hold).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import IrpaError
from .model import Archive

# Hugging Face model_type -> gguf architecture, where the names differ.
HF_ARCH = {"gemma3_text": "gemma3", "mistral": "llama"}
NO_MAPPING = "no mapping"
NO_COUNTERPART = "no counterpart"
TAKEN = "its counterpart is paired already"


def gguf_arch(name: str):
    """The gguf package's ``MODEL_ARCH`` member named ``name``, or None."""
    import gguf

    return next((a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == name), None)


def hf_name_map(arch_name: str, n_blocks: int):
    """The gguf package's ``TensorNameMap`` for an architecture, or None
    when the package does not know it. ``get_name(hf_name,
    try_suffixes=(".weight", ".bias"))`` gives the GGUF name (a GGUF name
    maps to itself)."""
    import gguf

    arch = gguf_arch(arch_name)
    return None if arch is None else gguf.get_tensor_name_map(arch, n_blocks)


def block_count(names) -> int:
    """One more than the highest block number in ``names`` (0 without one)."""
    return max((int(m.group(1)) + 1 for n in names for m in [re.search(r"\.(\d+)\.", n)] if m), default=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Architecture:
    """What a side says about its model: the gguf architecture name, where
    that came from, and the hyperparameters transforms need."""

    name: str | None = None
    source: str = ""  # "general.architecture", "config.json" or ""
    n_blocks: int = 0
    head_count: int | None = None
    head_count_kv: int | None = None

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "blocks": self.n_blocks,
            "head_count": self.head_count,
            "head_count_kv": self.head_count_kv,
        }


def _int(v: Any) -> int | None:
    if isinstance(v, list) and v:
        v = v[0]  # per-layer arrays: the first layer's
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def architecture(archive: Archive) -> Architecture:
    """The architecture of an opened archive, from its GGUF keys or the
    ``config.json`` beside it; ``Architecture()`` when neither says."""
    from . import filemeta
    from .formats import registry
    from .plan import Plan
    from .summary import config_json

    names = [e.name for e in archive.entries]
    meta = filemeta.read(filemeta.origin(archive, Plan().fates(archive)))
    arch = meta.values.get("general.architecture")
    if isinstance(arch, str):
        v = meta.values
        return Architecture(
            name=arch,
            source="general.architecture",
            n_blocks=max(_int(v.get(f"{arch}.block_count")) or 0, block_count(names)),
            head_count=_int(v.get(f"{arch}.attention.head_count")),
            head_count_kv=_int(v.get(f"{arch}.attention.head_count_kv")),
        )
    for f in archive.files:
        spec = registry.find(f.format)
        if spec is None or not spec.config_beside or "://" in f.path:
            continue
        cfg = config_json(os.path.dirname(os.path.abspath(f.path)), [])
        if cfg is None or not isinstance(cfg.get("model_type"), str):
            continue
        model_type = cfg["model_type"]
        heads = _int(cfg.get("num_attention_heads"))
        return Architecture(
            name=HF_ARCH.get(model_type, model_type),
            source="config.json",
            n_blocks=max(_int(cfg.get("num_hidden_layers")) or 0, block_count(names)),
            head_count=heads,
            head_count_kv=_int(cfg.get("num_key_value_heads")) or heads,
        )
    return Architecture(n_blocks=block_count(names))


@dataclass(frozen=True, slots=True, kw_only=True)
class NamePair:
    a: str
    b: str
    hf_side: str | None = None  # "a" or "b": the side in Hugging Face names (None: same scheme)
    parts: tuple[str, ...] = ()  # A's separate Q, K, V that B holds fused (``a`` joins them with " + ")
    b_parts: tuple[str, ...] = ()  # B's separate Q, K, V that A holds fused (``b`` joins them)

    def to_json(self) -> dict:
        return {
            "a": self.a,
            "b": self.b,
            **({"a_parts": list(self.parts)} if self.parts else {}),
            **({"b_parts": list(self.b_parts)} if self.b_parts else {}),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Pairing:
    pairs: tuple[NamePair, ...]
    only_a: tuple[tuple[str, str], ...] = ()  # (name, reason)
    only_b: tuple[tuple[str, str], ...] = ()
    architecture: Architecture = field(default_factory=Architecture)
    notes: tuple[str, ...] = ()


def _tensor_names(archive: Archive) -> list[str]:
    from .summary import METADATA_ENTRIES

    return [e.name for e in archive.entries if e.name not in METADATA_ENTRIES]


def load_table(path: str):
    """A user's name table (JSON object, A names -> B names, globs allowed)
    as a ``Plan`` of renames; ``IrpaError`` naming the file and the problem."""
    from .plan import Plan

    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as e:
        raise IrpaError(f"{path}: --map: cannot read the name table: {e}") from None
    if not isinstance(doc, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in doc.items()):
        raise IrpaError(f'{path}: --map: the name table must be a JSON object of names, {{"A name": "B name"}}')
    try:
        return Plan.from_reference_flags(rename=list(doc.items()))
    except (IrpaError, ValueError) as e:
        raise IrpaError(f"{path}: --map: {e}") from None


def pair_names(a: Archive, b: Archive, mode: str = "auto") -> Pairing:
    """Pair A's tensors with B's: ``mode`` is ``"auto"``, ``"identity"`` or
    the path of a JSON name table (see the module's note)."""
    names_a, names_b = _tensor_names(a), _tensor_names(b)
    arch_a, arch_b = architecture(a), architecture(b)
    arch = arch_a if arch_a.name else arch_b
    notes: tuple[str, ...] = ()
    if arch_a.name and arch_b.name and arch_a.name != arch_b.name:
        notes = (
            f"the architectures differ: A is {arch_a.name} ({arch_a.source}), B is {arch_b.name} ({arch_b.source})",
        )
    # Hyperparameters either side states (a GGUF's keys or a config.json).
    arch = Architecture(
        name=arch.name,
        source=arch.source,
        n_blocks=max(arch_a.n_blocks, arch_b.n_blocks),
        head_count=arch_a.head_count or arch_b.head_count,
        head_count_kv=arch_a.head_count_kv or arch_b.head_count_kv,
    )
    set_b = set(names_b)
    pairs: list[NamePair] = []
    taken: set[str] = set()
    left_a: list[str] = []
    if mode not in ("auto", "identity"):
        plan = load_table(mode)
        for n in names_a:
            target = plan.fate(n).name
            if target in set_b and target not in taken:
                pairs.append(NamePair(a=n, b=target))
                taken.add(target)
            else:
                left_a.append(n)
        # A name the table leaves as it was has no mapping; one it renames
        # to a name B lacks (or another took) has no counterpart.
        return Pairing(
            pairs=tuple(pairs),
            only_a=tuple((n, NO_MAPPING if plan.fate(n).name == n else NO_COUNTERPART) for n in left_a),
            only_b=tuple((n, NO_COUNTERPART) for n in names_b if n not in taken),
            architecture=arch,
            notes=notes,
        )
    for n in names_a:
        if n in set_b:
            pairs.append(NamePair(a=n, b=n))
            taken.add(n)
        else:
            left_a.append(n)
    left_b = [n for n in names_b if n not in taken]
    table = hf_name_map(arch.name, arch.n_blocks) if mode == "auto" and arch.name else None
    if mode == "auto" and arch.name and table is None:
        notes += (f"architecture {arch.name!r} is not in the gguf package's tables: names pair by identity only",)
    only_a: list[tuple[str, str]] = []
    only_b: list[tuple[str, str]] = []
    if table is None:
        reason = NO_MAPPING if mode == "auto" else NO_COUNTERPART
        only_a = [(n, reason) for n in left_a]
        only_b = [(n, reason) for n in left_b]
        return Pairing(pairs=tuple(pairs), only_a=tuple(only_a), only_b=tuple(only_b), architecture=arch, notes=notes)

    def canon(n: str) -> str | None:
        return table.get_name(n, try_suffixes=(".weight", ".bias"))

    by_canon_b: dict[str, str] = {}
    for n in left_b:
        c = canon(n)
        if c is None:
            only_b.append((n, NO_MAPPING))
        elif c in by_canon_b:
            only_b.append((n, f"its GGUF name {c} is another tensor's"))
        else:
            by_canon_b[c] = n
    used: set[str] = set()
    for n in left_a:
        c = canon(n)
        if c is None:
            only_a.append((n, NO_MAPPING))
            continue
        m = by_canon_b.get(c)
        if m is None:
            only_a.append((n, NO_COUNTERPART if c == n else f"{NO_COUNTERPART} (GGUF name {c})"))
        elif m in used:
            only_a.append((n, TAKEN))
        else:
            used.add(m)
            # The side whose own name is not the GGUF one is in Hugging Face names.
            pairs.append(NamePair(a=n, b=m, hf_side="a" if c != n else "b" if c != m else None))
    only_b += [(m, NO_COUNTERPART) for m in by_canon_b.values() if m not in used]
    fused, only_a, only_b = _fuse(only_a, only_b, canon)
    pairs += fused
    return Pairing(pairs=tuple(pairs), only_a=tuple(only_a), only_b=tuple(only_b), architecture=arch, notes=notes)


_QKV = re.compile(r"^(blk\.\d+\.)attn_qkv(\.weight|\.bias)$")


def _fuse(only_a, only_b, canon) -> tuple[list[NamePair], list[tuple[str, str]], list[tuple[str, str]]]:
    """A block's separate Q, K and V on one side paired with the fused QKV
    of that block (``blk.N.attn_qkv``) on the other, where both are
    otherwise unpaired: A's parts against B's fused tensor, or A's fused
    tensor against B's parts (``irpa diff model.gguf model.safetensors``)."""
    pairs: list[NamePair] = []
    for parts_in_a in (True, False):
        split, fused = (only_a, only_b) if parts_in_a else (only_b, only_a)
        by = {c: n for n, _ in split for c in [canon(n)] if c}
        used: set[str] = set()
        for m, _ in fused:
            hit = _QKV.match(canon(m) or m)
            if hit is None:
                continue
            parts = [by.get(f"{hit[1]}{role}{hit[2]}") for role in ("attn_q", "attn_k", "attn_v")]
            if all(parts) and not used.intersection(parts):
                names = tuple(p for p in parts if p)
                if parts_in_a:
                    pairs.append(NamePair(a=" + ".join(names), b=m, hf_side="a", parts=names))
                else:
                    pairs.append(NamePair(a=m, b=" + ".join(names), hf_side="b", b_parts=names))
                used.update(names)
                used.add(m)
        only_a = [(n, r) for n, r in only_a if n not in used]
        only_b = [(n, r) for n, r in only_b if n not in used]
    return pairs, only_a, only_b
