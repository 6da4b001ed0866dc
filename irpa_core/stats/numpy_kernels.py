"""Dequantization of the GGUF block types real models use, with numpy: for
work too small to pay for loading the compiled kernels (``native``, ~35 ms).

Each kernel turns whole blocks (1-D ``uint8``) into their float32 values,
bit for bit what ``gguf.quants.dequantize`` gives (tests check it on random
and adversarial blocks, as they check the compiled kernels): the same
float32 operations in the same order, only without its row grouping,
``hsplit`` copies and float32 copies of the small integers, 2-4x its speed
(the compiled kernels: 2-3x more). Block layouts are ggml's
(``ggml-common.h``). Types without a kernel here go through ``gguf.quants``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

QK_K = 256
# IQ4_NL/IQ4_XS's non-linear 4-bit levels (ggml's kvalues_iq4nl).
_IQ4_LEVELS = np.array((-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113), np.float32)


def _f16(b: np.ndarray) -> np.ndarray:
    """Two-byte columns (n, 2) of an f16 each -> (n, 1) float32."""
    return np.ascontiguousarray(b).view(np.float16).astype(np.float32)


def _nibbles(qs: np.ndarray, groups: int) -> np.ndarray:
    """Bytes (n, groups * k) -> (n, groups, 2, k) uint8: each group's low
    nibbles, then its high nibbles (ggml's order for 4-bit quants)."""
    n = qs.shape[0]
    q = qs.reshape(n, groups, 1, -1)
    out = np.empty((n, groups, 2, q.shape[-1]), np.uint8)
    np.bitwise_and(q[:, :, 0], 0x0F, out=out[:, :, 0])
    np.right_shift(q[:, :, 0], 4, out=out[:, :, 1])
    return out


def _bits(qh: np.ndarray) -> np.ndarray:
    """Bytes (n, k) -> (n, 8 * k) uint8 bits, least significant first
    (bit j of a little-endian word is value j)."""
    return np.unpackbits(qh, axis=-1, bitorder="little")


def q8_0(raw: np.ndarray) -> np.ndarray:
    b = raw.reshape(-1, 34)
    d = _f16(b[:, :2])
    return np.multiply(d, b[:, 2:].view(np.int8), dtype=np.float32).reshape(-1)


def q4_0(raw: np.ndarray) -> np.ndarray:
    b = raw.reshape(-1, 18)
    d = _f16(b[:, :2])
    q = _nibbles(b[:, 2:], 1).reshape(len(b), 32).view(np.int8)
    q -= 8
    return np.multiply(d, q, dtype=np.float32).reshape(-1)


def q4_1(raw: np.ndarray) -> np.ndarray:
    b = raw.reshape(-1, 20)
    d, m = _f16(b[:, :2]), _f16(b[:, 2:4])
    out = np.multiply(d, _nibbles(b[:, 4:], 1).reshape(len(b), 32), dtype=np.float32)
    out += m
    return out.reshape(-1)


def _q5(b: np.ndarray) -> np.ndarray:
    """The 5-bit values (n, 32) of Q5_0/Q5_1 blocks from qh (4 bytes) and qs (16)."""
    q = _nibbles(b[:, 4:], 1).reshape(len(b), 32)
    hi = _bits(b[:, :4])
    hi <<= 4
    q |= hi
    return q


def q5_0(raw: np.ndarray) -> np.ndarray:
    b = raw.reshape(-1, 22)
    d = _f16(b[:, :2])
    q = _q5(b[:, 2:]).view(np.int8)
    q -= 16
    return np.multiply(d, q, dtype=np.float32).reshape(-1)


def q5_1(raw: np.ndarray) -> np.ndarray:
    b = raw.reshape(-1, 24)
    d, m = _f16(b[:, :2]), _f16(b[:, 2:4])
    out = np.multiply(d, _q5(b[:, 4:]), dtype=np.float32)
    out += m
    return out.reshape(-1)


def _k_scales(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_K/Q5_K's 12 bytes of 6-bit scales and mins -> two (n, 8) uint8.

    The bytes are three little-endian words (d, m, md: four bytes each), so
    each step works on four scales at once with byte-wide masks: scales
    0-3 are ``d & 0x3F``, scales 4-7 ``(md & 0x0F) | ((d >> 2) & 0x30)``
    per byte, and the mins the same from ``m`` and ``md >> 4``."""
    w = np.ascontiguousarray(s).view("<u4")  # (n, 3)
    d, m, md = w[:, 0], w[:, 1], w[:, 2]
    out = np.empty((len(w), 4), "<u4")
    np.bitwise_and(d, 0x3F3F3F3F, out=out[:, 0])
    out[:, 1] = (md & 0x0F0F0F0F) | ((d >> 2) & 0x30303030)
    np.bitwise_and(m, 0x3F3F3F3F, out=out[:, 2])
    out[:, 3] = ((md >> 4) & 0x0F0F0F0F) | ((m >> 2) & 0x30303030)
    both = out.view(np.uint8).reshape(-1, 2, 8)
    return both[:, 0], both[:, 1]


def _k_apply(b: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(d * scale) * q - (dmin * min) per 32-value sub-block, in float32."""
    n = len(b)
    d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    sc, mn = _k_scales(b[:, 4:16])
    ds = np.multiply(d, sc, dtype=np.float32).reshape(n, 8, 1)
    dm = np.multiply(dmin, mn, dtype=np.float32).reshape(n, 8, 1)
    out = np.multiply(ds, q.reshape(n, 8, 32), dtype=np.float32)
    out -= dm
    return out.reshape(-1)


def q4_k(raw: np.ndarray) -> np.ndarray:
    b = raw.reshape(-1, 144)
    return _k_apply(b, _nibbles(b[:, 16:], 4))


def q5_k(raw: np.ndarray) -> np.ndarray:
    b = raw.reshape(-1, 176)
    n = len(b)
    q = _nibbles(b[:, 48:], 4).reshape(n, 8, 32)
    # Bit s of qh byte i is the fifth bit of value i of sub-block s.
    hi = np.unpackbits(b[:, 16:48].reshape(n, 32, 1), axis=-1, bitorder="little")  # (n, 32 values, 8 sub-blocks)
    q |= hi.transpose(0, 2, 1) << 4
    return _k_apply(b, q)


def q6_k(raw: np.ndarray) -> np.ndarray:
    b = raw.reshape(-1, 210)
    n = len(b)
    # Each half of 128 values: 64 bytes of low nibbles (values 0-63, then
    # 64-127), 32 bytes of 2-bit high parts (four shifts of 32 values).
    q = _nibbles(b[:, :128], 2).reshape(n, 2, 4, 32)
    qh = b[:, 128:192].reshape(n, 2, 1, 32)
    hi = np.empty((n, 2, 4, 32), np.uint8)
    for t in range(4):
        np.right_shift(qh[:, :, 0], 2 * t, out=hi[:, :, t])
    hi &= 0x03
    hi <<= 4
    q |= hi
    qi = q.view(np.int8)
    qi -= 32
    scales = b[:, 192:208].view(np.int8)
    ds = np.multiply(_f16(b[:, 208:210]), scales, dtype=np.float32).reshape(n, 16, 1)
    return np.multiply(ds, qi.reshape(n, 16, 16), dtype=np.float32).reshape(-1)


def iq4_xs(raw: np.ndarray) -> np.ndarray:
    b = raw.reshape(-1, 136)
    n = len(b)
    d = _f16(b[:, :2])
    # 6-bit scales: low 4 bits in scales_l (two per byte), high 2 bits in
    # the little-endian uint16 scales_h (two per sub-block).
    lo = _nibbles(b[:, 4:8].reshape(n, 4, 1), 4).reshape(n, 8)
    h16 = np.ascontiguousarray(b[:, 2:4]).view(np.uint16)  # (n, 1)
    hi = ((h16 >> (2 * np.arange(8, dtype=np.uint16))) & 0x03).astype(np.uint8)
    sc = (lo | (hi << 4)).view(np.int8) - np.int8(32)
    dl = np.multiply(d, sc, dtype=np.float32).reshape(n, 8, 1)
    q = _nibbles(b[:, 8:], 8).reshape(n, 8, 32)
    return np.multiply(dl, _IQ4_LEVELS[q], dtype=np.float32).reshape(-1)


# By our dtype name.
KERNELS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Q8_0": q8_0,
    "Q4_0": q4_0,
    "Q4_1": q4_1,
    "Q5_0": q5_0,
    "Q5_1": q5_1,
    "Q4_K": q4_k,
    "Q5_K": q5_k,
    "Q6_K": q6_k,
    "IQ4_XS": iq4_xs,
}
