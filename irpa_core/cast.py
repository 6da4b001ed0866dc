"""Casting a tensor's values to another dtype, streamed in bounded chunks.

Allowed casts (``cast_problem`` says why any other is refused):

- float to float among f64, f32, f16, bf16 and the fp8 kinds, rounding to
  nearest even once, from the source value, as numpy and ml_dtypes
  ``astype`` do. One exception needs care: ml_dtypes before 0.7 converts f64 to
  bf16 and fp8 through f32, rounding twice (1 + 2**-8 + 2**-30 becomes 1.0 in
  bf16, not 1.0078125). We round f64 to f32 *to odd* first (round to
  nearest, then step to the odd neighbour when inexact): with 16 or more
  spare bits that intermediate keeps the side of every rounding boundary,
  so the f32 -> target step then gives the correctly rounded result (Boldo &
  Melquiond, "Emulation of FMA and correctly rounded sums", 2008).
- integer widening: a signed type to a wider signed one, an unsigned type
  to a wider unsigned or signed one (every value fits).
- GGUF block-quantized types to f32, f16 or bf16 through
  ``gguf.quants.dequantize`` (which computes in f32), then ``astype``.
- float to Q8_0, Q4_0, Q4_1, Q5_0 or Q5_1 through ``gguf.quants.quantize``
  (numpy code, several hundred MB/s here; the package converts to f32 first).
  Its other quantizers are left out: TQ1_0/TQ2_0 are ternary formats for
  models trained for them, MXFP4 runs at under 100 MB/s.

``iter_cast`` reads with ``model.read_bytes`` (splats expand) a bounded
number of whole elements, blocks or rows at a time, so memory stays flat
whatever the tensor size. numpy and gguf are imported only when casting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .dtypes import DType
from .errors import Cancelled, PlanError
from .model import Entry, read_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing slows start-up (bench/RESULTS.md)
    from typing import Any

FLOATS = ("f64", "f32", "f16", "bf16", "f8_e4m3fn", "f8_e5m2", "f8_e4m3fnuz", "f8_e5m2fnuz", "f8_e8m0fnu")
DEQUANTIZE_TO = ("f32", "f16", "bf16")
QUANTIZE_TO = ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1")
CHUNK_BYTES = 4 << 20  # per step, the largest of input, f32 intermediate and output
_BITS = {"i8": 8, "i16": 16, "i32": 32, "i64": 64, "u8": 8, "u16": 16, "u32": 32, "u64": 64}
_ALLOWED = (
    "float to float (f64, f32, f16, bf16, fp8), widening integers, GGUF block types to f32/f16/bf16, "
    f"and floats to {'/'.join(QUANTIZE_TO)}"
)


def cast_problem(src: DType, dst: DType) -> str | None:
    """Why values of ``src`` cannot be cast to ``dst``, or None."""
    if src == dst:
        return None
    if dst.kind == "quant":
        if dst.name not in QUANTIZE_TO:
            return f"quantizing to {dst.name} is not supported (only to {', '.join(QUANTIZE_TO)})"
        if src.kind == "quant":
            return f"re-quantizing {src.name} to {dst.name} is not supported: dequantize to f32, f16 or bf16"
        if src.name not in FLOATS:
            return f"only floats can be quantized, not {src.name}"
        return None
    if src.kind == "quant":
        if dst.name not in DEQUANTIZE_TO:
            return f"{src.name} dequantizes only to f32, f16 or bf16, not {dst.name}"
        if src.gguf_quant_type() is None:
            return f"gguf.quants has no dequantizer for {src.name}"
        return None
    if src.name in FLOATS and dst.name in FLOATS:
        return None
    if src.name in _BITS and dst.name in _BITS:
        if _widens(src, dst):
            return None
        return f"{src.name} to {dst.name} is not a widening integer cast (some values would not fit)"
    return f"cannot cast {src.name} to {dst.name}: allowed are {_ALLOWED}"


def _widens(src: DType, dst: DType) -> bool:
    wider = _BITS[dst.name] > _BITS[src.name]
    if src.kind == "int":
        return dst.kind == "int" and wider
    return wider and dst.kind in ("uint", "int")


def _elements(entry: Entry, src: DType) -> int:
    if src.block_size == 0:
        raise PlanError(entry.name, f"its dtype {src.name} is unknown here, so its values cannot be cast")
    n = entry.length // src.type_size * src.block_size
    if entry.length % src.type_size:
        raise PlanError(entry.name, f"{entry.length} bytes are not a whole number of {src.name} values")
    if entry.shape is not None:
        count = 1
        for s in entry.shape:
            count *= s
        if count != n:
            raise PlanError(entry.name, f"{entry.length} bytes do not match shape {list(entry.shape)} of {src.name}")
    return n


def _check(entry: Entry, dst: DType) -> tuple[DType, int]:
    src = entry.dtype
    if src is None:
        raise PlanError(entry.name, "has no dtype (a raw irpa entry without metadata), so its values cannot be cast")
    problem = cast_problem(src, dst)
    if problem:
        raise PlanError(entry.name, f"cannot cast: {problem}")
    n = _elements(entry, src)
    if dst.kind == "quant":
        last = entry.shape[-1] if entry.shape else n
        if last % dst.block_size:
            raise PlanError(
                entry.name,
                f"cannot quantize to {dst.name}: the last dimension ({last}) is not a "
                f"multiple of its block size {dst.block_size}",
            )
    return src, n


def cast_length(entry: Entry, dst: DType) -> int:
    """Byte size of ``entry``'s values cast to ``dst``; PlanError naming the
    entry when the cast is not possible."""
    _, n = _check(entry, dst)
    return dst.nbytes(n)


# What an interface offers as cast targets (``castable_to`` says which apply to a tensor).
CAST_CHOICES = (
    "f32", "f16", "bf16", "f64", "f8_e4m3fn", "f8_e5m2", "f8_e4m3fnuz", "f8_e5m2fnuz", "f8_e8m0fnu",
    "i16", "i32", "i64", "u16", "u32", "u64", *QUANTIZE_TO,
)  # fmt: skip


def cast_check(entry: Entry, dst: DType) -> str | None:
    """Why ``entry`` cannot be cast to ``dst`` (a sentence), or None (casting
    to its own dtype is no cast, and allowed): the dtype rules of
    ``cast_problem``, then the shape rules of ``cast_length``."""
    if entry.dtype == dst:
        return None
    problem = cast_problem(entry.dtype, dst) if entry.dtype is not None else None
    if problem:
        return problem
    try:
        cast_length(entry, dst)  # the rest: no dtype, a shape that does not fit
    except PlanError as err:
        return err.reason
    return None


def castable_to(entry: Entry) -> list[str]:
    """The dtypes of ``CAST_CHOICES`` that ``entry`` can be cast to."""
    from . import dtypes

    out = []
    for name in CAST_CHOICES:
        d = dtypes.by_name(name)
        if d is not None and entry.dtype is not None and d != entry.dtype and cast_check(entry, d) is None:
            out.append(name)
    return out


def cast_length_or_none(entry: Entry, dst: DType) -> int | None:
    """``cast_length``, or None when ``entry`` cannot be cast to ``dst``."""
    try:
        return cast_length(entry, dst)
    except PlanError:
        return None


def iter_cast(entry: Entry, dst: DType, *, chunk_bytes: int = CHUNK_BYTES, cancel: Any = None) -> Iterator[bytes]:
    """``entry``'s values cast to ``dst``, in order, as bytes: whole
    elements, blocks or rows per chunk, about ``chunk_bytes`` of input,
    intermediate or output at most per step (one row or block may exceed
    it). Raises PlanError (checked before the first chunk) and Cancelled."""
    src, n = _check(entry, dst)
    return _chunks(entry, src, dst, n, chunk_bytes, cancel)


def _chunks(entry: Entry, src: DType, dst: DType, n: int, chunk_bytes: int, cancel: Any) -> Iterator[bytes]:
    convert = _converter(src, dst)
    # Indivisible unit in elements: one element, or a block; a whole row
    # when a row fits in a chunk (rows are what GGUF tools think in).
    block = max(src.block_size, dst.block_size)
    per_elem = max(
        src.type_size / src.block_size, dst.type_size / dst.block_size, 4.0 if block > 1 or src.name == "f64" else 0.0
    )
    row = entry.shape[-1] if entry.shape else 0
    unit = row if block > 1 and row and row * per_elem <= chunk_bytes else block
    step = max(unit, int(chunk_bytes // per_elem) // unit * unit)
    pos = 0
    while pos < n:
        if cancel is not None and cancel.is_set():
            raise Cancelled("cast")
        k = min(step, n - pos)
        start = pos // src.block_size * src.type_size
        yield convert(read_bytes(entry, start, k // src.block_size * src.type_size))
        pos += k


def _converter(src: DType, dst: DType) -> Callable[[bytes], bytes]:
    import numpy as np

    if src == dst:
        return bytes
    if dst.kind == "quant":
        import gguf
        from gguf import quants

        assert dst.ggml is not None  # every QUANTIZE_TO type has its ggml id
        qt = gguf.GGMLQuantizationType(dst.ggml)
        npd = src.numpy_dtype()

        def quantize(b: bytes) -> bytes:
            # One row of whole blocks: blocks are independent of each other.
            a = np.frombuffer(b, npd).reshape(1, -1)
            with np.errstate(all="ignore"):
                return quants.quantize(a, qt).tobytes()

        return quantize
    out = dst.numpy_dtype()
    if src.kind == "quant":
        from gguf import quants

        qt = src.gguf_quant_type()

        def dequantize(b: bytes) -> bytes:
            raw = np.frombuffer(b, np.uint8).reshape(1, -1)
            with np.errstate(all="ignore"):
                v = quants.dequantize(raw, qt).reshape(-1)
                return (v if out == np.float32 else v.astype(out)).tobytes()

        return dequantize
    inp = src.numpy_dtype()
    if src.name == "f64" and dst.name not in ("f64", "f32", "f16"):
        # ml_dtypes would round f64 -> f32 -> dst; see the module docstring.
        def via_odd(b: bytes) -> bytes:
            with np.errstate(all="ignore"):
                return _f32_round_to_odd(np.frombuffer(b, np.float64)).astype(out).tobytes()

        return via_odd

    if not np.can_cast(inp, out, "unsafe"):
        # ml_dtypes has no direct cast between f8_e8m0fnu and the other fp8
        # kinds; every fp8 value is exact in f32, so this still rounds once.
        def via_f32(b: bytes) -> bytes:
            with np.errstate(all="ignore"):
                return np.frombuffer(b, inp).astype(np.float32).astype(out).tobytes()

        return via_f32

    def plain(b: bytes) -> bytes:
        with np.errstate(all="ignore"):
            return np.frombuffer(b, inp).astype(out).tobytes()

    return plain


def _f32_round_to_odd(x: Any) -> Any:
    """f64 values rounded to f32 with round-to-odd: the f32 neighbour of x
    whose last mantissa bit is 1, unless x is exactly an f32 (or NaN)."""
    import numpy as np

    y = x.astype(np.float32)
    inexact = (y.astype(np.float64) != x) & ~np.isnan(x)
    even = (y.view(np.uint32) & 1) == 0
    fix = inexact & even
    if fix.any():
        # The other neighbour, one step towards x, is the odd one (for an
        # overflow to inf it is the largest finite f32, odd as well).
        up = x[fix] > y[fix].astype(np.float64)
        y[fix] = np.nextafter(y[fix], np.where(up, np.float32(np.inf), np.float32(-np.inf)))
    return y
