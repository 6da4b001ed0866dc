"""Where the bytes of two entries differ, down to the element.

A ``Locator`` is fed the bytes of two entries side by side, chunk by chunk,
in any chunk sizes (how the bytes are read is the caller's business), and
keeps exact counts of the differing bytes and elements and the first
difference: its byte, its element as a flat and a row-major index, its
offset in both files and the two values decoded. Each side is decoded with
its own dtype, or the other side's when it has none (a raw ``.irpa``
written by the reference tools records no dtype). For block-quantized types
an element differs when its dequantized value does (bit for bit), and the
block and row of the first difference are given.

Equal chunks cost one memcmp and a copy of the partial block at their end;
numpy is imported and used only for chunks that differ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .dtypes import DType
from .model import SPLAT, Entry

TYPE_CHECKING = False
if TYPE_CHECKING:
    import numpy as np

    Value = int | float | bool | complex | None


@dataclass(frozen=True)
class Difference:
    """How two byte streams of an entry differ (only made when they do)."""

    compared: int  # bytes compared on each side
    bytes: int  # how many of those differ
    first_byte: int  # position in the entry of the first differing byte
    dtype: str | None = None  # how elements were decoded ("f32"; "f32|i32" when the sides differ)
    elements: int | None = None  # differing elements (None: neither side has a dtype)
    element: int | None = None  # flat index of the first differing element
    index: tuple[int, ...] | None = None  # its row-major index (None without a shape)
    offset_a: int | None = None  # file offset of that element (its block; its byte without a dtype), side A
    offset_b: int | None = None  # the same in side B (None for a splat: no bytes in a file)
    value_a: Value = None  # that element decoded, each side with its dtype
    value_b: Value = None
    blocks: int | None = None  # block-quantized types: differing blocks
    block: int | None = None  # the block of the first difference
    row: int | None = None  # its row (index over every dimension but the last)

    def summary(self) -> str:
        """One line: how much differs and where it starts."""
        what = f"{self.bytes:,} of {self.compared:,} bytes differ"
        dt = f"{self.dtype} " if self.dtype else ""
        if self.elements is not None:
            what += f" in {_count(self.elements, dt + 'element')}"
            if self.blocks is not None:
                what += f" ({_count(self.blocks, 'block')})"
        elif self.blocks is not None:
            what += f" in {_count(self.blocks, dt + 'block')}"
        return what + "; first at " + self.where()

    def where(self) -> str:
        """``element 250 [3, 58]`` (with ``block 9, row 1`` for quantized
        types), or ``byte 1,000`` without a dtype."""
        if self.element is None:
            text = f"byte {self.first_byte:,}"
            if self.block is not None:
                text += f" (block {self.block:,}" + (f", row {self.row:,}" if self.row is not None else "") + ")"
            return text
        text = f"element {self.element:,}"
        if self.index is not None:
            text += " [" + ", ".join(map(str, self.index)) + "]"
        if self.block is not None:
            text += f", block {self.block:,}" + (f", row {self.row:,}" if self.row is not None else "")
        return text

    def lines(self, a: str = "A", b: str = "B", file_a: str | None = None, file_b: str | None = None) -> list[str]:
        """The human report: the summary, the file offsets, the two values;
        the sides are named ``a`` and ``b`` (expected / written, A / B)."""
        out = [self.summary()]
        offs = [
            f"{off:,} in {f or side}"
            for off, side, f in ((self.offset_a, a, file_a), (self.offset_b, b, file_b))
            if off is not None
        ]
        if offs:
            out.append("at file offset " + ", ".join(offs))
        if self.value_a is not None or self.value_b is not None:
            names = (self.dtype or "").split("|")
            ta, tb = format_value(self.value_a, names[0]), format_value(self.value_b, names[-1])
            out.append(f"{a} {ta}, {b} {tb}")
        return out

    def to_json(self) -> dict:
        return {
            "bytes_compared": self.compared,
            "bytes": self.bytes,
            "first_byte": self.first_byte,
            "dtype": self.dtype,
            "elements": self.elements,
            "element": self.element,
            "index": list(self.index) if self.index is not None else None,
            "offset_a": self.offset_a,
            "offset_b": self.offset_b,
            "value_a": json_value(self.value_a),
            "value_b": json_value(self.value_b),
            "blocks": self.blocks,
            "block": self.block,
            "row": self.row,
        }


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'s' if n != 1 else ''}"


def format_value(v: Value, dtype: str | None = None) -> str:
    """A decoded value for people: a float in the fewest digits that tell it
    apart in ``dtype`` (``0.1`` for an f32, not 0.10000000149011612)."""
    if v is None:
        return "-"
    if isinstance(v, float):
        from .dtypes import by_name

        d = by_name(dtype) if dtype else None
        npd = None
        if d is not None and d.kind == "quant":
            import numpy as np

            npd = np.dtype(np.float32)  # what dequantizing gives
        elif d is not None and d.kind == "float":
            npd = d.numpy_dtype()
        if npd is not None:
            return str(npd.type(v))
        return repr(v) if len(repr(v)) <= 12 else f"{v:.9g}"
    return str(v)


def json_value(v: Value):
    """Numbers as numbers; NaN and infinities as strings ("nan", "inf",
    "-inf"), complex as [real, imag]: JSON has neither."""
    if isinstance(v, complex):
        return [json_value(v.real), json_value(v.imag)]
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def usable(d: DType | None) -> DType | None:
    """``d`` when elements of it can be told apart (a known element or block size)."""
    return d if d is not None and d.kind != "raw" and d.block_size > 0 else None


def decode_dtypes(a: Entry, b: Entry) -> tuple[DType | None, DType | None]:
    """The dtype each side is read as: its own, else the other side's."""
    da, db = usable(a.dtype), usable(b.dtype)
    return da or db, db or da


def row_major(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    out = []
    for d in reversed(shape):
        flat, r = divmod(flat, d) if d else (flat, 0)
        out.append(r)
    return tuple(reversed(out))


def shape_for(a: Entry, b: Entry, elements: int) -> tuple[int, ...] | None:
    """A's shape, else B's, when it holds ``elements`` elements."""
    for s in (a.shape, b.shape):
        if s is not None and math.prod(s) == elements:
            return tuple(s)
    return None


class Locator:
    """Compares the bytes of ``a`` and ``b`` as they are fed; ``result()``
    says how they differ (None when they do not)."""

    def __init__(self, a: Entry, b: Entry):
        self.a, self.b = a, b
        da, db = decode_dtypes(a, b)
        if da is not None and db is not None and (da.block_size, da.type_size) != (db.block_size, db.type_size):
            da = db = None  # elements of different sizes cannot be paired: bytes only
        self.da, self.db = da, db
        self.unit = da.type_size if da is not None else 1  # bytes per element or block
        self.per_unit = da.block_size if da is not None else 1  # elements per unit
        self.pos = 0  # bytes fed so far
        self.bytes = 0
        self.first_byte: int | None = None
        self.elements = 0
        self.blocks = 0
        self.first_unit: int | None = None  # the unit of the first differing byte
        self.first_element: int | None = None
        self.values: tuple[Value, Value] = (None, None)
        # The bytes of the unit the last chunk ended inside (a block split
        # between two chunks is compared whole).
        self._tail_a = self._tail_b = b""
        self._decodable: bool | None = None

    def feed(self, x: bytes | bytearray | memoryview, y: bytes | bytearray | memoryview) -> None:
        """The next ``len(x)`` bytes of each side (``len(y) == len(x)``)."""
        n = len(x)
        if self._tail_a == self._tail_b and x == y:
            self._keep_tail(x, n)
            self.pos += n
            return
        import numpy as np

        xa = np.frombuffer(x, np.uint8)
        ya = np.frombuffer(y, np.uint8)
        ne = xa != ya
        k = int(np.count_nonzero(ne))
        if k and self.first_byte is None:
            self.first_byte = self.pos + int(np.argmax(ne))
        self.bytes += k
        t = len(self._tail_a)
        if t:
            xa = np.concatenate([np.frombuffer(self._tail_a, np.uint8), xa])
            ya = np.concatenate([np.frombuffer(self._tail_b, np.uint8), ya])
        whole = (t + n) // self.unit * self.unit
        if whole:
            self._units(xa[:whole], ya[:whole], (self.pos - t) // self.unit)
        self._tail_a, self._tail_b = xa[whole:].tobytes(), ya[whole:].tobytes()
        self.pos += n

    def _keep_tail(self, x, n: int) -> None:
        if self.unit == 1:
            return
        r = (self.pos + n) % self.unit
        if r <= n:
            self._tail_a = self._tail_b = bytes(x[n - r :])
        else:
            self._tail_a = self._tail_b = self._tail_a + bytes(x)

    def _units(self, xa: np.ndarray, ya: np.ndarray, base: int) -> None:
        """Whole units (elements or blocks) starting at unit ``base``."""
        import numpy as np

        if self.unit == 1:
            idx = np.flatnonzero(xa != ya)
            ua, ub = xa.reshape(-1, 1), ya.reshape(-1, 1)
        else:
            ua, ub = xa.reshape(-1, self.unit), ya.reshape(-1, self.unit)
            idx = np.flatnonzero((ua != ub).any(axis=1))
        if not idx.size:
            return
        if self.first_unit is None:
            self.first_unit = base + int(idx[0])
        if self.da is None:
            return
        if self.per_unit == 1:
            self.elements += int(idx.size)
            if self.first_element is None:
                j = int(idx[0])
                self.first_element = base + j
                self.values = (_plain_value(ua[j], self.da), _plain_value(ub[j], self.db))
            return
        self.blocks += int(idx.size)
        if self._decodable is None:
            self._decodable = _can_decode(self.da) and _can_decode(self.db)
        if not self._decodable:
            return
        va = _decode_blocks(ua[idx], self.da)
        vb = _decode_blocks(ub[idx], self.db)
        differ = va.view(np.uint32) != vb.view(np.uint32)
        self.elements += int(np.count_nonzero(differ))
        if self.first_element is None and differ.any():
            j, e = divmod(int(np.argmax(differ.reshape(-1))), self.per_unit)
            self.first_element = (base + int(idx[j])) * self.per_unit + e
            self.values = (float(va[j, e]), float(vb[j, e]))

    def result(self) -> Difference | None:
        if not self.bytes or self.first_byte is None:
            return None
        da, db = self.da, self.db
        if da is None or db is None:
            off = self.first_byte
            return Difference(
                self.pos, self.bytes, off, offset_a=self._offset(self.a, off), offset_b=self._offset(self.b, off)
            )
        name = da.name if da == db else f"{da.name}|{db.name}"
        quant = self.per_unit > 1
        count = self.a.length // self.unit * self.per_unit
        shape = shape_for(self.a, self.b, count)
        element = self.first_element
        elements = self.elements if not quant or self._decodable else None
        if element is not None:
            unit = element // self.per_unit
        else:
            unit = self.first_unit if self.first_unit is not None else self.first_byte // self.unit
        off = unit * self.unit
        row = None
        if quant and shape:
            first = element if element is not None else unit * self.per_unit
            row = first // shape[-1] if shape[-1] else 0
        return Difference(
            self.pos,
            self.bytes,
            self.first_byte,
            name,
            elements,
            element,
            row_major(element, shape) if element is not None and shape else None,
            self._offset(self.a, off),
            self._offset(self.b, off),
            self.values[0],
            self.values[1],
            self.blocks if quant else None,
            unit if quant else None,
            row,
        )

    @staticmethod
    def _offset(e: Entry, pos: int) -> int | None:
        return None if e.kind == SPLAT or e.offset is None else e.offset + pos


def _plain_value(raw: np.ndarray, d: DType | None) -> Value:
    import numpy as np

    npd = d.numpy_dtype() if d is not None else None
    if npd is None:
        return None
    v = np.frombuffer(raw.tobytes(), npd)[0].item()
    if not isinstance(v, (int, float, bool, complex)):
        v = float(v)  # ml_dtypes scalars (bf16, fp8) give their own type
    return v


def _can_decode(d: DType | None) -> bool:
    from . import stats

    return d is not None and stats.can_decode_dtype(d)


def _decode_blocks(blocks: np.ndarray, d: DType | None) -> np.ndarray:
    """Rows of block bytes -> rows of their float32 values."""
    import numpy as np

    from . import stats

    assert d is not None
    vals = stats.decode(blocks.tobytes(), d)
    return np.ascontiguousarray(vals, dtype=np.float32).reshape(blocks.shape[0], d.block_size)
