"""The difference of one compared pair as a picture, and its worst elements.

``difference(a, b, pair, arch, height, width)`` streams both tensors of a
pair paired by ``name_map`` a bounded run of B's rows at a time (as
``verdict`` compares them: the converter's known transform applied to A,
fused parts each against their run of B's rows) and gives:

- a heatmap of |A-B| over B's matrix (``heatmap.Heatmap`` in ``absmax``
  mode: the largest difference per cell, so one bad element shows), drawn
  by the TUI with the same colours as a tensor's heatmap;
- the ``top`` elements where |A-B| is largest, largest first, each with its
  index in A and in B and both values (``verdict.Worst``).

A vector is drawn as one row of cells. Rows B holds and A does not (a
truncated side) are cells without a value. Never a whole tensor in memory:
``verdict.CHUNK_VALUES`` values per side per step; ``cancel`` is checked
between steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import stats as S
from .dtypes import DType
from .errors import Cancelled
from .heatmap import ABSMAX, Heatmap, Region, edges
from .locate import decode_dtypes, row_major
from .model import Archive, Entry
from .name_map import Architecture, NamePair
from .stats.decoding import DecodeError
from .verdict import CHUNK_VALUES, Worst, _known, _matrix, _raw, _values


@dataclass(frozen=True, slots=True, kw_only=True)
class PairDifference:
    heatmap: Heatmap  # max |A-B| per cell of B's matrix
    worst: tuple[Worst, ...]  # the largest |A-B| first (none when A and B are equal)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Segment:
    """A's tensor ``entry`` against B's rows ``[b_row0, b_row0 + rows)``."""

    entry: Entry
    dtype: DType
    rows: int
    b_row0: int
    src: np.ndarray | None
    group: int
    offset: float


def difference(
    a: Archive,
    b: Archive,
    pair: NamePair,
    arch: Architecture | None,
    height: int,
    width: int,
    *,
    top: int = 5,
    cancel=None,
    progress: Callable[[int, int], None] | None = None,
) -> PairDifference:
    """The |A-B| heatmap of ``pair`` in at most ``height x width`` cells
    and its ``top`` worst elements. ``progress(rows_done, rows_total)``.
    Raises ``DecodeError`` when a side cannot be decoded or the rows do not
    line up."""
    arch = arch or Architecture()
    if pair.b_parts:
        raise DecodeError(f"'{pair.a}': A holds B's {len(pair.b_parts)} parts fused: no map of its difference yet")
    eb = b.by_name[pair.b]
    db = eb.dtype
    parts = [a.by_name[n] for n in pair.parts] if pair.parts else [a.by_name[pair.a]]
    if not pair.parts:
        db = decode_dtypes(parts[0], eb)[1]
    if db is None or not S.can_decode(eb, db):
        raise DecodeError(f"'{pair.b}': B's dtype cannot be decoded")
    nb = S.element_count(eb, db)
    rows, cols = _matrix(tuple(eb.shape or (nb,)), nb)
    if not rows or not cols:
        raise DecodeError(f"'{pair.b}' has no values to draw")
    segments, notes = _segments(pair, parts, eb, rows, cols, arch)
    vector = cols == 1
    rows_e = edges(0, rows, width if vector else height)
    cols_e = edges(0, cols, 1 if vector else width)
    grid = np.full((len(rows_e) - 1, len(cols_e) - 1), -1.0)
    row_cells = np.searchsorted(rows_e, np.arange(rows), side="right") - 1
    starts = cols_e[:-1]
    best: list[tuple[float, int, int, float, float, int]] = []  # (|d|, flat_b, flat_a, a, b, segment)
    done = 0
    for k, seg in enumerate(segments):
        step = max(seg.group, (CHUNK_VALUES // cols) // seg.group * seg.group)
        for r0 in range(0, seg.rows, step):
            if cancel is not None and cancel.is_set():
                raise Cancelled("difference")
            r1 = min(seg.rows, r0 + step)
            e0, e1 = r0 * cols, r1 * cols
            f0, f1 = e0 + seg.b_row0 * cols, e1 + seg.b_row0 * cols
            y = _values(eb, db, _raw(eb, db, f0, f1), f0, f1)
            x = _values(seg.entry, seg.dtype, _raw(seg.entry, seg.dtype, e0, e1), e0, e1)
            local = None
            if seg.src is not None:
                local = seg.src[r0:r1]
                x = x.reshape(r1 - r0, cols)[local - r0].reshape(-1)
            if seg.offset:
                npd = seg.dtype.numpy_dtype() if seg.dtype.kind == "float" else None
                x = (x + seg.offset).astype(npd).astype(np.float64) if npd is not None else x + seg.offset
            ad = _abs_diff(x, y)
            block = ad.reshape(r1 - r0, cols)
            cells = row_cells[seg.b_row0 + r0 : seg.b_row0 + r1]
            cuts = np.concatenate([[0], np.flatnonzero(np.diff(cells)) + 1])
            part = np.maximum.reduceat(block, starts, axis=1)
            where = cells[cuts]
            grid[where] = np.maximum(grid[where], np.maximum.reduceat(part, cuts, axis=0))
            if top > 0:
                n = min(top, ad.size)
                for j in np.argpartition(ad, ad.size - n)[ad.size - n :]:
                    if ad[j] > 0:
                        r, c = divmod(int(j), cols)
                        ra = int(local[r]) if local is not None else r0 + r
                        best.append((float(ad[j]), f0 + int(j), ra * cols + c, float(x[j]), float(y[j]), k))
                best = sorted(best, key=lambda t: (-t[0], t[1]))[:top]
            done += r1 - r0
            if progress:
                progress(done, rows)
    values = np.where(grid >= 0, grid, np.nan)
    hm = Heatmap(pair.b, ABSMAX, (rows, cols), Region(0, rows, 0, cols), rows_e, cols_e, values)
    if vector:  # one row of cells
        hm = Heatmap(pair.b, ABSMAX, (1, rows), Region(0, 1, 0, rows), np.array([0, 1]), rows_e, values.T.copy())
    shapes = [seg.entry.shape for seg in segments]
    worst = tuple(
        Worst(
            flat_a=fa,
            flat_b=fb,
            index_a=row_major(fa, tuple(sk)) if (sk := shapes[k]) else None,
            index_b=row_major(fb, tuple(eb.shape)) if eb.shape else None,
            a=va,
            b=vb,
        )
        for _, fb, fa, va, vb, k in best
    )
    return PairDifference(heatmap=hm, worst=worst, notes=tuple(notes))


def _abs_diff(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|y - x|, 0 where both are NaN, inf where one side only is (as the
    verdict counts them)."""
    with np.errstate(all="ignore"):
        ad = np.abs(y - x)
        nan = np.isnan(ad)
        if nan.any():
            ad[nan] = np.where(np.isnan(x[nan]) & np.isnan(y[nan]), 0.0, np.inf)
    return ad


def _segments(
    pair: NamePair, parts: list[Entry], eb: Entry, rows: int, cols: int, arch: Architecture
) -> tuple[list[_Segment], list[str]]:
    notes: list[str] = []
    out: list[_Segment] = []
    row = 0
    for ea in parts:
        da = decode_dtypes(ea, eb)[0]
        if da is None or not S.can_decode(ea, da):
            raise DecodeError(f"'{ea.name}': A's dtype cannot be decoded")
        na = S.element_count(ea, da)
        shape_a = tuple(ea.shape or (na,))
        ra, ca = _matrix(shape_a, na)
        if not pair.parts and na == rows * cols:
            ra, ca = rows, cols  # the same count: compared row-major in B's layout (as the verdict does)
            if shape_a != tuple(eb.shape or (na,)):
                notes.append(f"shapes {list(shape_a)} and {list(eb.shape or ())} differ: compared row-major")
        if ca != cols:
            raise DecodeError(f"'{ea.name}' ({ra} x {ca}) and B's {rows} x {cols} rows do not line up")
        take = min(ra, rows - row)
        if take < ra or (not pair.parts and ra < rows):
            notes.append(f"{take:,} rows of A's {ra:,} against B's {rows:,}")
        side = NamePair(a=ea.name, b=pair.b, hf_side="a") if pair.parts else pair
        src, group, offset, applied = _known(side, arch, take, [])
        if applied is not None and take != ra:
            src, group, offset = None, 1, 0.0  # the transform is for the whole tensor
        out.append(_Segment(ea, da, take, row, src, group, offset))
        row += take
    return out, notes
