"""Casting against numpy/ml_dtypes ``astype`` element by element where that
rounds once, against an exact rounding reference (Fractions, bit patterns)
where an ml_dtypes release may round twice, and against
``gguf.quants`` for (de)quantizing."""

from __future__ import annotations

import math
import threading
from fractions import Fraction

import gguf
import ml_dtypes
import numpy as np
import pytest
from gguf import quants

from irpa_core import dtypes
from irpa_core.cast import DEQUANTIZE_TO, FLOATS, QUANTIZE_TO, cast_length, cast_problem, iter_cast
from irpa_core.dtypes import DType
from irpa_core.errors import Cancelled, PlanError
from irpa_core.model import Entry
from tests.fixtures import quantized_bytes


def D(name: str) -> DType:
    d = dtypes.by_name(name)
    assert d is not None, name
    return d


INTS = ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64"]
WIDENING = {
    ("i8", "i16"),
    ("i8", "i32"),
    ("i8", "i64"),
    ("i16", "i32"),
    ("i16", "i64"),
    ("i32", "i64"),
    ("u8", "u16"),
    ("u8", "u32"),
    ("u8", "u64"),
    ("u16", "u32"),
    ("u16", "u64"),
    ("u32", "u64"),
    ("u8", "i16"),
    ("u8", "i32"),
    ("u8", "i64"),
    ("u16", "i32"),
    ("u16", "i64"),
    ("u32", "i64"),
}
DEQUANTIZABLE = [
    d.name
    for d in dtypes.QUANT
    if d.name in gguf.GGMLQuantizationType.__members__ and gguf.GGMLQuantizationType[d.name] in quants._type_traits
]
# f64 -> these: ml_dtypes before 0.7 rounds through f32 (twice); we round once.
DOUBLE_ROUNDED = {("f64", n) for n in FLOATS if n not in ("f64", "f32", "f16")}


def _entry(tmp_path, name: str, data: bytes, dtype_name: str, shape) -> Entry:
    path = tmp_path / f"{name}.bin"
    path.write_bytes(b"\0" * 3 + data)  # an odd offset, as in real files
    return Entry(
        name=name, kind="data", length=len(data), file=str(path), offset=3, dtype=D(dtype_name), shape=tuple(shape)
    )


def _cast(entry: Entry, dst: str, chunk_bytes: int = 4096) -> bytes:
    chunks = list(iter_cast(entry, D(dst), chunk_bytes=chunk_bytes))
    out = b"".join(chunks)
    assert len(out) == cast_length(entry, D(dst))
    return out


def _specials(npd) -> np.ndarray:
    """Random values over the type's whole range plus its edges: zeros,
    infinities, NaN, subnormals, the largest values, and ties."""
    rng = np.random.default_rng(7)
    if npd.itemsize <= 2:  # every bit pattern of the 8 and 16 bit types
        return (
            np.arange(1 << (8 * npd.itemsize), dtype=np.uint64)
            .astype(np.uint8 if npd.itemsize == 1 else np.uint16)
            .view(npd)
        )
    fi = np.finfo(npd)
    mags = np.exp2(rng.uniform(math.log2(float(fi.smallest_subnormal)), math.log2(float(fi.max)), 20000))
    vals = np.concatenate(
        [
            mags * rng.choice([-1, 1], mags.size),
            [0.0, -0.0, np.inf, -np.inf, np.nan],
            [float(fi.max), -float(fi.max), float(fi.smallest_subnormal), float(fi.tiny)],
        ]
    )
    a = vals.astype(npd)
    # Near rounding ties of the narrower float types.
    ties = (np.arange(1, 2, 2.0**-12) + 2.0**-13).astype(npd)
    return np.concatenate([a, ties, -ties])


def _allowed(src: str, dst: str) -> bool:
    if src == dst:
        return True
    if src in FLOATS and dst in FLOATS:
        return True
    if (src, dst) in WIDENING:
        return True
    s = D(src)
    if s.kind == "quant":
        return dst in DEQUANTIZE_TO and src in DEQUANTIZABLE
    return dst in QUANTIZE_TO and src in FLOATS


def test_cast_problem_matrix():
    for s in dtypes.ALL:
        for d in dtypes.ALL:
            problem = cast_problem(s, d)
            assert (problem is None) == _allowed(s.name, d.name), (s.name, d.name, problem)
            assert problem is None or (problem and "\n" not in problem)


@pytest.mark.parametrize("src", FLOATS)
@pytest.mark.parametrize("dst", FLOATS)
def test_float_casts_equal_astype(tmp_path, src, dst):
    npd, npo = D(src).numpy_dtype(), D(dst).numpy_dtype()
    a = _specials(npd)
    if (src, dst) in DOUBLE_ROUNDED:
        # Where the first step of ml_dtypes' f64 -> f32 -> dst is exact, its
        # astype rounds once: compare there (the rest is checked below).
        with np.errstate(all="ignore"):
            a = a[a.astype(np.float32).astype(np.float64) == a]
    e = _entry(tmp_path, "x", a.tobytes(), src, a.shape)
    with np.errstate(all="ignore"):
        if np.can_cast(npd, npo, "unsafe"):
            expected = a.astype(npo).tobytes()
        else:  # fp8 <-> f8_e8m0fnu: ml_dtypes has no direct cast; fp8 is exact in f32
            expected = a.astype(np.float32).astype(npo).tobytes()
    assert _cast(e, dst) == expected


def _round_ref(x: float, mant: int, emin: int, half_up: bool = False) -> float:
    """x rounded to a binary float with ``mant`` stored mantissa bits and
    normal exponents from ``emin``, exactly (Fractions), for x in range."""
    if x == 0 or math.isnan(x):
        return x
    e = math.frexp(abs(x))[1] - 1  # exponent of the leading bit
    quantum = Fraction(2) ** (max(e, emin) - mant)
    scaled = Fraction(abs(x)) / quantum
    q = math.floor(scaled + Fraction(1, 2)) if half_up else round(scaled)
    return math.copysign(float(q * quantum), x)


FORMATS = {  # name: (stored mantissa bits, smallest normal exponent, largest finite, half-up rounding)
    "bf16": (7, -126, float(ml_dtypes.finfo(ml_dtypes.bfloat16).max), False),
    "f8_e4m3fn": (3, -6, 448.0, False),
    "f8_e5m2": (2, -14, 57344.0, False),
    "f8_e4m3fnuz": (3, -7, 240.0, False),
    "f8_e5m2fnuz": (2, -15, 57344.0, False),
    "f8_e8m0fnu": (0, -127, 2.0**127, True),
}


@pytest.mark.parametrize("dst", list(FORMATS))
def test_f64_rounds_once(tmp_path, dst):
    mant, emin, top, half_up = FORMATS[dst]
    rng = np.random.default_rng(11)
    # Below 2**-126 (f32 subnormals) ml_dtypes' own e8m0 rounding is not
    # this reference's (it maps 1.3 * 2**-127 to 2**-126); astype covers it.
    lo = -126 if dst == "f8_e8m0fnu" else emin - mant - 2
    x = np.exp2(rng.uniform(lo, math.log2(top), 30000))
    # Ties of the target, and ties nudged by far less than an f32 ulp: the
    # values double rounding gets wrong.
    grid = np.unique(x.astype(D(dst).numpy_dtype()).astype(np.float64))
    grid = grid[np.isfinite(grid) & (grid > 0)]
    mids = (grid[:-1] + grid[1:]) / 2
    x = np.concatenate([x, mids, mids * (1 + 2.0**-40), mids * (1 - 2.0**-40), grid])
    x = x[(x <= top) & (x >= 2.0**lo)]
    if dst != "f8_e8m0fnu":
        x = np.concatenate([x, -x])
    got = np.frombuffer(
        _cast(_entry(tmp_path, "x", x.tobytes(), "f64", x.shape), dst, 1 << 16), D(dst).numpy_dtype()
    ).astype(np.float64)
    ref = np.array([_round_ref(v, mant, emin, half_up) for v in x])
    bad = np.nonzero(got != ref)[0]
    assert bad.size == 0, [(x[i], got[i], ref[i]) for i in bad[:5]]


def test_f64_to_bf16_rounds_once_where_rounding_through_f32_would_not(tmp_path):
    """1 + 2**-8 + 2**-30 lies just above the midpoint of the bf16 values 1.0
    and 1 + 2**-7: correctly rounded it is 1 + 2**-7 (bits 0x3F81). Through
    f32 first (as some ml_dtypes releases do) the 2**-30 is lost, the
    midpoint ties to even, and the result is 1.0 (0x3F80)."""
    x = np.array([1 + 2.0**-8 + 2.0**-30, -(1 + 2.0**-8 + 2.0**-30), 1 + 2.0**-8, 1 + 3 * 2.0**-8])
    got = np.frombuffer(_cast(_entry(tmp_path, "x", x.tobytes(), "f64", x.shape), "bf16"), np.uint16)
    # the exact midpoint 1 + 2**-8 ties to the even 1.0; 1 + 3 * 2**-8 to the even 1 + 2**-6
    assert [hex(b) for b in got] == ["0x3f81", "0xbf81", "0x3f80", "0x3f82"]


@pytest.mark.parametrize("src", INTS)
@pytest.mark.parametrize("dst", INTS)
def test_integer_casts(tmp_path, src, dst):
    s = D(src)
    npd = s.numpy_dtype()
    info = np.iinfo(npd)
    a = np.array([info.min, info.max, 0, 1, info.min + 1, info.max - 1] * 700, npd)
    e = _entry(tmp_path, "x", a.tobytes(), src, a.shape)
    if (src, dst) in WIDENING or src == dst:
        assert _cast(e, dst, 1000) == a.astype(D(dst).numpy_dtype()).tobytes()
    else:
        with pytest.raises(PlanError, match=r"^parameter 'x': cannot cast: "):
            _cast(e, dst)


@pytest.mark.parametrize("qname", DEQUANTIZABLE)
@pytest.mark.parametrize("dst", DEQUANTIZE_TO)
def test_dequantize_equals_gguf(tmp_path, qname, dst):
    qt = gguf.GGMLQuantizationType[qname]
    block = gguf.GGML_QUANT_SIZES[qt][0]
    rows, cols = 5, 4 * max(block, 256)
    raw = quantized_bytes(qname, rows, cols, seed=3)
    e = _entry(tmp_path, "q", raw.tobytes(), qname, (rows, cols))
    with np.errstate(all="ignore"):
        expected = quants.dequantize(raw, qt).astype(D(dst).numpy_dtype()).tobytes()
    # Chunks of two rows, and chunks smaller than a row (whole blocks).
    for chunk in (2 * cols * 4, cols * 4 // 3, 1):
        assert _cast(e, dst, chunk) == expected, chunk


@pytest.mark.parametrize("src", ["f32", "f16", "bf16", "f64"])
@pytest.mark.parametrize("qname", QUANTIZE_TO)
def test_quantize_equals_gguf(tmp_path, src, qname):
    rng = np.random.default_rng(5)
    a = (rng.standard_normal((6, 96)) * 3).astype(D(src).numpy_dtype())
    e = _entry(tmp_path, "w", a.tobytes(), src, a.shape)
    qt = gguf.GGMLQuantizationType[qname]
    assert _cast(e, qname, 700) == quants.quantize(a, qt).tobytes()


def test_quantize_needs_whole_blocks_per_row(tmp_path):
    a = np.ones((4, 48), np.float32)
    e = _entry(tmp_path, "w", a.tobytes(), "f32", a.shape)
    with pytest.raises(
        PlanError,
        match=r"^parameter 'w': cannot quantize to Q8_0: the last dimension \(48\) is not a "
        "multiple of its block size 32$",
    ):
        cast_length(e, D("Q8_0"))


def test_chunks_are_bounded_and_whole(tmp_path):
    a = np.arange(100_000, dtype=np.float32)
    e = _entry(tmp_path, "x", a.tobytes(), "f32", a.shape)
    chunks = list(iter_cast(e, D("f16"), chunk_bytes=10_000))
    assert len(chunks) == 40 and all(len(c) <= 10_000 and len(c) % 2 == 0 for c in chunks)
    raw = quantized_bytes("Q4_K", 8, 1024)
    q = _entry(tmp_path, "q", raw.tobytes(), "Q4_K", (8, 1024))
    sizes = [len(c) for c in iter_cast(q, D("f32"), chunk_bytes=8192)]  # two rows of 4 KiB
    assert sizes == [8192] * 4


def test_splat_entries_expand(tmp_path):
    e = Entry(
        name="s",
        kind="splat",
        length=4000,
        file="x.irpa",
        dtype=D("f32"),
        shape=(1000,),
        pattern=np.float32(1.5).tobytes(),
    )
    assert _cast(e, "bf16", 100) == np.full(1000, 1.5, ml_dtypes.bfloat16).tobytes()


def test_cancel(tmp_path):
    a = np.zeros(10_000, np.float32)
    e = _entry(tmp_path, "x", a.tobytes(), "f32", a.shape)
    stop = threading.Event()
    it = iter_cast(e, D("f16"), chunk_bytes=1000, cancel=stop)
    next(it)
    stop.set()
    with pytest.raises(Cancelled, match="cast cancelled"):
        next(it)


@pytest.mark.parametrize(
    "src, dst, message",
    [
        ("i32", "f16", "cannot cast i32 to f16: allowed are float to float"),
        ("u8", "i8", "u8 to i8 is not a widening integer cast"),
        ("i8", "u16", "i8 to u16 is not a widening integer cast"),
        ("Q4_K", "i8", "Q4_K dequantizes only to f32, f16 or bf16, not i8"),
        ("Q8_1", "f32", "gguf.quants has no dequantizer for Q8_1"),
        ("Q4_K", "Q8_0", "re-quantizing Q4_K to Q8_0 is not supported"),
        ("f32", "Q4_K", "quantizing to Q4_K is not supported"),
        ("i8", "Q8_0", "only floats can be quantized, not i8"),
        ("bool", "i8", "cannot cast bool to i8"),
        ("c64", "f32", "cannot cast c64 to f32"),
    ],
)
def test_refusals_are_one_line_and_name_the_entry(tmp_path, src, dst, message):
    d = D(src)
    e = Entry(
        name="blk.0.w",
        kind="data",
        length=d.type_size * 4,
        file="/dev/null",
        offset=0,
        dtype=d,
        shape=(4 * d.block_size,) if d.block_size > 1 else (4,),
    )
    with pytest.raises(PlanError) as err:
        iter_cast(e, D(dst))
    text = str(err.value)
    assert text.startswith("parameter 'blk.0.w': cannot cast: ") and message in text and "\n" not in text


def test_raw_entry_refused(tmp_path):
    e = Entry(name="raw", kind="data", length=4, file="/dev/null", offset=0)
    with pytest.raises(PlanError, match=r"^parameter 'raw': has no dtype"):
        cast_length(e, D("f32"))
