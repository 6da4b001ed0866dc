"""Decoding entries to numbers, streaming statistics, value previews.

Every plain dtype decodes through numpy/ml_dtypes, GGUF block-quantized
types through ``gguf.quants.dequantize``, splats from their pattern (no data
read), and an entry without a dtype (a raw irpa entry) can be viewed as any
dtype with ``as_dtype``.

Statistics come from one streaming pass over bounded chunks (whole blocks
for quantized types), so memory stays flat whatever the tensor size. Sums
are accumulated per chunk in float64 and merged with Chan's formula for the
variance. Percentiles come from a fine histogram keyed by the top 16 bits of
each value's float32 encoding (a bfloat16 bucket): one ``bincount`` per
chunk, no range needed in advance, and every percentile is exact to within
the bucket's width, a relative error of at most 2**-8 (``percentile_error``).
The 64-bin display histogram is rebinned from the same fine histogram.
"""

from __future__ import annotations

import math
import os
import sys as _sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import dtypes
from .dtypes import DType
from .errors import Cancelled, IrpaError
from .model import SPLAT, Entry, read_bytes

_LITTLE = _sys.byteorder == "little"
PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
PERCENTILE_ERROR = 2.0**-8  # relative, from the bfloat16 bucket width
CHUNK_VALUES = 1 << 20  # values per chunk: float64 temporaries stay ~8 MB
SAMPLE_VALUES = 1 << 18  # values read for the quick estimate
SAMPLE_SPOTS = 64  # evenly spaced places they come from


class DecodeError(IrpaError):
    """An entry cannot be turned into numbers (unknown or raw dtype)."""


@dataclass(frozen=True)
class Stats:
    count: int
    min: float
    max: float
    mean: float
    std: float
    zeros: int
    nans: int
    infs: int
    percentiles: dict[str, float]
    percentile_error: float
    hist_edges: list[float]
    hist_counts: list[int]
    exact: bool
    dtype: str = ""
    sampled: int = 0  # values looked at (== count when exact)

    @property
    def sparsity(self) -> float:
        """Percentage of zeros."""
        return 100.0 * self.zeros / self.count if self.count else 0.0

    def to_json(self) -> dict:
        def f(x):
            return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x

        return {
            "dtype": self.dtype,
            "count": self.count,
            "exact": self.exact,
            "min": f(self.min),
            "max": f(self.max),
            "mean": f(self.mean),
            "std": f(self.std),
            "zeros": self.zeros,
            "sparsity": self.sparsity,
            "nans": self.nans,
            "infs": self.infs,
            "percentiles": {k: f(v) for k, v in self.percentiles.items()},
            "percentile_error": self.percentile_error,
            "histogram": {"edges": [f(e) for e in self.hist_edges], "counts": self.hist_counts},
        }


# ---------------------------------------------------------------------------
# Decoding


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
        return _quant_type(d) is not None
    return d.numpy is not None


def decode(data: bytes, d: DType) -> np.ndarray:
    """Whole elements (or blocks) of ``d`` -> their values, 1-D float32 or
    float64 (as ``iter_values`` yields them)."""
    return _decoder(Entry(name="", kind="data", length=len(data), file=""), d)(data)


def _quant_type(d: DType):
    import gguf
    from gguf import quants

    if d.ggml is None:
        return None
    try:
        qt = gguf.GGMLQuantizationType(d.ggml)
    except ValueError:
        return None
    # dequantize raises NotImplementedError for the few it lacks (Q8_1, Q8_K).
    return qt if qt in quants._type_traits else None


def element_count(entry: Entry, d: DType) -> int:
    if d.block_size == 0:
        return 0
    return entry.length // d.type_size * d.block_size


def _decoder(entry: Entry, d: DType) -> Callable[[bytes], np.ndarray]:
    """bytes (whole elements/blocks) -> 1-D float32/float64 values."""
    if d.kind == "quant":
        qt = _quant_type(d)
        if qt is None:
            raise DecodeError(f"'{entry.name}': {d.name} cannot be decoded (gguf.quants has no dequantizer)")
        from gguf import quants

        def dq(b: bytes) -> np.ndarray:
            # One long row: gguf splits its input into row groups, and one
            # group per 34-byte block would cost a Python call per block.
            raw = np.frombuffer(b, np.uint8).reshape(1, -1)
            with np.errstate(all="ignore"):
                return quants.dequantize(raw, qt).reshape(-1)

        return dq
    npd = d.numpy_dtype()
    if npd is None:
        raise DecodeError(f"'{entry.name}': dtype {d.name} cannot be decoded")
    target = np.float64 if d.name in ("f64", "i64", "u64", "i32", "u32", "c128") else np.float32

    def plain(b: bytes) -> np.ndarray:
        a = np.frombuffer(b, npd)
        if a.dtype.kind == "c":
            a = a.view(a.real.dtype)  # complex: both components, interleaved
        return a.astype(target)

    return plain


def _unit(d: DType) -> int:
    """Bytes per decodable unit: one element, or one block."""
    return d.type_size


def _need(entry: Entry, as_dtype=None) -> DType:
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
    d = _need(entry, as_dtype)
    dec = _decoder(entry, d)
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
    d = _need(entry, as_dtype)
    unit = _unit(d)
    per_unit = d.block_size
    units = min(-(-n // per_unit), entry.length // unit)
    if units == 0:
        return np.zeros(0, np.float32)
    return _decoder(entry, d)(read_bytes(entry, 0, units * unit))[:n]


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
    d = _need(entry, as_dtype)
    dec = _decoder(entry, d)
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


# ---------------------------------------------------------------------------
# Accumulating


def _bucket_tables():
    codes = np.arange(1 << 16, dtype=np.uint32)
    with np.errstate(invalid="ignore"):  # NaN buckets: excluded below
        lo = (codes << 16).view(np.float32).astype(np.float64)
        hi = ((codes << 16) | 0xFFFF).view(np.float32).astype(np.float64)
    finite = np.isfinite(lo) & np.isfinite(hi)
    low = np.minimum(lo, hi)
    high = np.maximum(lo, hi)
    order = np.argsort(np.where(finite, low, np.inf), kind="stable")
    return low, high, finite, order


_TABLES = None


def _tables():
    global _TABLES
    if _TABLES is None:
        _TABLES = _bucket_tables()
    return _TABLES


@dataclass
class _Acc:
    """Partial statistics of some values; ``merge`` combines two."""

    count: int = 0  # all values, NaN/Inf included
    finite: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    zeros: int = 0
    nans: int = 0
    infs: int = 0
    fine: np.ndarray = field(default_factory=lambda: np.zeros(1 << 16, np.int64))

    def add(self, x: np.ndarray, weight: int = 1) -> None:
        n = x.size
        if n == 0:
            return
        with np.errstate(all="ignore"):
            x64 = x.astype(np.float64)  # our own copy: centred in place below
            s = float(x64.sum())
            if math.isfinite(s):
                fin = x64
            else:
                mask = np.isfinite(x64)
                fin = x64[mask]
                nan = int(np.count_nonzero(np.isnan(x64)))
                self.nans += nan * weight
                self.infs += (n - fin.size - nan) * weight
                s = float(fin.sum())
            k = fin.size
            self.count += n * weight
            self.zeros += int(np.count_nonzero(x == 0)) * weight
            # The high 16 bits of each float32 are its bucket: on a little-
            # endian machine, every odd uint16 of the array.
            x32 = np.ascontiguousarray(x, dtype=np.float32)
            hi = x32.view(np.uint16)[1::2] if _LITTLE else (x32.view(np.uint32) >> 16).astype(np.uint16)
            self.fine += np.bincount(hi, minlength=1 << 16) * weight
            if k == 0:
                return
            lo, hi_v = float(fin.min()), float(fin.max())
            m = s / k
            fin -= m
            m2 = float(fin @ fin)
            self._merge_moments(k * weight, m, m2 * weight, lo, hi_v)

    def _merge_moments(self, k, m, m2, lo, hi):
        n = self.finite + k
        delta = m - self.mean
        self.mean += delta * k / n
        self.m2 += m2 + delta * delta * self.finite * k / n
        self.finite = n
        self.min = min(self.min, lo)
        self.max = max(self.max, hi)

    def merge(self, o: _Acc) -> None:
        if o.finite:
            self._merge_moments(o.finite, o.mean, o.m2, o.min, o.max)
        self.count += o.count
        self.zeros += o.zeros
        self.nans += o.nans
        self.infs += o.infs
        self.fine += o.fine

    def result(self, exact: bool, bins: int, dtype: str, total: int | None = None) -> Stats:
        low, high, finite_b, order = _tables()
        counts = np.where(finite_b, self.fine, 0)
        pct: dict[str, float] = {}
        n = int(counts.sum())
        if n:
            cum = np.cumsum(counts[order])
            for p in PERCENTILES:
                rank = p / 100 * (n - 1)
                i = int(np.searchsorted(cum, rank, side="right"))
                code = order[min(i, len(order) - 1)]
                # The buckets holding +-0 also hold denormals: call them 0.
                mid = 0.0 if low[code] == 0 or high[code] == 0 else (low[code] + high[code]) / 2
                pct[str(p)] = float(min(max(mid, self.min), self.max))
        else:
            pct = {str(p): math.nan for p in PERCENTILES}
        edges, hist = self._display_hist(counts, bins)
        std = math.sqrt(self.m2 / self.finite) if self.finite else math.nan
        scale = 1 if total is None or not self.count else total / self.count
        return Stats(
            count=total if total is not None else self.count,
            min=self.min if self.finite else math.nan,
            max=self.max if self.finite else math.nan,
            mean=self.mean if self.finite else math.nan,
            std=std,
            zeros=round(self.zeros * scale),
            nans=round(self.nans * scale),
            infs=round(self.infs * scale),
            percentiles=pct,
            percentile_error=PERCENTILE_ERROR,
            hist_edges=edges,
            hist_counts=[round(c * scale) for c in hist],
            exact=exact,
            dtype=dtype,
            sampled=self.count,
        )

    def _display_hist(self, counts, bins):
        if not self.finite:
            return [], []
        lo, hi = self.min, self.max
        if lo == hi:
            return [lo, hi], [int(counts.sum())]
        low, high, _finite_b, _ = _tables()
        idx = np.nonzero(counts)[0]
        mids = np.clip((low[idx] + high[idx]) / 2, lo, hi)
        b = np.minimum(((mids - lo) / (hi - lo) * bins).astype(np.int64), bins - 1)
        hist = np.bincount(b, weights=counts[idx], minlength=bins).astype(np.int64)
        edges = np.linspace(lo, hi, bins + 1)
        return [float(e) for e in edges], [int(c) for c in hist]


# ---------------------------------------------------------------------------
# Public entry points


def splat_stats(entry: Entry, as_dtype=None, bins: int = 64) -> Stats:
    """Statistics of a splat from its pattern alone: no data read."""
    d = _need(entry, as_dtype)
    pat = entry.pattern or b"\0"
    unit = _unit(d)
    period = pat * (math.lcm(len(pat), unit) // len(pat))
    vals = _decoder(entry, d)(period)
    total = element_count(entry, d)
    acc = _Acc()
    if total and vals.size:
        acc.add(vals)
    s = acc.result(True, bins, d.name, total)
    return s


def sample_stats(entry: Entry, as_dtype=None, bins: int = 64, budget: int = SAMPLE_VALUES) -> Stats:
    """A quick estimate from about ``budget`` values read at evenly spaced
    places; exact (and flagged so) when the tensor is that small."""
    if entry.kind == SPLAT:
        return splat_stats(entry, as_dtype, bins)
    d = _need(entry, as_dtype)
    unit = _unit(d)
    units = entry.length // unit
    total = element_count(entry, d)
    if total <= budget:
        return compute_stats(entry, as_dtype=as_dtype, bins=bins)
    dec = _decoder(entry, d)
    per_spot = max(1, budget // SAMPLE_SPOTS // d.block_size)
    acc = _Acc()
    for i in range(SAMPLE_SPOTS):
        start = (units - per_spot) * i // (SAMPLE_SPOTS - 1)
        acc.add(dec(read_bytes(entry, start * unit, per_spot * unit)))
    return acc.result(False, bins, d.name, total)


def compute_stats(
    entry: Entry,
    *,
    as_dtype=None,
    bins: int = 64,
    progress: Callable[[int, int], None] | None = None,
    cancel=None,
    threads: int | None = None,
) -> Stats:
    """The exact statistics, in one streaming pass. ``progress(done, total)``
    in bytes after each chunk; ``cancel.is_set()`` stops with ``Cancelled``."""
    if entry.kind == SPLAT:
        return splat_stats(entry, as_dtype, bins)
    d = _need(entry, as_dtype)
    dec = _decoder(entry, d)
    unit = _unit(d)
    usable = entry.length - entry.length % unit
    step = chunk_bytes(d)
    spans = [(p, min(step, usable - p)) for p in range(0, usable, step)]
    threads = threads or min(2, os.cpu_count() or 1)

    def work(span) -> _Acc:
        if cancel is not None and cancel.is_set():
            raise Cancelled("statistics")
        a = _Acc()
        a.add(dec(read_bytes(entry, *span)))
        return a

    acc = _Acc()
    done = 0
    if threads > 1 and len(spans) > 1:
        # numpy and pread release the GIL: two chunks in flight use both cores.
        with ThreadPoolExecutor(threads) as pool:
            window = threads * 2
            futures: list[Future[_Acc] | None] = [pool.submit(work, s) for s in spans[:window]]
            nxt = window
            for i in range(len(spans)):
                fut = futures[i]
                assert fut is not None
                part = fut.result()
                futures[i] = None  # let the finished chunk's memory go
                if nxt < len(spans):
                    futures.append(pool.submit(work, spans[nxt]))
                    nxt += 1
                acc.merge(part)
                done += spans[i][1]
                if progress:
                    progress(done, usable)
    else:
        for s in spans:
            acc.merge(work(s))
            done += s[1]
            if progress:
                progress(done, usable)
    return acc.result(True, bins, d.name)
