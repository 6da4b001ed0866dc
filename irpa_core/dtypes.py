"""The one dtype registry shared by every format, the writer and the stats.

Each format maps its own spelling onto a ``DType``: safetensors names
(``BF16``), GGUF/ggml type ids, torch names (``PYTORCH:`` metadata), and the
IREE tool names (``f32``, ``si16``, ``f8E4M3FN``) used by ``--data``/``--splat``.

Importing this module is cheap on purpose (no numpy, no gguf): ``irpa dump``
must start fast. The ggml block sizes below are the ggml type table; a test
checks them against the ``gguf`` package's ``GGML_QUANT_SIZES`` so they
cannot drift, and an id we do not know is looked up there lazily.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DType:
    """``name`` is what the UI and JSON show. A tensor of ``n`` elements
    takes ``n // block_size * type_size`` bytes (block_size 1 for plain
    types). ``kind``: float, int, uint, bool, complex, quant, raw."""

    name: str
    kind: str
    block_size: int
    type_size: int
    numpy: str | None = None  # numpy/ml_dtypes name, resolved lazily
    torch: str | None = None  # torch dtype name used in PYTORCH: metadata
    safetensors: str | None = None
    ggml: int | None = None
    iree: tuple[str, ...] = ()  # IREE tool spellings, first is canonical

    @property
    def itemsize(self) -> int | None:
        """Bytes per element for plain types, None for block types."""
        return self.type_size if self.block_size == 1 else None

    def nbytes(self, elements: int) -> int:
        """Byte size of ``elements`` values; raises ValueError when
        ``elements`` is not a whole number of blocks."""
        if self.block_size == 0:
            raise ValueError(f"{self.name} has no known element size")
        if elements % self.block_size:
            raise ValueError(f"{elements} elements is not a multiple of the {self.name} block size {self.block_size}")
        return elements // self.block_size * self.type_size

    def gguf_quant_type(self):
        """The gguf package's quantization type for a block type it can
        dequantize (and quantize), or None. Imports gguf."""
        if self.ggml is None or self.kind != "quant":
            return None
        import gguf
        from gguf import quants

        try:
            qt = gguf.GGMLQuantizationType(self.ggml)
        except ValueError:
            return None
        # dequantize raises NotImplementedError for the few it lacks (Q8_1, Q8_K).
        return qt if qt in quants._type_traits else None  # the package's own registry

    def numpy_dtype(self):
        """The numpy dtype (bf16/fp8 through ml_dtypes); None for quant/raw."""
        if self.numpy is None:
            return None
        import numpy as np

        try:
            return np.dtype(self.numpy)
        except TypeError:
            import ml_dtypes

            return np.dtype(getattr(ml_dtypes, self.numpy))

    def __str__(self) -> str:
        return self.name


def _plain(name, kind, size, numpy, torch, st=None, ggml=None, iree=()):
    return DType(name, kind, 1, size, numpy, torch, st, ggml, tuple(iree))


PLAIN: tuple[DType, ...] = (
    _plain("bool", "bool", 1, "bool", "bool", "BOOL", None, ("i1",)),
    _plain("u8", "uint", 1, "uint8", "uint8", "U8", None, ("ui8",)),
    _plain("i8", "int", 1, "int8", "int8", "I8", 24, ("i8", "si8")),
    _plain("u16", "uint", 2, "uint16", "uint16", "U16", None, ("ui16",)),
    _plain("i16", "int", 2, "int16", "int16", "I16", 25, ("i16", "si16")),
    _plain("u32", "uint", 4, "uint32", "uint32", "U32", None, ("ui32",)),
    _plain("i32", "int", 4, "int32", "int32", "I32", 26, ("i32", "si32")),
    _plain("u64", "uint", 8, "uint64", "uint64", "U64", None, ("ui64",)),
    _plain("i64", "int", 8, "int64", "int64", "I64", 27, ("i64", "si64")),
    _plain("f16", "float", 2, "float16", "float16", "F16", 1, ("f16",)),
    _plain("bf16", "float", 2, "bfloat16", "bfloat16", "BF16", 30, ("bf16",)),
    _plain("f32", "float", 4, "float32", "float32", "F32", 0, ("f32",)),
    _plain("f64", "float", 8, "float64", "float64", "F64", 28, ("f64",)),
    _plain("f8_e4m3fn", "float", 1, "float8_e4m3fn", "float8_e4m3fn", "F8_E4M3", None, ("f8E4M3FN",)),
    _plain("f8_e5m2", "float", 1, "float8_e5m2", "float8_e5m2", "F8_E5M2", None, ("f8E5M2",)),
    _plain("f8_e4m3fnuz", "float", 1, "float8_e4m3fnuz", "float8_e4m3fnuz", "F8_E4M3FNUZ", None, ("f8E4M3FNUZ",)),
    _plain("f8_e5m2fnuz", "float", 1, "float8_e5m2fnuz", "float8_e5m2fnuz", "F8_E5M2FNUZ", None, ("f8E5M2FNUZ",)),
    _plain("f8_e8m0fnu", "float", 1, "float8_e8m0fnu", "float8_e8m0fnu", "F8_E8M0", None, ("f8E8M0FNU",)),
    _plain("c64", "complex", 8, "complex64", "complex64", "C64", None, ("c64", "complex<f32>")),
    _plain("c128", "complex", 16, "complex128", "complex128", None, None, ("c128", "complex<f64>")),
)

# ggml block-quantized types: (id, name, block_size, bytes per block).
# Plain ggml types (F32, F16, BF16, I8..I64, F64) map onto PLAIN above.
GGML_QUANT: tuple[tuple[int, str, int, int], ...] = (
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 40),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (29, "IQ1_M", 256, 56),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
    (40, "NVFP4", 64, 36),
    (41, "Q1_0", 128, 18),
)

QUANT: tuple[DType, ...] = tuple(
    DType(name, "quant", bs, ts, None, None, None, gid, ()) for gid, name, bs, ts in GGML_QUANT
)

ALL: tuple[DType, ...] = PLAIN + QUANT

_BY_NAME = {d.name: d for d in ALL}
U8 = _BY_NAME["u8"]
_BY_ST = {d.safetensors: d for d in ALL if d.safetensors}
_BY_GGML = {d.ggml: d for d in ALL if d.ggml is not None}
_BY_TORCH = {d.torch: d for d in ALL if d.torch}
_BY_IREE = {n: d for d in ALL for n in d.iree}
_BY_NUMPY = {d.numpy: d for d in ALL if d.numpy}


def by_name(name: str) -> DType | None:
    """Our own name (``f32``, ``bf16``, ``Q4_K``); quant names are also
    accepted in any case."""
    return _BY_NAME.get(name) or _BY_NAME.get(name.upper())


def from_safetensors(name: str) -> DType | None:
    return _BY_ST.get(name)


def from_torch(name: str) -> DType | None:
    """``float32`` or ``torch.float32``; also our own names (used by the
    quantized-type extension of the PYTORCH: metadata)."""
    name = name.removeprefix("torch.")
    return _BY_TORCH.get(name) or _BY_NAME.get(name)


def from_iree(name: str) -> DType | None:
    """IREE tool spelling: ``f32``, ``i8``, ``si16``, ``ui32``, ``f8E4M3FN``."""
    return _BY_IREE.get(name)


def from_numpy(dt) -> DType | None:
    """From a numpy dtype (ml_dtypes names included)."""
    return _BY_NUMPY.get(getattr(dt, "name", str(dt)))


def from_ggml(type_id: int) -> DType | None:
    """A ggml type id; ids newer than our table are looked up in the gguf
    package's table (imported only then)."""
    d = _BY_GGML.get(type_id)
    if d is not None:
        return d
    try:
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

        t = GGMLQuantizationType(type_id)
        bs, ts = GGML_QUANT_SIZES[t]
    except Exception:
        return None
    d = DType(t.name, "quant", bs, ts, None, None, None, type_id, ())
    _BY_GGML[type_id] = d
    return d


def raw(label: str) -> DType:
    """A dtype we cannot decode (an unknown safetensors dtype): listed and
    copied as raw bytes; ``nbytes`` is unknown (block_size 0)."""
    return DType(label, "raw", 0, 0)
