"""A tensor as a picture: a downsampled grid of mean or abs-max per cell.

The tensor is seen as a matrix (``stats.matrix_shape``: the last dimension
is the columns, the others are flattened into rows). A region of it is cut
into ``height x width`` cells of whole rows and columns (as even as integer
edges allow), and each cell gets the mean of its finite values or their
largest magnitude. Rows are streamed in bounded slices (whole blocks for
quantized types), so memory stays flat and a 262,144-row embedding takes
one pass; ``cancel`` is checked between slices.

``colors`` maps a grid to RGB with a colour scale (diverging around zero
for the mean, sequential for abs-max), shared by the TUI and ``write_png``,
which writes an 8-bit RGB PNG with the standard library alone (``zlib`` and
its ``crc32``).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import Cancelled
from .model import Entry, read_bytes
from .stats.decoding import CHUNK_VALUES, DecodeError, decoder, matrix_shape, need_dtype

MEAN = "mean"
ABSMAX = "absmax"
MODES = (MEAN, ABSMAX)
NO_VALUE = (0, 0, 0)  # a cell without a finite value: black, off both scales

# Colour scales as anchor colours, interpolated linearly in RGB.
DIVERGING = ((33, 102, 172), (103, 169, 207), (247, 247, 247), (239, 138, 98), (178, 24, 43))  # blue-white-red
SEQUENTIAL = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))  # viridis anchors


@dataclass(frozen=True)
class Region:
    """Rows ``[row0, row1)`` and columns ``[col0, col1)`` of the matrix."""

    row0: int
    row1: int
    col0: int
    col1: int

    @property
    def rows(self) -> int:
        return self.row1 - self.row0

    @property
    def cols(self) -> int:
        return self.col1 - self.col0


@dataclass(frozen=True)
class Heatmap:
    """``values[i, j]`` is the mean (or abs-max) of the matrix rows
    ``row_edges[i]:row_edges[i+1]`` and columns ``col_edges[j]:col_edges[j+1]``
    (NaN when the cell holds no finite value)."""

    name: str
    mode: str
    shape: tuple[int, int]  # the whole matrix
    region: Region
    row_edges: np.ndarray
    col_edges: np.ndarray
    values: np.ndarray

    @property
    def finite_range(self) -> tuple[float, float]:
        v = self.values[np.isfinite(self.values)]
        return (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)

    def scale(self) -> tuple[float, float]:
        """The colour scale's ends: symmetric around 0 for the mean (so 0
        is the middle colour), the smallest to the largest cell for abs-max."""
        lo, hi = self.finite_range
        if self.mode == MEAN:
            m = max(abs(lo), abs(hi)) or 1.0
            return -m, m
        return (lo, hi) if hi > lo else (lo, lo + 1.0)

    def cell_of(self, row: int, col: int) -> tuple[int, int]:
        """The cell holding matrix element (row, col)."""
        i = int(np.searchsorted(self.row_edges, row, side="right")) - 1
        j = int(np.searchsorted(self.col_edges, col, side="right")) - 1
        return i, j

    def subregion(self, i0: int, i1: int, j0: int, j1: int) -> Region:
        """The matrix region covered by cells ``[i0, i1) x [j0, j1)`` (to zoom)."""
        n, m = self.values.shape
        i0, i1 = max(0, min(i0, n - 1)), max(1, min(i1, n))
        j0, j1 = max(0, min(j0, m - 1)), max(1, min(j1, m))
        return Region(
            int(self.row_edges[i0]), int(self.row_edges[max(i1, i0 + 1)]),
            int(self.col_edges[j0]), int(self.col_edges[max(j1, j0 + 1)]),
        )  # fmt: skip


def edges(start: int, stop: int, cells: int) -> np.ndarray:
    """``cells + 1`` integer edges cutting [start, stop) as evenly as
    possible (at most ``stop - start`` cells: one row or column at least)."""
    cells = max(1, min(cells, stop - start))
    return np.round(np.linspace(start, stop, cells + 1)).astype(np.int64)


def compute(
    entry: Entry,
    height: int,
    width: int,
    *,
    mode: str = MEAN,
    region: Region | None = None,
    as_dtype=None,
    progress: Callable[[int, int], None] | None = None,
    cancel=None,
) -> Heatmap:
    """The heatmap of ``region`` (default: the whole matrix) in at most
    ``height x width`` cells. ``progress(rows_done, rows_total)``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    d = need_dtype(entry, as_dtype)
    R, C = matrix_shape(entry, d)
    if entry.shape is not None and len(entry.shape) < 2:
        raise DecodeError(f"'{entry.name}' has {len(entry.shape)} dimension(s): a heatmap needs 2 or more")
    if not R or not C:
        raise DecodeError(f"'{entry.name}' has no values to draw")
    region = region or Region(0, R, 0, C)
    if not (0 <= region.row0 < region.row1 <= R and 0 <= region.col0 < region.col1 <= C):
        raise ValueError(f"region {region} is outside the {R}x{C} matrix")
    rows_e = edges(region.row0, region.row1, height)
    cols_e = edges(region.col0, region.col1, width)
    H, W = len(rows_e) - 1, len(cols_e) - 1
    acc = np.zeros((H, W), np.float64) if mode == MEAN else np.full((H, W), -1.0)
    counts = np.zeros((H, W), np.int64)
    dec = decoder(entry, d, values=(region.row1 - region.row0) * C)
    if C % d.block_size:
        raise DecodeError(f"'{entry.name}': rows of {C} values are not whole {d.name} blocks")
    row_bytes = C // d.block_size * d.type_size
    row_cells = np.searchsorted(rows_e, np.arange(region.row0, region.row1), side="right") - 1
    starts = cols_e[:-1] - region.col0
    step = max(1, CHUNK_VALUES // C)
    for r in range(region.row0, region.row1, step):
        if cancel is not None and cancel.is_set():
            raise Cancelled("heatmap")
        k = min(step, region.row1 - r)
        vals = dec(read_bytes(entry, r * row_bytes, k * row_bytes)).reshape(k, C)
        block = vals[:, region.col0 : region.col1].astype(np.float64)
        finite = np.isfinite(block)
        # Rows of this slice by cell (they are sorted): one reduceat per axis.
        cells = row_cells[r - region.row0 : r - region.row0 + k]
        cuts = np.concatenate([[0], np.flatnonzero(np.diff(cells)) + 1])
        where = cells[cuts]
        n = np.add.reduceat(np.add.reduceat(finite, starts, axis=1, dtype=np.int64), cuts, axis=0)
        counts[where] += n
        if mode == MEAN:
            part = np.add.reduceat(np.where(finite, block, 0.0), starts, axis=1)
            acc[where] += np.add.reduceat(part, cuts, axis=0)
        else:
            part = np.maximum.reduceat(np.where(finite, np.abs(block), -1.0), starts, axis=1)
            acc[where] = np.maximum(acc[where], np.maximum.reduceat(part, cuts, axis=0))
        if progress:
            progress(r + k - region.row0, region.rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = acc / counts if mode == MEAN else acc
    values = np.where(counts > 0, values, np.nan)
    return Heatmap(entry.name, mode, (R, C), region, rows_e, cols_e, values)


# ---------------------------------------------------------------------------
# Colours and PNG


def _ramp(anchors: tuple[tuple[int, int, int], ...], t: np.ndarray) -> np.ndarray:
    a = np.asarray(anchors, np.float64)
    pos = np.clip(t, 0.0, 1.0) * (len(a) - 1)
    i = np.minimum(pos.astype(np.int64), len(a) - 2)
    f = (pos - i)[..., None]
    return np.round(a[i] * (1 - f) + a[i + 1] * f).astype(np.uint8)


def colors(values: np.ndarray, mode: str, scale: tuple[float, float]) -> np.ndarray:
    """RGB (uint8, shape + (3,)) of each value on the mode's colour scale
    between ``scale``; non-finite cells get ``NO_VALUE``."""
    lo, hi = scale
    with np.errstate(invalid="ignore"):
        t = (np.asarray(values, np.float64) - lo) / ((hi - lo) or 1.0)
    rgb = _ramp(DIVERGING if mode == MEAN else SEQUENTIAL, np.nan_to_num(t))
    rgb[~np.isfinite(values)] = NO_VALUE
    return rgb


def png_bytes(rgb: np.ndarray, scale: int = 1) -> bytes:
    """An 8-bit RGB PNG of an (H, W, 3) uint8 image, each pixel repeated
    ``scale`` times both ways."""
    img = np.ascontiguousarray(rgb, np.uint8)
    if scale > 1:
        img = img.repeat(scale, axis=0).repeat(scale, axis=1)
    h, w, _ = img.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), img.reshape(h, w * 3)], axis=1)  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit, truecolour, deflate, no filter, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )
