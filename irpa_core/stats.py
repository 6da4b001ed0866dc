"""Decoding entries to numbers, streaming statistics, value previews.

Every plain dtype decodes through numpy/ml_dtypes, GGUF block-quantized
types through ``gguf.quants.dequantize``, splats from their pattern (no data
read), and an entry without a dtype (a raw irpa entry) can be viewed as any
dtype with ``as_dtype``.

Statistics come from one streaming pass over bounded chunks (whole blocks
for quantized types), so memory stays flat whatever the tensor size. Sums
are accumulated per chunk in float64 and merged with Chan's formula for the
variance.

Percentiles are the value of rank ``floor(p * (n - 1) / 100)`` among the
finite values (numpy's ``method="lower"``), found without sorting:

- bool and integer tensors count every distinct value (a dense count over
  the value range, while that range stays under ``INT_SPAN``): percentiles
  and histogram are exact and the histogram bins are whole integers;
- float tensors use a fine histogram of 65,536 buckets: one ``bincount``
  per chunk, no range needed in advance. f16 tensors are keyed by their own
  16 bits, every other float by the top 16 bits of its float32 encoding (a
  bfloat16 bucket). A bucket then holds one representable value of f16,
  bf16 and every 8-bit float, so their percentiles are exact too; for f32,
  f64 and quantized types a percentile is within half a bucket of the true
  one, a relative error of at most 2**-8 (``percentile_error``, 0 when
  exact). Wider keys (19 bits: 2**-11) cost a third more time on a
  quantized pass for a bound that stays a bound.

The display histogram is rebinned from the same counts. Exact results are
cached per entry (``cached_stats``), keyed by the entry and its file's
identity (device, inode, size, modification time), so a file that changes
is read again.
"""

from __future__ import annotations

import math
import os
import sys as _sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import dtypes
from .dtypes import DType
from .errors import Cancelled, IrpaError
from .model import SPLAT, Entry, read_bytes
from .sources import is_remote

_LITTLE = _sys.byteorder == "little"
PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
FINE_BITS = 16  # bits that key a fine bucket: a float32's top 16, or an f16's own
PERCENTILE_ERROR = 2.0**-8  # relative: half a bucket of 7 mantissa bits
INT_SPAN = 1 << 20  # widest integer range counted value by value (8 MB of counts)
CHUNK_VALUES = 1 << 20  # values per chunk: float64 temporaries stay ~8 MB
SAMPLE_VALUES = 1 << 18  # values read for the quick estimate
SAMPLE_SPOTS = 64  # evenly spaced places they come from
CACHE_ENTRIES = 4096  # exact results kept (a few KB each)
# Float dtypes whose every value is alone in its fine bucket (<= 10 mantissa bits).
_ONE_PER_BUCKET = {"f16", "bf16", "f8_e4m3fn", "f8_e5m2", "f8_e4m3fnuz", "f8_e5m2fnuz", "f8_e8m0fnu"}
F32_KEY, F16_KEY = "f32", "f16"  # how values are keyed: top bits of a float32, or f16 bits


class DecodeError(IrpaError):
    """An entry cannot be turned into numbers (unknown or raw dtype)."""


@dataclass(frozen=True)
class Stats:
    """``percentiles_exact``: every percentile is the true value of its rank
    (else within ``percentile_error``, relative). ``integer``: the histogram
    bins are whole integers, ``hist_edges[k] <= v < hist_edges[k + 1]``."""

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
    percentiles_exact: bool = False
    integer: bool = False

    @property
    def sparsity(self) -> float:
        """Percentage of zeros."""
        return 100.0 * self.zeros / self.count if self.count else 0.0

    @property
    def absmax(self) -> float:
        """Largest magnitude among the finite values (nan when none)."""
        return max(abs(self.min), abs(self.max)) if self.min == self.min else math.nan

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
            "percentiles_exact": self.percentiles_exact,
            "percentile_error": self.percentile_error,
            "histogram": {
                "edges": [f(e) for e in self.hist_edges],
                "counts": self.hist_counts,
                "integer": self.integer,
            },
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


def _bucket_tables(key: str):
    codes = np.arange(1 << FINE_BITS, dtype=np.uint32)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN buckets: excluded below
        if key == F16_KEY:  # a bucket is one f16 value
            lo = hi = codes.astype(np.uint16).view(np.float16).astype(np.float64)
        else:
            lo = (codes << 16).view(np.float32).astype(np.float64)
            hi = ((codes << 16) | 0xFFFF).view(np.float32).astype(np.float64)
    finite = np.isfinite(lo) & np.isfinite(hi)
    low = np.minimum(lo, hi)
    high = np.maximum(lo, hi)
    # The value a bucket stands for: its only value for one-per-bucket
    # dtypes (the code with the low bits clear), else its middle.
    exact_value = np.where(finite, lo, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        mid = np.where(finite, (low + high) / 2, 0.0)
    # The buckets holding +-0 also hold the tiniest denormals: call them 0.
    mid[(low == 0) | (high == 0)] = 0.0
    order = np.argsort(np.where(finite, low, np.inf), kind="stable")
    return finite, order, exact_value, mid


_TABLES: dict[str, tuple] = {}
_TABLES_LOCK = threading.Lock()


def _tables(key: str):
    with _TABLES_LOCK:
        if key not in _TABLES:
            _TABLES[key] = _bucket_tables(key)
        return _TABLES[key]


def _is_integer(d: DType | None) -> bool:
    return d is not None and d.kind in ("int", "uint", "bool")


@dataclass
class _Ints:
    """Exact counts of integer values over ``[base, base + len(counts))``."""

    base: int = 0
    counts: np.ndarray | None = None

    def _cover(self, lo: int, hi: int) -> bool:
        """Grow the counts to cover [lo, hi]; False past INT_SPAN."""
        if self.counts is not None:
            lo, hi = min(lo, self.base), max(hi, self.base + len(self.counts) - 1)
        if hi - lo + 1 > INT_SPAN:
            return False
        if self.counts is None:
            self.base, self.counts = lo, np.zeros(hi - lo + 1, np.int64)
        elif lo != self.base or hi - lo + 1 != len(self.counts):
            grown = np.zeros(hi - lo + 1, np.int64)
            grown[self.base - lo : self.base - lo + len(self.counts)] = self.counts
            self.base, self.counts = lo, grown
        return True

    def add(self, xi: np.ndarray, lo: int, hi: int, weight: int) -> bool:
        """Count ``xi`` (all within [lo, hi]); False when the range grows
        past INT_SPAN (the caller drops the counts)."""
        if not self._cover(lo, hi):
            return False
        assert self.counts is not None
        part = np.bincount(xi - lo, minlength=hi - lo + 1)
        self.counts[lo - self.base : lo - self.base + len(part)] += part * weight
        return True

    def merge(self, o: _Ints) -> bool:
        if o.counts is None:
            return True
        if not self._cover(o.base, o.base + len(o.counts) - 1):
            return False
        assert self.counts is not None
        self.counts[o.base - self.base : o.base - self.base + len(o.counts)] += o.counts
        return True

    def values_and_counts(self) -> tuple[np.ndarray, np.ndarray]:
        assert self.counts is not None
        return np.arange(self.base, self.base + len(self.counts), dtype=np.float64), self.counts


@dataclass
class _Acc:
    """Partial statistics of some values; ``merge`` combines two.
    ``integer``: the values are integers, counted exactly while their range
    allows (``ints`` None once it does not)."""

    integer: bool = False
    one_per_bucket: bool = False
    key: str = F32_KEY
    count: int = 0  # all values, NaN/Inf included
    finite: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    zeros: int = 0
    nans: int = 0
    infs: int = 0
    fine: np.ndarray | None = None
    ints: _Ints | None = None

    def __post_init__(self) -> None:
        if self.integer:
            self.ints = _Ints()

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
            if k == 0:
                return
            lo, hi_v = float(fin.min()), float(fin.max())
            if self.ints is not None:
                xi = fin.astype(np.int64)
                if not self.ints.add(xi, int(lo), int(hi_v), weight):
                    self._give_up_ints()
            if self.ints is None:
                self._add_fine(x, weight)
            m = s / k
            fin -= m
            m2 = float(fin @ fin)
            self._merge_moments(k * weight, m, m2 * weight, lo, hi_v)

    def _add_fine(self, x: np.ndarray, weight: int) -> None:
        counts = np.bincount(_codes(x, self.key), minlength=1 << FINE_BITS)
        if weight != 1:
            counts *= weight
        if self.fine is None:
            self.fine = counts  # the first chunk: no zeros to add to
        else:
            self.fine += counts

    def _give_up_ints(self) -> None:
        """The integer range is too wide to count value by value: go on with
        fine buckets (percentiles within their bound), rebuilt from the
        counts so far."""
        old = self.ints
        self.ints = None
        self.key = F32_KEY
        self.fine = np.zeros(1 << FINE_BITS, np.int64)
        if old is not None and old.counts is not None:
            idx = np.nonzero(old.counts)[0]
            np.add.at(self.fine, _codes((idx + old.base).astype(np.float32), F32_KEY), old.counts[idx])

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
        if self.ints is not None and o.ints is not None and self.ints.merge(o.ints):
            return
        # One side (or the merged range) is too wide to count: both go fine.
        if self.ints is not None:
            self._give_up_ints()
        if o.ints is not None:
            o._give_up_ints()
        if o.fine is None:
            return
        if self.fine is None:
            self.fine = o.fine.copy()
        else:
            self.fine += o.fine

    # -- results -------------------------------------------------------------

    def result(self, exact: bool, bins: int, dtype: str, total: int | None = None) -> Stats:
        if self.ints is not None and self.ints.counts is not None:
            values, counts = self.ints.values_and_counts()
            pct_exact = True
        else:
            finite_b, order, exact_value, mid = _tables(self.key)
            fine = self.fine if self.fine is not None else np.zeros(1 << FINE_BITS, np.int64)
            counts = np.where(finite_b, fine, 0)[order]
            values = (exact_value if self.one_per_bucket else mid)[order]
            pct_exact = self.one_per_bucket
        pct = self._percentiles(values, counts)
        edges, hist = self._display_hist(values, counts, bins)
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
            percentile_error=0.0 if (pct_exact and exact) else PERCENTILE_ERROR,
            hist_edges=edges,
            hist_counts=[round(c * scale) for c in hist],
            exact=exact,
            dtype=dtype,
            sampled=self.count,
            percentiles_exact=pct_exact and exact,
            integer=self.integer,
        )

    def _percentiles(self, values: np.ndarray, counts: np.ndarray) -> dict[str, float]:
        """Value of rank floor(p * (n - 1) / 100), ``values`` ascending."""
        n = int(counts.sum())
        if not n:
            return {str(p): math.nan for p in PERCENTILES}
        cum = np.cumsum(counts)
        out = {}
        for p in PERCENTILES:
            rank = p * (n - 1) // 100
            i = int(np.searchsorted(cum, rank, side="right"))
            v = float(values[min(i, len(values) - 1)])
            out[str(p)] = min(max(v, self.min), self.max)
        return out

    def _display_hist(self, values: np.ndarray, counts: np.ndarray, bins: int) -> tuple[list[float], list[int]]:
        if not self.finite:
            return [], []
        lo, hi = self.min, self.max
        nz = np.nonzero(counts)[0]
        vals, cnt = np.clip(values[nz], lo, hi), counts[nz]
        if self.integer:
            # Whole-integer bins: `width` integers each, the first at min.
            width = max(1, -(-(int(hi) - int(lo) + 1) // bins))
            nb = -(-(int(hi) - int(lo) + 1) // width)
            b = ((vals - lo) // width).astype(np.int64)
            hist = np.bincount(b, weights=cnt, minlength=nb).astype(np.int64)
            return [float(lo + k * width) for k in range(nb + 1)], [int(c) for c in hist]
        if lo == hi:
            return [lo, hi], [int(cnt.sum())]
        b = np.minimum(((vals - lo) / (hi - lo) * bins).astype(np.int64), bins - 1)
        hist = np.bincount(b, weights=cnt, minlength=bins).astype(np.int64)
        edges = np.linspace(lo, hi, bins + 1)
        return [float(e) for e in edges], [int(c) for c in hist]


def _codes(x: np.ndarray, key: str) -> np.ndarray:
    """The fine bucket of each value."""
    if key == F16_KEY:  # f16 values, widened to float32 by the decoder: exact back
        return np.ascontiguousarray(x, dtype=np.float16).view(np.uint16)
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    # The high 16 bits of each float32: on a little-endian machine, every odd uint16.
    return x32.view(np.uint16)[1::2] if _LITTLE else (x32.view(np.uint32) >> 16).astype(np.uint16)


def _new_acc(d: DType) -> _Acc:
    return _Acc(
        integer=_is_integer(d), one_per_bucket=d.name in _ONE_PER_BUCKET, key=F16_KEY if d.name == "f16" else F32_KEY
    )


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
    acc = _new_acc(d)
    if total and vals.size:
        acc.add(vals)
    return acc.result(True, bins, d.name, total)


def sample_stats(
    entry: Entry, as_dtype=None, bins: int = 64, budget: int = SAMPLE_VALUES, spots: int = SAMPLE_SPOTS, cancel=None
) -> Stats:
    """A quick estimate from about ``budget`` values read at ``spots``
    evenly spaced places; exact (and flagged so) when the tensor is that
    small. Fewer spots suit a remote file, where each place read costs a
    request and a cache block. ``cancel.is_set()`` stops between places
    with ``Cancelled``."""
    if entry.kind == SPLAT:
        return splat_stats(entry, as_dtype, bins)
    d = _need(entry, as_dtype)
    unit = _unit(d)
    units = entry.length // unit
    total = element_count(entry, d)
    if total <= budget:
        return compute_stats(entry, as_dtype=as_dtype, bins=bins, cancel=cancel)
    dec = _decoder(entry, d)
    spots = max(2, spots)
    per_spot = max(1, budget // spots // d.block_size)
    acc = _new_acc(d)
    for i in range(spots):
        if cancel is not None and cancel.is_set():
            raise Cancelled("statistics")
        start = (units - per_spot) * i // (spots - 1)
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
    """The exact statistics, in one streaming pass (or from the cache).
    ``progress(done, total)`` in bytes after each chunk; ``cancel.is_set()``
    stops with ``Cancelled``."""
    for _entry, result in stats_many(
        [entry],
        as_dtype=as_dtype,
        bins=bins,
        cancel=cancel,
        threads=threads,
        progress=(lambda done, total, _e: progress(done, total)) if progress else None,
    ):
        if isinstance(result, Exception):
            raise result
        return result
    raise AssertionError("stats_many yields one result per entry")


def stats_many(
    entries: Iterable[Entry],
    *,
    as_dtype=None,
    bins: int = 64,
    progress: Callable[[int, int, Entry], None] | None = None,
    cancel=None,
    threads: int | None = None,
    skip_undecodable: bool = False,
) -> Iterator[tuple[Entry, Stats | Exception]]:
    """Exact statistics of many entries, in order, through one pool of
    ``threads`` workers that keeps chunks of the next entries in flight (a
    file of many small tensors keeps both cores busy). Yields ``(entry,
    Stats)``, or ``(entry, DecodeError)`` for an entry that cannot be
    decoded (left out with ``skip_undecodable``). ``progress(done, total,
    entry)`` counts bytes over all entries; cached results cost nothing.
    ``cancel.is_set()`` stops with ``Cancelled``."""
    decoders: dict[int, Callable[[bytes], np.ndarray]] = {}
    plans: list[tuple[Entry, DType | None, list[tuple[int, int]], Stats | Exception | None]] = []
    for e in entries:
        try:
            d = _need(e, as_dtype)
        except DecodeError as err:
            if not skip_undecodable:
                plans.append((e, None, [], err))
            continue
        hit = cached_stats(e, as_dtype, bins)
        if hit is not None or e.kind == SPLAT:
            plans.append((e, d, [], hit if hit is not None else splat_stats(e, as_dtype, bins)))
            continue
        usable = e.length - e.length % _unit(d)
        step = chunk_bytes(d)
        decoders[len(plans)] = _decoder(e, d)
        plans.append((e, d, [(p, min(step, usable - p)) for p in range(0, usable, step)], None))
    total = sum(n for _e, _d, spans, _r in plans for _p, n in spans)
    if threads is None and any(spans and _remote(e) for e, _d, spans, _r in plans):
        # One reader for remote files: two would each fetch the cache block
        # their neighbouring chunks share (1.3-1.9x a big tensor's bytes,
        # bench/RESULTS.md), and the network, not decoding, sets the pace.
        threads = 1
    threads = threads or min(2, os.cpu_count() or 1)

    def work(k: int, span: tuple[int, int]) -> _Acc:
        if cancel is not None and cancel.is_set():
            raise Cancelled("statistics")
        e, d, _spans, _r = plans[k]
        assert d is not None
        a = _new_acc(d)
        a.add(decoders[k](read_bytes(e, *span)))
        return a

    jobs = ((k, span) for k, (_e, _d, spans, _r) in enumerate(plans) for span in spans)
    done = 0
    pool = ThreadPoolExecutor(threads) if threads > 1 and total else None
    window: list[tuple[int, tuple[int, int], Future[_Acc]]] = []

    def fill() -> None:
        # numpy, dequantizing and pread release the GIL: chunks in flight
        # use every core; a bounded window keeps memory flat.
        assert pool is not None
        while len(window) < threads * 2:
            job = next(jobs, None)
            if job is None:
                return
            window.append((*job, pool.submit(work, *job)))

    try:
        for k, (e, dt, spans, ready) in enumerate(plans):
            if cancel is not None and cancel.is_set():
                raise Cancelled("statistics")
            if ready is not None or dt is None:
                assert ready is not None
                yield e, ready
                continue
            acc = _new_acc(dt)
            for span in spans:
                if pool is not None:
                    fill()
                    jk, jspan, fut = window.pop(0)
                    assert (jk, jspan) == (k, span)
                    part = fut.result()
                else:
                    part = work(k, span)
                acc.merge(part)
                done += span[1]
                if progress:
                    progress(done, total, e)
            st = acc.result(True, bins, dt.name)
            remember(e, st, as_dtype, bins)
            yield e, st
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _remote(entry: Entry) -> bool:
    src = entry.source
    return src.remote if src is not None else is_remote(entry.file)


# ---------------------------------------------------------------------------
# The cache of exact results


_CACHE: OrderedDict[tuple, tuple[tuple | None, Stats]] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def file_identity(path: str) -> tuple | None:
    """What says a file is still the one we read: device, inode, size and
    modification time (None when it cannot be stat'ed)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _cache_key(entry: Entry, as_dtype, bins: int) -> tuple:
    d = value_dtype(entry, as_dtype)
    return (entry, d.name if d is not None else None, bins)


def _identity(entry: Entry) -> tuple | None:
    """What must not change for a cached result to stand: nothing for a
    splat; the open file's identity and (size, mtime) now for an entry read
    through a local source (it reads the file it opened, so only a change in
    place matters); a remote source's URL, size and validator; else the
    path's identity on disk."""
    if entry.kind == SPLAT:
        return ()
    src = entry.source
    if src is not None and getattr(src, "remote", False):
        return ("remote", src.name, src.size, getattr(src, "etag", None))
    stamp = getattr(src, "stamp", None)
    if src is not None and stamp is not None:
        try:
            return (getattr(src, "identity", None), *stamp())
        except IrpaError:
            return None
    return file_identity(entry.file)


def cached_stats(entry: Entry, as_dtype=None, bins: int = 64) -> Stats | None:
    """The exact statistics computed before for this entry, if its file has
    not changed since (a changed file drops every result read from it)."""
    key = _cache_key(entry, as_dtype, bins)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is None:
        return None
    ident, st = hit
    if ident is not None and ident == _identity(entry):
        with _CACHE_LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
        return st
    forget_file(entry.file)
    return None


def remember(entry: Entry, st: Stats, as_dtype=None, bins: int = 64) -> None:
    """Keep an exact result (the oldest go past CACHE_ENTRIES)."""
    if not st.exact:
        return
    ident = _identity(entry)
    if ident is None:
        return
    with _CACHE_LOCK:
        _CACHE[_cache_key(entry, as_dtype, bins)] = (ident, st)
        while len(_CACHE) > CACHE_ENTRIES:
            _CACHE.popitem(last=False)


def forget_file(path: str) -> None:
    with _CACHE_LOCK:
        for key in [k for k in _CACHE if k[0].file == path]:
            del _CACHE[key]


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()
