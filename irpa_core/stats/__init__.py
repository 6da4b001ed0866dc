"""Statistics of tensors: decoding entries to numbers, streaming passes, value previews.

``decoding``: value dtypes, decoders, values in bounded chunks, previews;
``kernels``: compiled (numba) dequantizing of the block types real models
use, and the order-free pass over decoded values; ``native``: their machine
code, made once and loaded without numba; ``numpy_kernels``: the same
dequantizing with numpy, for work too small to load them.
``accumulate``: the streaming accumulator (exact counts for integers, fine
buckets for floats) and how exact its percentiles are; ``blas``: its one
BLAS call, the same in every thread. ``api``: splats from their pattern,
quick samples, exact passes over one entry or many; ``tasks``: what a
thread of those passes does.
``result``: ``Stats``. Memory stays flat whatever the tensor size. The engine
keeps no results between calls: a cache is the caller's (``stats_many``'s
``cached`` and ``on_result``).
"""

from .accumulate import FINE_BITS, INT_SPAN, PERCENTILE_ERROR, PERCENTILES
from .api import SAMPLE_SPOTS, SAMPLE_VALUES, Cached, OnResult, compute_stats, sample_stats, splat_stats, stats_many
from .decoding import (
    CHUNK_VALUES,
    DecodeError,
    can_decode,
    can_decode_dtype,
    chunk_bytes,
    decode,
    element_count,
    first_values,
    iter_values,
    matrix_shape,
    preview,
    value_dtype,
)
from .result import Stats

__all__ = [
    "CHUNK_VALUES",
    "FINE_BITS",
    "INT_SPAN",
    "PERCENTILES",
    "PERCENTILE_ERROR",
    "SAMPLE_SPOTS",
    "SAMPLE_VALUES",
    "Cached",
    "DecodeError",
    "OnResult",
    "Stats",
    "can_decode",
    "can_decode_dtype",
    "chunk_bytes",
    "compute_stats",
    "decode",
    "element_count",
    "first_values",
    "iter_values",
    "matrix_shape",
    "preview",
    "sample_stats",
    "splat_stats",
    "stats_many",
    "value_dtype",
]
