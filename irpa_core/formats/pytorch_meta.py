"""The ``PYTORCH:`` per-entry metadata convention, read and written here only.

PyTorch-side writers (iree-turbine's ParameterArchiveBuilder) store::

    PYTORCH:{"type": "Tensor", "dtype": "float32", "shape": [2, 3],
             "dtype_desc": {"class_name": "dtype", "is_complex": false,
                            "is_floating_point": true, "is_signed": true,
                            "itemsize": 4}}

Our extension, for dtypes torch cannot name (GGUF block-quantized types such
as ``Q4_K``, or raw dtypes we cannot decode): the torch-visible part describes
the bytes honestly as a flat ``uint8`` tensor of the entry's length, so torch
tools still rebuild *something* correct, and an extra ``"irpa"`` object holds
the real type and row-major shape::

    PYTORCH:{"type": "Tensor", "dtype": "uint8", "shape": [288], "dtype_desc": {...},
             "irpa": {"dtype": "Q4_K", "shape": [2, 256]}}

``irpa.dtype`` is a name from ``irpa_core.dtypes`` (ggml names for quantized
types). Readers that know the extension prefer it; others see uint8 bytes.
"""

from __future__ import annotations

import json
from functools import lru_cache

from .. import dtypes
from ..dtypes import DType

PREFIX = b"PYTORCH:"


def _desc(d: DType) -> dict:
    return {
        "class_name": "dtype",
        "is_complex": d.kind == "complex",
        "is_floating_point": d.kind == "float",
        "is_signed": d.kind in ("int", "float", "complex"),
        "itemsize": d.type_size,
    }


def encode(dtype: DType, shape: tuple[int, ...] | list[int], length: int) -> bytes:
    """Metadata blob for an entry of ``length`` bytes with this dtype/shape."""
    return _encode(dtype, tuple(int(s) for s in shape), int(length))


@lru_cache(maxsize=4096)
def _encode(dtype: DType, shape: tuple[int, ...], length: int) -> bytes:
    # Models repeat a handful of (dtype, shape) pairs thousands of times.
    dims = list(shape)
    doc: dict[str, object]
    if dtype.torch is not None:
        doc = {"type": "Tensor", "dtype": dtype.torch, "shape": dims, "dtype_desc": _desc(dtype)}
    else:
        doc = {
            "type": "Tensor",
            "dtype": "uint8",
            "shape": [int(length)],
            "dtype_desc": _desc(dtypes.U8),
            "irpa": {"dtype": dtype.name, "shape": dims},
        }
    return PREFIX + json.dumps(doc, separators=(", ", ": ")).encode()


def decode(blob: bytes) -> tuple[DType, tuple[int, ...]] | None:
    """(dtype, row-major shape) from a metadata blob, or None when the blob
    is not this convention or does not make sense (never raises: metadata
    is advisory, a strange blob must not make a file unreadable)."""
    if not blob.startswith(PREFIX):
        return None
    try:
        doc = json.loads(blob[len(PREFIX) :].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    ext = doc.get("irpa")
    src = ext if isinstance(ext, dict) else doc
    name, shape = src.get("dtype"), src.get("shape")
    if not isinstance(name, str) or not isinstance(shape, list):
        return None
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        return None
    d = dtypes.by_name(name) if src is ext else dtypes.from_torch(name)
    if d is None and src is ext:
        d = dtypes.raw(name)
    if d is None:
        return None
    return d, tuple(shape)
