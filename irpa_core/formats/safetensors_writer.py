"""safetensors output layout, in the canonical form of the ``safetensors`` package.

What the package's serializer (Rust ``safetensors::tensor::prepare``, used by
``safetensors.numpy.save_file`` and every other binding) writes, observed on
0.8.0 and read in its source:

- the data holds the tensors back to back, no padding, sorted by dtype in
  *descending* order of its ``Dtype`` enum (which is declared in increasing
  alignment: U64, I64, F64, C64, F32, U32, I32, BF16, F16, U16, I16,
  F8_E5M2FNUZ, F8_E4M3FNUZ, F8_E8M0, F8_E4M3, F8_E5M2, I8, U8, BOOL), then by
  name (byte order of the UTF-8, which is code point order);
- the header is compact JSON (``serde_json``: no spaces, non-ASCII written
  as UTF-8, only ``"``, ``\\`` and control characters escaped, ``\\n``-style
  short escapes where JSON has them, else ``\\u00xx`` in lower case);
  ``__metadata__`` first when given (an empty dict is written as ``{}``,
  None leaves it out), then the tensors in data order, each as
  ``{"dtype","shape","data_offsets":[begin,end]}`` in that key order;
- spaces pad the header so the data starts at a multiple of 8.

The package writes ``__metadata__`` keys in hash-map order, which changes
from run to run; we keep the order given (a source's order), which is one of
the orders it may produce.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence

from .. import dtypes
from ..dtypes import DType
from ..errors import PlanError
from .irpa_writer import Layout

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing slows start-up (bench/RESULTS.md)
    from typing import Any, NoReturn

MAX_HEADER = 100_000_000  # readers (the reference library) refuse larger headers

# Rank of each safetensors dtype in the package's Dtype enum; data is laid
# out by descending rank. F4/F6 kinds sit between BOOL and U8 there; we have
# no dtype for them, so they never reach this table.
_RANK = {
    name: i
    for i, name in enumerate(
        (
            "BOOL",
            "U8",
            "I8",
            "F8_E5M2",
            "F8_E4M3",
            "F8_E8M0",
            "F8_E4M3FNUZ",
            "F8_E5M2FNUZ",
            "I16",
            "U16",
            "F16",
            "BF16",
            "I32",
            "U32",
            "F32",
            "C64",
            "F64",
            "I64",
            "U64",
        )
    )
}

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def layout(targets: Sequence[Any], metadata: Mapping[str, str] | None = None) -> Layout:
    """Header bytes and data offsets of a safetensors file holding
    ``targets`` (``name``, ``dtype``, ``shape``, ``length``; splats are
    written as data). ``offsets`` follow the order of ``targets``; the data
    itself is in the package's order. Targets safetensors cannot hold raise
    ``PlanError`` naming them."""
    labels = []
    seen: set[str] = set()
    for t in targets:
        labels.append(_label(t))
        if t.name in seen:
            raise PlanError(t.name, "appears twice (safetensors tensor names must be unique)")
        seen.add(t.name)
    if metadata is not None:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise PlanError(None, f"safetensors __metadata__ maps strings to strings; {k!r}: {v!r} is not")

    order = sorted(range(len(targets)), key=lambda i: (-_RANK[labels[i]], _utf8(targets[i].name)))
    header: dict[str, Any] = {}
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    rel = [0] * len(targets)
    pos = 0
    for i in order:
        t = targets[i]
        header[t.name] = {"dtype": labels[i], "shape": list(t.shape), "data_offsets": [pos, pos + t.length]}
        rel[i] = pos
        pos += t.length
    try:
        text = _JSON.encode(header).encode("utf-8")
    except UnicodeEncodeError:
        raise PlanError(None, "a tensor name or metadata string cannot be encoded as UTF-8") from None
    text += b" " * (-len(text) % 8)
    if len(text) > MAX_HEADER:
        raise PlanError(
            None,
            f"the safetensors header would be {len(text) / 1e6:.0f} MB; readers refuse "
            f"headers over {MAX_HEADER // 1_000_000} MB",
        )
    start = 8 + len(text)
    head = struct.pack("<Q", len(text)) + text
    return Layout(head, tuple(start + r for r in rel), start, start + pos)


def _utf8(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def _label(t: Any) -> str:
    """The safetensors dtype of a target, or PlanError saying why not."""
    d = t.dtype
    if d is None or t.shape is None:
        raise PlanError(t.name, "has no dtype or shape (a raw irpa entry without metadata): safetensors needs both")
    if t.name == "__metadata__":
        raise PlanError(t.name, "is the name safetensors reserves for file metadata (rename it)")
    if d.kind == "quant":
        _refuse_quant(t.name, d)
    if d.safetensors is None or d.safetensors not in _RANK:
        if d.kind == "raw":
            raise PlanError(t.name, f"its dtype {d.name} is unknown here, so it cannot be written to safetensors")
        raise PlanError(t.name, f"safetensors has no {d.name} dtype")
    count = 1
    for s in t.shape:
        count *= s
    if count * d.type_size != t.length:
        raise PlanError(t.name, f"{t.length} bytes do not match shape {list(t.shape)} of {d.name}")
    return d.safetensors


def _refuse_quant(name: str, d: DType) -> NoReturn:
    from ..cast import cast_problem  # imports gguf: only on this error path

    f32 = dtypes.by_name("f32")
    if f32 is not None and cast_problem(d, f32) is None:
        raise PlanError(
            name,
            f"safetensors has no {d.name} (GGUF block-quantized) dtype: dequantize it, "
            f"e.g. --cast={name}=f32 (or f16, bf16)",
        )
    raise PlanError(
        name, f"safetensors has no {d.name} (GGUF block-quantized) dtype, and gguf.quants cannot dequantize it"
    )
