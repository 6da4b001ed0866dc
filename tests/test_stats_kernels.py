"""Our dequantization kernels (compiled and numpy) against
gguf.quants.dequantize, bit for bit, and the statistics pass both ways."""

import math

import gguf
import ml_dtypes
import numpy as np
import pytest
from gguf import quants

from irpa_core.stats import decoding, numpy_kernels

# The block types with a compiled kernel (``kernels.TYPES``: importing it imports numba).
COMPILED = ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_XS")
# (which set, type): every kernel of both sets.
KERNELS = [("compiled", n) for n in sorted(COMPILED)] + [("numpy", n) for n in sorted(numpy_kernels.KERNELS)]


@pytest.fixture
def kernel(compiled_kernels):
    """A kernel of either set: ``kernel(which, name)``."""
    return lambda which, name: (compiled_kernels if which == "compiled" else numpy_kernels).KERNELS[name]


def test_the_compiled_set_is_the_one_listed_here(compiled_kernels):
    assert sorted(compiled_kernels.KERNELS) == sorted(COMPILED)


# f16 scales that break arithmetic: zero, -0, the largest, the smallest
# subnormal, infinities, NaN.
ODD_F16 = np.array([0.0, -0.0, 65504.0, -65504.0, 2.0**-24, np.inf, -np.inf, np.nan], np.float16).view(np.uint8)


def _reference(raw: np.ndarray, name: str) -> np.ndarray:
    with np.errstate(all="ignore"):
        return quants.dequantize(raw.reshape(1, -1), gguf.GGMLQuantizationType[name]).reshape(-1)


def _same_bits(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_array_equal(got.view(np.uint32), want.astype(np.float32).view(np.uint32))


def _f16_offsets(name: str) -> list[int]:
    """Where a block holds f16 scales (d, and dmin/m where there is one)."""
    if name == "Q6_K":
        return [208]
    if name == "Q3_K":
        return [108]
    if name == "Q2_K":
        return [80, 82]
    if name in ("Q4_1", "Q5_1", "Q4_K", "Q5_K"):
        return [0, 2]
    return [0]


@pytest.mark.parametrize(("which", "name"), KERNELS)
def test_kernel_matches_gguf_on_random_blocks(kernel, which, name):
    _block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[name]]
    rng = np.random.default_rng(7)
    # Random bytes: every bit pattern of quants and scales, NaN/Inf scales included.
    raw = rng.integers(0, 256, (300, size), dtype=np.uint8)
    # Then each odd scale with random quants, all bits set, all clear.
    odd = raw[:24].copy()
    scales = np.zeros(size, bool)
    for off in _f16_offsets(name):
        scales[off : off + 2] = True
    odd[8:16, ~scales] = 0xFF
    odd[16:24, ~scales] = 0x00
    for i in range(len(odd)):
        for off in _f16_offsets(name):
            odd[i, off : off + 2] = ODD_F16[2 * (i % 8) : 2 * (i % 8) + 2]
    data = np.concatenate([raw, odd]).reshape(-1)
    with np.errstate(all="ignore"):
        _same_bits(kernel(which, name)(data), _reference(data, name))


@pytest.mark.parametrize("which", ["compiled", "numpy"])
@pytest.mark.parametrize("name", ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"])
def test_kernel_matches_gguf_on_quantized_values(kernel, which, name):
    # Blocks as a quantizer writes them (gguf quantizes these types), with
    # a zero block and huge values among normal ones.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 256)).astype(np.float32)
    x[1] = 0
    x[2] *= 1e4
    raw = quants.quantize(x, gguf.GGMLQuantizationType[name]).reshape(-1)
    _same_bits(kernel(which, name)(raw), _reference(raw, name))


def test_bf16_by_shift_matches_ml_dtypes():
    raw = np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8)
    _same_bits(decoding.bf16(raw), raw.view(ml_dtypes.bfloat16).astype(np.float32))


def test_decoder_uses_kernels_and_falls_back_to_gguf():
    from irpa_core import dtypes

    for name in ("Q4_K", "IQ4_NL"):  # a kernel of ours; gguf's
        d = dtypes.by_name(name)
        _block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[name]]
        raw = np.random.default_rng(1).integers(0, 256, 5 * size, dtype=np.uint8)
        _same_bits(decoding.decode(raw.tobytes(), d), _reference(raw, name))


def test_decoder_takes_the_compiled_kernel_when_loaded_else_numpys_else_gguf(monkeypatch, compiled_kernels):
    from irpa_core import dtypes

    q4k, q3k = dtypes.by_name("Q4_K"), dtypes.by_name("Q3_K")
    monkeypatch.setattr(decoding, "compiled", lambda values=0, decode_only=False: None)
    assert decoding._kernel_for(q4k) is numpy_kernels.KERNELS["Q4_K"]
    assert decoding._kernel_for(q3k) is None  # gguf's
    k = compiled_kernels
    monkeypatch.setattr(decoding, "compiled", lambda values=0, decode_only=False: k)
    assert decoding._kernel_for(q4k) is k.KERNELS["Q4_K"]
    assert decoding._kernel_for(q3k) is k.KERNELS["Q3_K"]


@pytest.mark.parametrize("name", ["f32", "f16", "bf16", "f64", "Q8_0", "Q4_K", "Q6_K", "i8"])
@pytest.mark.parametrize("special", ["plain", "nan", "inf", "all-nan", "zeros"])
def test_decoding_in_pieces_gives_the_figures_of_one_decode(monkeypatch, name, special):
    """``add_encoded`` (pieces of PIECE_VALUES) against ``add`` of the whole
    decoded chunk: every figure, bit for bit, NaN and infinities included."""
    from irpa_core import dtypes
    from irpa_core.stats import accumulate

    monkeypatch.setattr(accumulate, "PIECE_VALUES", 700)  # several pieces, a short last one
    d = dtypes.by_name(name)
    rng = np.random.default_rng(5)
    n = 256 * 21
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    if special == "nan":
        x[[7, 3000]] = np.nan
    elif special == "inf":
        x[[9]], x[[4000]] = np.inf, -np.inf
    elif special == "all-nan":
        x[:] = np.nan
    elif special == "zeros":
        x[::3] = 0
    if name == "Q8_0":
        data = quants.quantize(x.reshape(-1, 256), d.gguf_quant_type()).tobytes()
    elif d.kind == "quant":  # gguf cannot quantize it: random blocks, sane scales
        blocks = rng.integers(0, 256, (n // 256, d.type_size), dtype=np.uint8)
        for at in _f16_offsets(name):
            blocks[:, at : at + 2] = np.float16(0.01).reshape(1).view(np.uint8)
        if special in ("nan", "inf", "all-nan"):
            bad = np.float16(np.nan if "nan" in special else np.inf).reshape(1).view(np.uint8)
            blocks[:: 1 if special == "all-nan" else 9, _f16_offsets(name)[0] : _f16_offsets(name)[0] + 2] = bad
        data = blocks.tobytes()
    elif name == "bf16":
        data = x.astype(ml_dtypes.bfloat16).tobytes()
    elif name == "i8":
        data = np.nan_to_num(x * 20).clip(-128, 127).astype(np.int8).tobytes()
    else:
        data = x.astype(d.numpy_dtype()).tobytes()
    dec = decoding.decoder(decoding.Entry(name="t", kind="data", length=len(data), file=""), d)
    whole, pieces = accumulate._new_acc(d), accumulate._new_acc(d)
    whole.add(dec(data))
    pieces.add_encoded(data, dec, d)
    assert pieces.result(True, 64, name).to_json() == whole.result(True, 64, name).to_json()
    assert pieces.moments() == whole.moments() or math.isnan(whole.mean)


def _numpy_figures(x: np.ndarray, key: str):
    """The figures of one chunk of values as numpy alone gives them: bucket
    counts by ``bincount``, zeros, NaN/Inf counts, bounds of the finite
    values, and their float64 sum and centred sum of squares."""
    from irpa_core.stats.blas import sum_of_squares

    with np.errstate(all="ignore"):
        keys = x.astype(np.float16).view(np.uint16) if key == "f16" else (x.astype(np.float32).view(np.uint32) >> 16)
        fin = x[np.isfinite(x)].astype(np.float64)
        m = fin.sum() / fin.size if fin.size else 0.0
        m2 = sum_of_squares(fin - m) if fin.size else 0.0
    bounds = (float(fin.min()), float(fin.max())) if fin.size else (math.inf, -math.inf)
    moments = (x.size, fin.size, m, m2, *bounds, int(np.count_nonzero(x == 0)))
    moments += (int(np.isnan(x).sum()), int(np.isinf(x).sum()))
    return moments, np.bincount(keys, minlength=1 << 16)


@pytest.mark.parametrize("path", ["compiled", "numpy"])
@pytest.mark.parametrize("name", ["f32", "f16", "bf16", "Q8_0", "Q4_K", "Q3_K"])
@pytest.mark.parametrize("special", ["plain", "nan", "inf", "zeros", "signed-zeros"])
def test_each_path_gives_numpys_figures(monkeypatch, compiled_kernels, path, name, special):
    """The pass in pieces, compiled (``native``) or not (gguf and numpy),
    against numpy alone on the values gguf or numpy decode: bucket counts,
    zeros, NaN, Inf, bounds, and the sum and centred sum of squares, bit
    for bit."""
    from irpa_core import dtypes
    from irpa_core.stats import accumulate

    monkeypatch.setattr(accumulate, "PIECE_VALUES", 1000)
    k = compiled_kernels if path == "compiled" else None
    monkeypatch.setattr(decoding, "compiled", lambda values=0, decode_only=False: k)
    d = dtypes.by_name(name)
    rng = np.random.default_rng(11)
    n = 256 * 40
    if d.kind == "quant":
        blocks = rng.integers(0, 256, (n // 256 * 256 // d.block_size, d.type_size), dtype=np.uint8)
        for at in _f16_offsets(name):
            blocks[:, at : at + 2] = np.float16(0.02).reshape(1).view(np.uint8)
        if special in ("nan", "inf"):
            blocks[::7, _f16_offsets(name)[0] : _f16_offsets(name)[0] + 2] = (
                np.float16(np.nan if special == "nan" else -np.inf).reshape(1).view(np.uint8)
            )
        if special in ("zeros", "signed-zeros"):
            blocks[::3, _f16_offsets(name)[0] : _f16_offsets(name)[0] + 2] = 0
        data = blocks.tobytes()
        values = _reference(blocks.reshape(-1), name)
    else:
        x = (rng.standard_normal(n) * 5).astype(np.float32)
        x[[3, 500]] = {"nan": np.nan, "inf": np.inf}.get(special, x[[3, 500]])
        if special in ("zeros", "signed-zeros"):
            x[::4] = -0.0 if special == "signed-zeros" else 0.0
        if name == "bf16":
            data = x.astype(ml_dtypes.bfloat16).tobytes()
            values = np.frombuffer(data, ml_dtypes.bfloat16).astype(np.float32)
        else:
            data = x.astype(d.numpy_dtype()).tobytes()
            values = np.frombuffer(data, d.numpy_dtype()).astype(np.float32)
    dec = decoding.decoder(decoding.Entry(name="t", kind="data", length=len(data), file=""), d)
    acc = accumulate._new_acc(d)
    acc.add_encoded(data, dec, d)
    want, fine = _numpy_figures(values, acc.key)
    got = acc.moments()
    assert got[:2] == want[:2] and got[4:] == want[4:]
    assert (got[2], got[3]) == (want[2], want[3]) or not math.isfinite(want[2])
    np.testing.assert_array_equal(acc.fine, fine)


def test_sum_of_squares_is_numpys_ddot_bit_for_bit():
    from irpa_core.stats import blas

    rng = np.random.default_rng(12)
    with blas.one_thread():
        # numpy's own OpenBLAS: its ddot is called through ctypes, which lets go of the GIL.
        assert blas._FUNCS is None or blas._FUNCS[2] is not None
        for n in [0, 1, 7, 31, 1000, 10_000, 10_001, 65_537, 1 << 20]:
            x = rng.standard_normal(n) * rng.uniform(1e-3, 1e3)
            h = (n + 1) // 2
            want = float(x @ x) if n <= 10_000 else float(x[:h] @ x[:h]) + float(x[h:] @ x[h:])
            assert blas.sum_of_squares(x) == want


def test_kernels_another_thread_is_loading_are_not_waited_for(monkeypatch):
    """The first run on a machine compiles them (~6 s): meanwhile other
    threads go on with numpy rather than wait."""
    monkeypatch.setattr(decoding, "_compiled", None)
    monkeypatch.setattr(decoding, "_unavailable", False)
    with decoding._loading:
        assert decoding.compiled(1 << 40) is None
    assert decoding.compiled(1 << 40) is not None


def test_the_irpa_command_freezes_what_is_left_before_it_exits(monkeypatch):
    """The interpreter's last collection would walk every object still alive."""
    import gc

    from irpa_core import cli

    froze = []
    monkeypatch.setattr(cli, "main", lambda: 3)
    monkeypatch.setattr(gc, "freeze", lambda: froze.append(True))
    with pytest.raises(SystemExit) as end:
        cli.entry()
    assert end.value.code == 3 and froze == [True]
