"""What llama.cpp's converter does to values, per architecture, and the
usual conversion bugs recognised from the values.

``KNOWN``: one table of the transforms ``convert_hf_to_gguf.py`` applies
while it renames (read from its source, ``conversion/*.py`` in llama.cpp):
the llama family's rope permutation of Q and K rows, the Gemma family's
``1 + w`` norm weights. ``known(arch, hf_name)`` gives the rule for a
tensor; ``rope_rows`` and ``unrope_rows`` are the row permutations.
A comparison applies the rule to the Hugging Face side before comparing
(``diff``'s mapped comparison does, streaming whole heads at a time).
Fused projections: a block's separate Q, K and V on either side paired
with a fused ``attn_qkv`` on the other (``name_map``) compare as the fused
tensor's rows in that order, each part with its own rule
(``verdict._fused``). A fused checkpoint tensor that the converter splits
(a few architectures' ``gate_up_proj``) has no name to pair by in the
``gguf`` tables; a ``--map`` table cannot join parts either.

The bugs recognised where values still disagree (``Bug``): transposed,
rows permuted (rope-style with the head size, or another order),
offset by a constant, scaled by a constant, a truncated or zero-filled
region. Offsets, scales and zeroed regions follow from the streaming
sums of a pair (``recognise``); permutations and transpositions are
tested on a window of rows (``verdict``'s second pass).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROPE = "rope-permutation"
NORM_OFFSET = "norm-offset"


@dataclass(frozen=True, slots=True, kw_only=True)
class Known:
    kind: str  # ROPE or NORM_OFFSET
    archs: tuple[str, ...]
    hf_suffixes: tuple[str, ...]  # the converter's test on the Hugging Face name
    heads: str = ""  # ROPE: "head_count" or "head_count_kv"
    offset: float = 0.0  # NORM_OFFSET: GGUF = HF + offset
    source: str = ""


_LLAMA = ("llama", "arcee", "smollm3", "llama-embed", "deci")
KNOWN: tuple[Known, ...] = (
    Known(
        kind=ROPE,
        archs=_LLAMA,
        hf_suffixes=("q_proj.weight", "q_proj.bias"),
        heads="head_count",
        source="conversion/llama.py LlamaModel.modify_tensors: permute(q, n_head, n_head) (undo_permute)",
    ),
    Known(
        kind=ROPE,
        archs=_LLAMA,
        hf_suffixes=("k_proj.weight", "k_proj.bias"),
        heads="head_count_kv",
        source="conversion/llama.py LlamaModel.modify_tensors: permute(k, n_head, n_kv_head) (undo_permute)",
    ),
    Known(
        kind=NORM_OFFSET,
        archs=("gemma", "gemma2", "gemma3", "gemma-embedding"),
        hf_suffixes=("norm.weight",),
        offset=1.0,
        source="conversion/gemma.py GemmaModel/Gemma2Model.modify_tensors, Gemma3Model.norm_shift: "
        "norm.weight + 1 (Gemma's RMSNorm multiplies by 1 + w)",
    ),
)


def known(arch: str | None, hf_name: str) -> Known | None:
    """The converter's transform of the Hugging Face tensor ``hf_name`` of
    architecture ``arch`` (gguf's name), or None."""
    for k in KNOWN:
        if arch in k.archs and hf_name.endswith(k.hf_suffixes):
            return k
    return None


def rope_rows(rows: int, head_dim: int) -> np.ndarray:
    """``src`` with ``gguf[r] = hf[src[r]]`` for llama.cpp's permute (each
    head's two rotary halves interleaved): ``LlamaModel.permute``."""
    h = np.arange(rows).reshape(rows // head_dim, 2, head_dim // 2)
    return h.swapaxes(1, 2).reshape(-1)


def unrope_rows(rows: int, head_dim: int) -> np.ndarray:
    """The inverse of ``rope_rows``: ``hf[r] = gguf[src[r]]``."""
    return np.argsort(rope_rows(rows, head_dim))


@dataclass(frozen=True, slots=True, kw_only=True)
class Bug:
    """A recognised conversion bug: ``kind`` is ``transposed``,
    ``rows-permuted``, ``offset``, ``scaled``, ``zero-filled`` or
    ``truncated``; ``detail`` says where and how much."""

    kind: str
    text: str
    detail: dict

    def to_json(self) -> dict:
        return {"kind": self.kind, "known": False, "text": self.text, **self.detail}


@dataclass(slots=True)
class Sums:
    """Streaming sums of a pair (``a`` the reference, ``b`` the other),
    enough to recognise a constant offset or scale and a zeroed region."""

    n: int = 0
    sa: float = 0.0
    sb: float = 0.0
    saa: float = 0.0
    sbb: float = 0.0
    sab: float = 0.0
    zeroed: int = 0  # b == 0 where a is not noise-small
    zeroed_sdd: float = 0.0  # their share of sum((a-b)^2)
    zero_first: int | None = None
    zero_last: int | None = None

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        self.n += a.size
        self.sa += float(a.sum())
        self.sb += float(b.sum())
        self.saa += float(a @ a)
        self.sbb += float(b @ b)
        self.sab += float(a @ b)

    def zeroed_at(self, a: np.ndarray, z: np.ndarray, start: int) -> None:
        """``z``: where B holds 0 and A is beyond the noise (sorted indices
        into this run, which starts at flat index ``start``)."""
        if z.size:
            self.zeroed += int(z.size)
            self.zeroed_sdd += float(a[z] @ a[z])
            if self.zero_first is None:
                self.zero_first = start + int(z[0])
            self.zero_last = start + int(z[-1])

    def add_same(self, a: np.ndarray) -> None:
        """A run where B holds the same values (float32 is enough: the
        figures of equal values do not depend on these sums' last bits)."""
        self.n += a.size
        s, ss = float(a.sum()), float(a @ a)
        self.sa += s
        self.sb += s
        self.saa += ss
        self.sbb += ss
        self.sab += ss


def recognise(s: Sums, sdd: float, allowed: float) -> tuple[str, str, dict] | None:
    """(kind, text, detail) of an offset, a scale or a zeroed region that
    explains the difference (what is left within ``allowed``, a sum of
    squares), or None. ``sdd``: sum((a-b)^2)."""
    n = s.n
    if not n:
        return None
    tiny = 1e-12 * max(s.saa, 1e-300)
    c = (s.sb - s.sa) / n
    offset_left = sdd - n * c * c
    if abs(c) > 0 and offset_left <= allowed + tiny and sdd > allowed:
        return "offset", f"offset by a constant {c:+.6g}", {"value": c}
    if s.saa > 0:
        k = s.sab / s.saa
        scale_left = s.sbb - s.sab * s.sab / s.saa
        if k != 1 and scale_left <= allowed * max(1.0, k * k) + tiny and sdd > allowed:
            return "scaled", f"scaled by a constant {k:.6g}", {"value": k}
    if s.zeroed and sdd - s.zeroed_sdd <= allowed + tiny:
        return (
            "zero-filled",
            f"zero-filled: {s.zeroed:,} elements from flat index {s.zero_first:,} to {s.zero_last:,}",
            {"elements": s.zeroed, "first": s.zero_first, "last": s.zero_last},
        )
    return None
