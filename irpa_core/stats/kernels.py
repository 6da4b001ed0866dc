"""Compiled dequantization of the GGUF block types real models use, and the
statistics pass over decoded values: the numba source of ``native``'s
machine code.

Each kernel turns whole blocks (1-D ``uint8``) into their float32 values,
bit for bit what ``gguf.quants.dequantize`` gives (tests check it on random
and adversarial blocks): the same float32 operations in the same order (a
product, then a sum, each rounded; numba does not contract them into one
fused multiply-add without ``fastmath``). Block layouts are ggml's
(``ggml-common.h``). Types without a kernel here go through ``gguf.quants``.

``tally`` is the order-free part of the statistics of a piece of values, in
one pass while it is in cache: fine-bucket counts, zeros, bounds, and the
values copied into the chunk's float64 buffer, where numpy then takes the
sum and the centred sum of squares as before (their last bits depend on
the order of the additions, which stays numpy's and OpenBLAS's).

This module is imported only to make that machine code (``native._make``:
once per machine and version of this file, ~6 s); every process then loads
it without numba. Nothing here raises or allocates, which is what lets it
run without numba's runtime: a kernel's scratch is its caller's.
"""

from __future__ import annotations

import numpy as np
from numba import carray, cfunc, njit, types

from ..dtypes import by_name
from .accumulate import FINE_BITS

# IQ4_NL/IQ4_XS's non-linear 4-bit levels (ggml's kvalues_iq4nl).
_IQ4_LEVELS = np.array((-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113), np.float32)

_jit = njit(nogil=True)  # compiled into the entry points
f32 = np.float32


# Kernels: (blocks, the f16 table, values out, 32 float32 of scratch for
# a block's scales: an array made here would need numba's allocator, which
# the machine code loaded without numba does not have).
_block_kernel = _jit


@_jit
def _h(raw, o, f16):
    """The f16 at byte ``o``, as float32."""
    return f16[np.uint32(raw[o]) | (np.uint32(raw[o + 1]) << 8)]


@_block_kernel
def _q8_0(raw, f16, out, tmp):
    for b in range(raw.size // 34):
        o, v = b * 34, b * 32
        d = _h(raw, o, f16)
        for i in range(32):
            out[v + i] = d * f32(np.int8(raw[o + 2 + i]))


@_block_kernel
def _q4_0(raw, f16, out, tmp):
    for b in range(raw.size // 18):
        o, v = b * 18, b * 32
        d = _h(raw, o, f16)
        for i in range(16):
            q = np.int32(raw[o + 2 + i])
            out[v + i] = d * f32((q & 0xF) - 8)
            out[v + 16 + i] = d * f32((q >> 4) - 8)


@_block_kernel
def _q4_1(raw, f16, out, tmp):
    for b in range(raw.size // 20):
        o, v = b * 20, b * 32
        d, m = _h(raw, o, f16), _h(raw, o + 2, f16)
        for i in range(16):
            q = raw[o + 4 + i]
            out[v + i] = d * f32(q & 0xF) + m
            out[v + 16 + i] = d * f32(q >> 4) + m


@_jit
def _q5(raw, o, i, qh):
    """Q5_0/Q5_1: values i and i + 16 (5 bits each) from qs at ``o``."""
    q = np.int32(raw[o + i])
    lo = (q & 0xF) | (((qh >> i) & 1) << 4)
    hi = (q >> 4) | (((qh >> (i + 16)) & 1) << 4)
    return lo, hi


@_jit
def _qh(raw, o):
    return np.int32(raw[o]) | (np.int32(raw[o + 1]) << 8) | (np.int32(raw[o + 2]) << 16) | (np.int32(raw[o + 3]) << 24)


@_block_kernel
def _q5_0(raw, f16, out, tmp):
    for b in range(raw.size // 22):
        o, v = b * 22, b * 32
        d = _h(raw, o, f16)
        qh = _qh(raw, o + 2)
        for i in range(16):
            lo, hi = _q5(raw, o + 6, i, qh)
            out[v + i] = d * f32(lo - 16)
            out[v + 16 + i] = d * f32(hi - 16)


@_block_kernel
def _q5_1(raw, f16, out, tmp):
    for b in range(raw.size // 24):
        o, v = b * 24, b * 32
        d, m = _h(raw, o, f16), _h(raw, o + 2, f16)
        qh = _qh(raw, o + 4)
        for i in range(16):
            lo, hi = _q5(raw, o + 8, i, qh)
            out[v + i] = d * f32(lo) + m
            out[v + 16 + i] = d * f32(hi) + m


@_block_kernel
def _q2_k(raw, f16, out, tmp):
    ds, dm = tmp[:16], tmp[16:]
    for b in range(raw.size // 84):
        o, v = b * 84, b * 256
        d, dmin = _h(raw, o + 80, f16), _h(raw, o + 82, f16)
        for j in range(16):  # a scale and a min of 4 bits each per 16 values
            ds[j] = d * f32(raw[o + j] & 0xF)
            dm[j] = dmin * f32(raw[o + j] >> 4)
        for half in range(2):  # 32 bytes of 2-bit values: four shifts of 32 values
            for t in range(4):
                v0 = v + 128 * half + 32 * t
                for i in range(32):
                    j = (128 * half + 32 * t + i) // 16
                    out[v0 + i] = ds[j] * f32((raw[o + 16 + 32 * half + i] >> (2 * t)) & 3) - dm[j]


@_block_kernel
def _q3_k(raw, f16, out, tmp):
    ds = tmp[:16]
    for b in range(raw.size // 110):
        o, v = b * 110, b * 256
        d = _h(raw, o + 108, f16)
        s = o + 96
        for j in range(16):  # 6-bit signed scales: 4 low bits in bytes 0-7, 2 high in 8-11
            lo = (np.int32(raw[s + j % 8]) >> (4 * (j // 8))) & 0xF
            hi = (np.int32(raw[s + 8 + j % 4]) >> (2 * (j // 4))) & 3
            ds[j] = d * f32((lo | (hi << 4)) - 32)
        for half in range(2):  # 2 low bits from qs (four shifts), the third from hmask (set: no -4)
            for t in range(4):
                k = 128 * half + 32 * t
                for i in range(32):
                    q = (np.int32(raw[o + 32 + 32 * half + i]) >> (2 * t)) & 3
                    h = (np.int32(raw[o + i]) >> (k // 32)) & 1
                    out[v + k + i] = ds[(k + i) // 16] * f32(q - ((h ^ 1) << 2))


@_jit
def _k_scales(raw, o, f16, ds, dm):
    """Q4_K/Q5_K: d * scale and dmin * min of the 8 sub-blocks (6-bit
    scales and mins packed in 12 bytes at ``o + 4``)."""
    d, dmin = _h(raw, o, f16), _h(raw, o + 2, f16)
    s = o + 4
    for j in range(4):
        ds[j] = d * f32(raw[s + j] & 63)
        dm[j] = dmin * f32(raw[s + 4 + j] & 63)
    for j in range(4, 8):
        ds[j] = d * f32((raw[s + 4 + j] & 0xF) | ((raw[s + j - 4] >> 6) << 4))
        dm[j] = dmin * f32((raw[s + 4 + j] >> 4) | ((raw[s + j] >> 6) << 4))


@_block_kernel
def _q4_k(raw, f16, out, tmp):
    ds, dm = tmp[:8], tmp[8:16]
    for b in range(raw.size // 144):
        o, v = b * 144, b * 256
        _k_scales(raw, o, f16, ds, dm)
        for g in range(4):  # 32 bytes: sub-block 2g's low nibbles, 2g+1's high ones
            q0, v0 = o + 16 + 32 * g, v + 64 * g
            a, ma, c, mc = ds[2 * g], dm[2 * g], ds[2 * g + 1], dm[2 * g + 1]
            for i in range(32):
                q = raw[q0 + i]
                out[v0 + i] = a * f32(q & 0xF) - ma
                out[v0 + 32 + i] = c * f32(q >> 4) - mc


@_block_kernel
def _q5_k(raw, f16, out, tmp):
    ds, dm = tmp[:8], tmp[8:16]
    for b in range(raw.size // 176):
        o, v = b * 176, b * 256
        _k_scales(raw, o, f16, ds, dm)
        for g in range(4):  # as Q4_K; bit s of qh byte i is the fifth bit of value i of sub-block s
            q0, v0 = o + 48 + 32 * g, v + 64 * g
            a, ma, c, mc = ds[2 * g], dm[2 * g], ds[2 * g + 1], dm[2 * g + 1]
            for i in range(32):
                q, h = raw[q0 + i], raw[o + 16 + i]
                out[v0 + i] = a * f32((q & 0xF) | (((h >> (2 * g)) & 1) << 4)) - ma
                out[v0 + 32 + i] = c * f32((q >> 4) | (((h >> (2 * g + 1)) & 1) << 4)) - mc


@_block_kernel
def _q6_k(raw, f16, out, tmp):
    ds = tmp[:16]
    for b in range(raw.size // 210):
        o, v = b * 210, b * 256
        d = _h(raw, o + 208, f16)
        for j in range(16):
            ds[j] = d * f32(np.int8(raw[o + 192 + j]))
        for half in range(2):  # 64 bytes of low nibbles, 32 of 2-bit high parts
            ql, qh, v0 = o + 64 * half, o + 128 + 32 * half, v + 128 * half
            for i in range(32):
                lo0, lo1, h = np.int32(raw[ql + i]), np.int32(raw[ql + 32 + i]), np.int32(raw[qh + i])
                s = 8 * half + i // 16
                out[v0 + i] = ds[s] * f32(((lo0 & 0xF) | ((h & 3) << 4)) - 32)
                out[v0 + 32 + i] = ds[s + 2] * f32(((lo1 & 0xF) | (((h >> 2) & 3) << 4)) - 32)
                out[v0 + 64 + i] = ds[s + 4] * f32(((lo0 >> 4) | (((h >> 4) & 3) << 4)) - 32)
                out[v0 + 96 + i] = ds[s + 6] * f32(((lo1 >> 4) | (((h >> 6) & 3) << 4)) - 32)


@_block_kernel
def _iq4_xs(raw, f16, out, tmp):
    for b in range(raw.size // 136):
        o, v = b * 136, b * 256
        d = _h(raw, o, f16)
        sh = np.int32(raw[o + 2]) | (np.int32(raw[o + 3]) << 8)
        for j in range(8):  # 6-bit scales: 4 low bits in scales_l, 2 high in scales_h
            ls = ((np.int32(raw[o + 4 + j // 2]) >> (4 * (j % 2))) & 0xF) | (((sh >> (2 * j)) & 3) << 4)
            dl = d * f32(ls - 32)
            q0, v0 = o + 8 + 16 * j, v + 32 * j
            for i in range(16):
                q = raw[q0 + i]
                out[v0 + i] = dl * _IQ4_LEVELS[q & 0xF]
                out[v0 + 16 + i] = dl * _IQ4_LEVELS[q >> 4]


@_jit
def tally(x, keys, out, fine, st):
    """Count ``x`` into ``fine`` by ``keys`` (each value's bucket), copy it
    into ``out`` (its place in the chunk's copy: a slice, as an offset
    index would make every store check for a negative index, 1.4x the
    time), and update ``st``: [zeros, min, max]. The bounds skip NaN: a
    chunk with NaN or Inf has its bounds taken again from its finite values
    (``accumulate._Acc._add_moments``)."""
    zeros = 0
    lo, hi = st[1], st[2]
    for i in range(x.size):
        v = x[i]
        fine[keys[i]] += 1
        zeros += v == 0
        lo = min(lo, v)
        hi = max(hi, v)
        out[i] = v
    st[0] += zeros
    st[1], st[2] = lo, hi


# The entry points: C functions over raw addresses (``native`` calls them
# through ctypes, which lets go of the GIL). Arrays over those addresses
# (``carray``) are views: nothing here allocates.

# The block types decoded here, by our dtype name; ``decode`` takes their ggml ids.
TYPES = ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_XS")
_IDS = [by_name(n).ggml for n in TYPES]  # type: ignore[union-attr]
_Q8_0, _Q4_0, _Q4_1, _Q5_0, _Q5_1, _Q2_K, _Q3_K, _Q4_K, _Q5_K, _Q6_K, _IQ4_XS = _IDS
_ptr, _n = types.voidptr, types.intp


@cfunc(types.void(types.int32, _ptr, _n, _ptr, _n, _ptr, _ptr), nogil=True)
def decode(ggml, raw_p, nbytes, out_p, nvalues, f16_p, tmp_p):
    """``nbytes`` of whole blocks of the type with ggml id ``ggml`` at
    ``raw_p`` -> their ``nvalues`` float32 values at ``out_p``; ``f16_p``:
    the 65,536 float32 of every f16, ``tmp_p``: 32 float32 of scratch."""
    raw, out = carray(raw_p, nbytes, np.uint8), carray(out_p, nvalues, np.float32)
    f16, tmp = carray(f16_p, 1 << 16, np.float32), carray(tmp_p, 32, np.float32)
    if ggml == _Q8_0:
        _q8_0(raw, f16, out, tmp)
    elif ggml == _Q4_0:
        _q4_0(raw, f16, out, tmp)
    elif ggml == _Q4_1:
        _q4_1(raw, f16, out, tmp)
    elif ggml == _Q5_0:
        _q5_0(raw, f16, out, tmp)
    elif ggml == _Q5_1:
        _q5_1(raw, f16, out, tmp)
    elif ggml == _Q2_K:
        _q2_k(raw, f16, out, tmp)
    elif ggml == _Q3_K:
        _q3_k(raw, f16, out, tmp)
    elif ggml == _Q4_K:
        _q4_k(raw, f16, out, tmp)
    elif ggml == _Q5_K:
        _q5_k(raw, f16, out, tmp)
    elif ggml == _Q6_K:
        _q6_k(raw, f16, out, tmp)
    elif ggml == _IQ4_XS:
        _iq4_xs(raw, f16, out, tmp)


@cfunc(types.void(_ptr, types.int32, _n, _ptr, _n, _ptr, _ptr, _ptr), nogil=True)
def count(x_p, wide, n, keys_p, step, out_p, fine_p, st_p):
    """``tally`` of the ``n`` values at ``x_p`` (float64 when ``wide`` is
    not 0, else float32), their buckets every ``step``-th uint16 from
    ``keys_p``, the chunk's float64 copy at ``out_p``, the 65,536 int64
    bucket counts at ``fine_p``, [zeros, min, max] at ``st_p``."""
    keys = carray(keys_p, (n, step), np.uint16)[:, 0]
    out, fine, st = carray(out_p, n, np.float64), carray(fine_p, 1 << FINE_BITS, np.int64), carray(st_p, 3, np.float64)
    if wide:
        tally(carray(x_p, n, np.float64), keys, out, fine, st)
    else:
        tally(carray(x_p, n, np.float32), keys, out, fine, st)
