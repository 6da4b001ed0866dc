"""Entries turned into numbers: value dtypes, decoders, values in chunks, previews.

Every plain dtype decodes through numpy/ml_dtypes (bf16 by a bit shift),
the GGUF block types real models use through the compiled ``kernels`` when
the work is big enough to pay for loading them (``compiled``), else
through ``numpy_kernels`` (both bit for bit what ``gguf.quants.dequantize``
gives, several times faster), the rest through ``gguf.quants.dequantize``,
and an entry without a dtype (a raw irpa entry) can be viewed as any dtype
with ``as_dtype``. Values come as 1-D float32 or float64, a bounded chunk
at a time.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from .. import dtypes
from ..dtypes import DType
from ..errors import Cancelled, IrpaError
from ..model import Entry, read_bytes

if TYPE_CHECKING:
    from . import native

CHUNK_VALUES = 1 << 20  # values per chunk: float64 temporaries stay ~8 MB


class DecodeError(IrpaError):
    """An entry cannot be turned into numbers (unknown or raw dtype)."""


def value_dtype(entry: Entry, as_dtype: DType | str | None = None) -> DType | None:
    if as_dtype is not None:
        return dtypes.by_name(as_dtype) if isinstance(as_dtype, str) else as_dtype
    return entry.dtype


def can_decode(entry: Entry, as_dtype: DType | str | None = None) -> bool:
    d = value_dtype(entry, as_dtype)
    return d is not None and can_decode_dtype(d)


def can_decode_dtype(d: DType) -> bool:
    """Whether values of ``d`` can be decoded (``can_decode`` without an entry)."""
    if d.kind == "raw":
        return False
    if d.kind == "quant":
        from . import numpy_kernels

        # Our own kernels first: asking gguf means importing it (~60 ms).
        return d.name in numpy_kernels.KERNELS or d.gguf_quant_type() is not None
    return d.numpy is not None


def decode(data: bytes, d: DType) -> np.ndarray:
    """Whole elements (or blocks) of ``d`` -> their values, 1-D float32 or
    float64 (as ``iter_values`` yields them)."""
    return decoder(Entry(name="", kind="data", length=len(data), file=""), d)(data)


def element_count(entry: Entry, d: DType) -> int:
    if d.block_size == 0:
        return 0
    return entry.length // d.type_size * d.block_size


Data = bytes | memoryview  # what a decoder reads: whole elements or blocks


# When loading the compiled kernels (``native``: ~35 ms a process, once
# their machine code is made) pays: a pass that decodes and counts
# (statistics) saves ~5 ns a value with them, so from about 8M values; a
# pass that only decodes (verdicts, heatmaps) saves ~0.5 ns a value
# against ``numpy_kernels``, so from about 128M (bench/RESULTS.md). Below,
# numpy and gguf give the same figures, bit for bit.
COMPILED_MIN_VALUES = 1 << 23
DECODE_ONLY_FACTOR = 16


def compiled(values: int = 0, *, decode_only: bool = False):
    """The compiled kernels (``native.Kernels``) when this process has them
    loaded already, or loaded now when a pass over ``values`` values makes
    it worth it (see ``COMPILED_MIN_VALUES``); else None, also while
    another thread loads them (the first run on a machine compiles them:
    ~6 s). Where they cannot load (no numba or llvmlite, a broken
    install), a warning says so once and numpy goes on."""
    global _compiled, _unavailable
    if _compiled is not None or _unavailable:
        return _compiled
    if values < COMPILED_MIN_VALUES * (DECODE_ONLY_FACTOR if decode_only else 1):
        return None
    if not _loading.acquire(blocking=False):
        return None
    try:
        if _compiled is None and not _unavailable:
            from . import native

            try:
                _compiled = native.load()
            except Exception as e:  # ImportError, NativeError, numba's own errors while compiling
                _unavailable = True
                warnings.warn(
                    f"compiled statistics kernels unavailable ({e}): numpy computes the same figures, slower",
                    stacklevel=2,
                )
    finally:
        _loading.release()
    return _compiled


_compiled: native.Kernels | None = None
_unavailable = False
_loading = threading.Lock()


def compiled_for(items: Iterable[tuple[Entry, DType]], *, decode_only: bool = False):
    """``compiled`` for a pass over every value of these entries (each
    alone may be too small to pay: a 7B model's are 16M-131M values)."""
    return compiled(sum(element_count(e, d) for e, d in items), decode_only=decode_only)


def _kernel_for(d: DType, values: int = 0) -> Callable[[np.ndarray], np.ndarray] | None:
    """``d``'s compiled kernel when loaded or worth loading for ``values``
    values, else its numpy kernel; None: gguf decodes it."""
    from . import numpy_kernels

    k = compiled(values, decode_only=True)
    if k is not None and d.name in k.KERNELS:
        return k.KERNELS[d.name]
    return numpy_kernels.KERNELS.get(d.name)


def decoder(entry: Entry, d: DType, *, values: int = 0) -> Callable[[Data], np.ndarray]:
    """bytes (whole elements/blocks) -> 1-D float32/float64 values.
    ``values``: how many the caller is about to decode (enough of them
    load the compiled kernels; a pass over many entries asks ``compiled_for``)."""
    if d.kind == "quant":
        kernel = _kernel_for(d, values)
        if kernel is not None:
            fast = kernel

            def blocks(b: Data) -> np.ndarray:
                with np.errstate(all="ignore"):  # NaN/Inf scales give NaN/Inf, as in gguf
                    return fast(np.frombuffer(b, np.uint8))

            return blocks
        qt = d.gguf_quant_type()
        if qt is None:
            raise DecodeError(f"'{entry.name}': {d.name} cannot be decoded (gguf.quants has no dequantizer)")
        from gguf import quants

        def dq(b: Data) -> np.ndarray:
            # One long row: gguf splits its input into row groups, and one
            # group per 34-byte block would cost a Python call per block.
            raw = np.frombuffer(b, np.uint8).reshape(1, -1)
            with np.errstate(all="ignore"):
                return quants.dequantize(raw, qt).reshape(-1)

        return dq
    if d.name == "bf16":
        return lambda b: bf16(np.frombuffer(b, np.uint8))
    npd = d.numpy_dtype()
    if npd is None:
        raise DecodeError(f"'{entry.name}': dtype {d.name} cannot be decoded")
    target = np.float64 if d.name in ("f64", "i64", "u64", "i32", "u32", "c128") else np.float32

    def plain(b: Data) -> np.ndarray:
        a = np.frombuffer(b, npd)
        if a.dtype.kind == "c":
            a = a.view(a.real.dtype)  # complex: both components, interleaved
        return a.astype(target)

    return plain


def bf16(raw: np.ndarray) -> np.ndarray:
    """bf16 bytes -> float32: each value's bits as the top half of a float32
    (ml_dtypes' conversion is slower)."""
    out = np.zeros(len(raw) // 2, np.uint32)
    out.view(np.uint16)[1::2] = raw.view(np.uint16)  # little-endian: the high half
    return out.view(np.float32)


def _unit(d: DType) -> int:
    """Bytes per decodable unit: one element, or one block."""
    return d.type_size


def need_dtype(entry: Entry, as_dtype=None) -> DType:
    d = value_dtype(entry, as_dtype)
    if d is None or not can_decode(entry, as_dtype):
        name = d.name if d is not None else "unknown"
        raise DecodeError(
            f"'{entry.name}': dtype {name} cannot be decoded"
            + (" (choose a dtype to view it as)" if d is None or d.kind == "raw" else "")
        )
    return d


def chunk_bytes(d: DType) -> int:
    """Bytes per chunk so that a chunk decodes to about CHUNK_VALUES values."""
    return max(1, CHUNK_VALUES // d.block_size) * d.type_size


def iter_values(entry: Entry, as_dtype=None, cancel=None):
    """The entry's values in order, a bounded chunk at a time."""
    d = need_dtype(entry, as_dtype)
    dec = decoder(entry, d, values=element_count(entry, d))
    unit = _unit(d)
    usable = entry.length - entry.length % unit
    step = chunk_bytes(d)
    pos = 0
    while pos < usable:
        if cancel is not None and cancel.is_set():
            raise Cancelled("statistics")
        n = min(step, usable - pos)
        yield dec(read_bytes(entry, pos, n))
        pos += n


def first_values(entry: Entry, n: int, as_dtype=None) -> np.ndarray:
    d = need_dtype(entry, as_dtype)
    unit = _unit(d)
    per_unit = d.block_size
    units = min(-(-n // per_unit), entry.length // unit)
    if units == 0:
        return np.zeros(0, np.float32)
    return decoder(entry, d)(read_bytes(entry, 0, units * unit))[:n]


def matrix_shape(entry: Entry, d: DType) -> tuple[int, int]:
    """The entry seen as a 2-D (rows, columns) matrix: the last dimension
    is the columns, the others are flattened into rows."""
    count = element_count(entry, d)
    shape = entry.shape if entry.shape is not None and entry.dtype is d else None
    if not shape:
        return (1, count) if count else (0, 0)
    cols = shape[-1]
    rows = count // cols if cols else 0
    return rows, cols


def preview(entry: Entry, rows: int, cols: int, row0: int = 0, col0: int = 0, as_dtype=None) -> np.ndarray:
    """A decoded (rows x cols) window of the matrix view, read row by row."""
    d = need_dtype(entry, as_dtype)
    dec = decoder(entry, d)
    R, C = matrix_shape(entry, d)
    row0, col0 = max(0, min(row0, R)), max(0, min(col0, C))
    rows, cols = max(0, min(rows, R - row0)), max(0, min(cols, C - col0))
    out = np.zeros((rows, cols), np.float64)
    bs, ts = d.block_size, d.type_size
    for i in range(rows):
        first = (row0 + i) * C + col0  # element index
        b0 = first // bs  # first block/element
        b1 = -(-(first + cols) // bs)
        vals = dec(read_bytes(entry, b0 * ts, (b1 - b0) * ts))
        out[i] = vals[first - b0 * bs : first - b0 * bs + cols]
    return out
