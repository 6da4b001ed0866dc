"""Noise envelopes: how far a quantized (or rounded) copy may lie from its
reference, per storage type, computed from the reference's own values.

Derivation. A type that stores a block of values as ``scale * q`` with
integer levels ``q`` rounds each value to a grid of step ``h`` (the block's
scale); rounding to nearest leaves an error within ``[-h/2, h/2]``, close
to uniform for weights, so its mean square is ``h**2 / 12`` (Widrow's
quantization noise model). ``h`` follows from the block's values the way
ggml's reference quantizers choose the scale (``ggml-quants.c``,
``quantize_row_*_ref``): symmetric types divide the largest magnitude by
the number of steps on one side; types with a minimum divide the range.
Float casts round to the target's spacing (``ulp``) instead, element by
element. The envelope of a pair is the expected squared error summed over
the tensor for the type of each side (a reference that is itself a
quantization contributes its own noise), computed while streaming, block
by block, on the reference's values in the other side's layout.

A pair is within noise when ``mse <= MSE_FACTOR * expected`` and no element
differs by more than ``ELEMENT_FACTOR * h`` (a single corrupted element
hides in a mean). The factors are safety margins over what real weights
give. Measured on ``gemma.gguf`` (token_embd Q8_0, attn_k Q5_0,
attn_output Q4_K, ffn_down Q6_K; 1M values each, dequantized, quantized
again with ``gguf.quants`` to Q8_0/Q5_0/Q5_1/Q4_0/Q4_1): mse/expected
0.30 to 1.47 (1.47: Q5_0 values re-gridded to Q4_0, whose errors are not
uniform), the largest element error 1.01 h (Q4_0/Q5_0 clamp their
top level: one full step on that side). For the K-quants, which
``gguf.quants`` cannot quantize, the step estimated here from the
dequantized values equals the grid step stored in the file (median ratio
1.000, 5th percentile 0.93, Q4_K and Q6_K of the same file); on minilm
(f32 -> f16 and Q8_0) the predicted rmse is within 2% of the measured one.

=========  =====  ================  =====================================
type       block  step ``h``        source
=========  =====  ================  =====================================
f32/f64    1      0                 exact
f16        1      ulp (2**-10 rel)  IEEE binary16, round to nearest
bf16       1      ulp (2**-7 rel)   bfloat16, round to nearest
Q8_0       32     amax / 127        quantize_row_q8_0_ref: d = amax/127
Q4_0       32     amax / 8          quantize_row_q4_0_ref: d = max/-8
Q5_0       32     amax / 16         quantize_row_q5_0_ref: d = max/-16
Q4_1       32     (max-min) / 15    quantize_row_q4_1_ref
Q5_1       32     (max-min) / 31    quantize_row_q5_1_ref
Q2_K       16     (max-min) / 3     quantize_row_q2_K_ref, 16-value groups
Q3_K       16     amax / 4          quantize_row_q3_K_ref, 16-value groups
Q4_K       32     (max-min) / 15    quantize_row_q4_K_ref, 32-value groups
Q5_K       32     (max-min) / 31    quantize_row_q5_K_ref, 32-value groups
Q6_K       16     amax / 32         quantize_row_q6_K_ref, 16-value groups
IQ4_NL/XS  32     amax / 8          non-linear 4-bit grid, mean spacing
=========  =====  ================  =====================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MSE_FACTOR = 2.25  # (1.5x the expected rmse)^2
ELEMENT_FACTOR = 2.0  # an element may be off by two steps of its block


@dataclass(frozen=True, slots=True)
class Rule:
    group: int  # values sharing one step
    levels: float  # steps across amax (symmetric) or the range (with a minimum)
    symmetric: bool
    source: str


# One table: the type's grid, and where it comes from (ggml-quants.c).
RULES: dict[str, Rule] = {
    "Q8_0": Rule(32, 127, True, "quantize_row_q8_0_ref: d = amax/127"),
    "Q4_0": Rule(32, 8, True, "quantize_row_q4_0_ref: d = max/-8"),
    "Q5_0": Rule(32, 16, True, "quantize_row_q5_0_ref: d = max/-16"),
    "Q4_1": Rule(32, 15, False, "quantize_row_q4_1_ref: d = (max-min)/15"),
    "Q5_1": Rule(32, 31, False, "quantize_row_q5_1_ref: d = (max-min)/31"),
    "Q2_K": Rule(16, 3, False, "quantize_row_q2_K_ref: 2-bit levels per 16 values, scale and min"),
    "Q3_K": Rule(16, 4, True, "quantize_row_q3_K_ref: 3-bit signed levels per 16 values"),
    "Q4_K": Rule(32, 15, False, "quantize_row_q4_K_ref: 4-bit levels per 32 values, scale and min"),
    "Q5_K": Rule(32, 31, False, "quantize_row_q5_K_ref: 5-bit levels per 32 values, scale and min"),
    "Q6_K": Rule(16, 32, True, "quantize_row_q6_K_ref: 6-bit signed levels per 16 values"),
    "IQ4_NL": Rule(32, 8, True, "kvalues_iq4nl: 16 non-linear levels over amax, mean spacing amax/8"),
    "IQ4_XS": Rule(32, 8, True, "kvalues_iq4nl: 16 non-linear levels over amax, mean spacing amax/8"),
}
# Float casts: bits of mantissa (ulp = 2**(exponent - bits)).
FLOAT_BITS = {"f16": 10, "bf16": 7, "f8_e4m3fn": 3, "f8_e5m2": 2}
# The spacing of the subnormals: no ulp is finer.
FLOAT_MIN_ULP = {"f16": 2.0**-24, "bf16": 2.0**-133, "f8_e4m3fn": 2.0**-9, "f8_e5m2": 2.0**-16}
EXACT = ("f32", "f64")


def known(dtype: str | None) -> bool:
    """Whether the envelope of ``dtype`` is known (exact types included)."""
    return dtype is not None and (dtype in RULES or dtype in FLOAT_BITS or dtype in EXACT)


def steps(dtype: str | None, values: np.ndarray) -> tuple[int, np.ndarray | None] | None:
    """The rounding steps of ``values`` (float64, the reference's values in
    the layout of a ``dtype`` tensor, starting at a block boundary) when
    stored as ``dtype``: ``(g, h)``, one step ``h[i]`` per group of ``g``
    values (``g`` 1 for float casts; a partial group at the end gets its
    own); ``(0, None)`` for exact types; None when the envelope of
    ``dtype`` is not known."""
    if dtype in EXACT:
        return 0, None
    bits = FLOAT_BITS.get(dtype or "")
    if bits is not None:
        with np.errstate(all="ignore"):
            _, e = np.frexp(values)
        return 1, np.maximum(np.ldexp(1.0, e - 1 - bits), FLOAT_MIN_ULP[dtype or ""]) * (values != 0)
    rule = RULES.get(dtype or "")
    if rule is None:
        return None
    g = rule.group
    n = values.size
    whole = n - n % g
    v = values[:whole].reshape(-1, g)
    with np.errstate(all="ignore"):
        if rule.symmetric:
            h = np.abs(v).max(axis=1) / rule.levels
        else:
            h = (v.max(axis=1) - v.min(axis=1)) / rule.levels
        if whole < n:  # a partial group at the end of a chunk
            t = values[whole:]
            last = (np.abs(t).max() if rule.symmetric else t.max() - t.min()) / rule.levels
            h = np.append(h, last)
    return g, h


def per_element(g: int, h: np.ndarray, n: int) -> np.ndarray:
    """Steps per group -> per value (``n`` values)."""
    return h if g == 1 else np.repeat(h, g)[:n]


def rounding(dtype: str | None, values: np.ndarray) -> np.ndarray:
    """The spacing of ``values`` in ``dtype`` when it is a float type, else
    in f32: the rounding of arithmetic done in it (a converter's ``w + 1``)."""
    bits = FLOAT_BITS.get(dtype or "", 23)
    with np.errstate(all="ignore"):
        _, e = np.frexp(values)
    return np.ldexp(1.0, e - 1 - bits) * (values != 0)
