"""GGUF reader (versions 2 and 3, little-endian), lazy about arrays.

The header is parsed with ``struct.unpack_from`` from one buffer: a map of
the whole file when it is local, else bytes read ahead from the start in
growing blocks until the tensor table is parsed (a remote file's header
costs about its own size, whatever the data after it). Arrays are recorded
as ``GGUFArray`` (offset, element type, count) and decoded only when asked:
skipping a 262,144-string tokenizer means walking its length prefixes,
nothing more. Tensor shapes are reversed to row-major; byte sizes come from
the ggml type table in ``irpa_core.dtypes``.
"""

from __future__ import annotations

import struct
from itertools import repeat

from .. import dtypes
from ..errors import ArchiveError
from ..model import DATA, Entry
from ..sources import Source, open_source
from .registry import GGUF_ALIGNMENT as DEFAULT_ALIGNMENT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

MAGIC = b"GGUF"
# The keys of a split model's shards (llama.cpp's gguf-split): which shard,
# how many, how many tensors in all. Layout, not metadata.
SPLIT_NO = "split.no"
SPLIT_COUNT = "split.count"
SPLIT_TENSORS_COUNT = "split.tensors.count"
SPLIT_KEYS = (SPLIT_NO, SPLIT_COUNT, SPLIT_TENSORS_COUNT)

# value type id -> (name, struct format or None for string/array)
T_STRING, T_ARRAY = 8, 9
# The range of each GGUF integer type (the writers' and the dataset JSON's checks).
INT_RANGES = {
    "u8": (0, 0xFF),
    "i8": (-0x80, 0x7F),
    "u16": (0, 0xFFFF),
    "i16": (-0x8000, 0x7FFF),
    "u32": (0, 0xFFFFFFFF),
    "i32": (-0x80000000, 0x7FFFFFFF),
    "u64": (0, 0xFFFFFFFFFFFFFFFF),
    "i64": (-0x8000000000000000, 0x7FFFFFFFFFFFFFFF),
}
_SCALAR = {
    0: ("u8", "<B"),
    1: ("i8", "<b"),
    2: ("u16", "<H"),
    3: ("i16", "<h"),
    4: ("u32", "<I"),
    5: ("i32", "<i"),
    6: ("f32", "<f"),
    7: ("bool", "<?"),
    10: ("u64", "<Q"),
    11: ("i64", "<q"),
    12: ("f64", "<d"),
}
_STRUCTS = {t: struct.Struct(f) for t, (_, f) in _SCALAR.items()}
TYPE_NAMES = {**{t: n for t, (n, _) in _SCALAR.items()}, T_STRING: "string", T_ARRAY: "array"}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class GGUFArray:
    """A metadata array left in the header until someone asks for its items.
    ``header`` is the parsed header buffer (it covers every array)."""

    __slots__ = ("_items", "count", "header", "nbytes", "offset", "path", "type")

    def __init__(self, path: str, offset: int, type: int, count: int, nbytes: int = 0, header=b""):
        # offset/nbytes: where the encoded items lie in the file (after the
        # element type and count), so a writer can copy them verbatim.
        self.path, self.offset, self.type, self.count, self.nbytes = path, offset, type, count, nbytes
        self.header = header
        self._items: list | None = None

    def raw(self) -> bytes:
        """The encoded items, as in the file (after element type and count)."""
        if self.offset + self.nbytes > len(self.header):
            raise ArchiveError(self.path, self.offset, "a metadata array lies outside the header that was read")
        return bytes(self.header[self.offset : self.offset + self.nbytes])

    def encoded(self, prefix: bytes) -> bytes:
        """``prefix``, then the array as GGUF encodes it (element type,
        count, items), in one copy from the header: a 262,144-token
        vocabulary is megabytes, and each copy into fresh memory costs."""
        if self.offset + self.nbytes > len(self.header):
            raise ArchiveError(self.path, self.offset, "a metadata array lies outside the header that was read")
        with memoryview(self.header) as view, view[self.offset : self.offset + self.nbytes] as items:
            return b"".join((prefix, _U32.pack(self.type), _U64.pack(self.count), items))

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type, str(self.type))

    def items(self, limit: int | None = None) -> list:
        """The first ``limit`` items (all when None), decoded from the file."""
        n = self.count if limit is None else min(limit, self.count)
        if self._items is not None and len(self._items) >= n:
            return self._items[:n]
        p = _Parser(self.header, self.path, len(self.header))
        p.pos = self.offset
        out = [p.value(self.type) for _ in range(n)]
        if limit is None or n == self.count:
            self._items = out
        return out

    def summary(self, first: int = 3) -> str:
        head = self.items(first)
        shown = ", ".join(repr(x) if isinstance(x, str) else str(x) for x in head)
        more = ", ..." if self.count > len(head) else ""
        return f"[{self.type_name} x {self.count}: {shown}{more}]"

    def to_json(self, first: int | None = 3) -> dict:
        items = self.items(first)
        return {
            "type": self.type_name,
            "count": self.count,
            "items" if first is None else "first": [_jsonable(x) for x in items],
        }

    def __repr__(self) -> str:
        return f"GGUFArray({self.type_name} x {self.count})"


def _jsonable(x):
    if isinstance(x, GGUFArray):
        return x.to_json(None)
    if isinstance(x, float) and x != x:
        return None
    return x


class _Parser:
    """Cursor over the header; every read checks the bytes left in the file
    (``size``). ``buf`` holds the file's first bytes: all of them (a local
    map), or as many as parsed so far, read ahead from ``source`` in growing
    blocks when the cursor runs past them."""

    __slots__ = ("arrays", "buf", "path", "pos", "size", "source", "step")

    def __init__(self, buf, path: str, size: int, source: Source | None = None):
        self.buf, self.path, self.pos, self.size, self.source = buf, path, 0, size, source
        self.step = source.read_ahead if source is not None else 0
        self.arrays: list[GGUFArray] = []  # given the final buffer once the header is parsed

    def fail(self, reason: str, at: int | None = None) -> NoReturn:
        raise ArchiveError(self.path, self.pos if at is None else at, reason)

    def need(self, n: int, what: str):
        if n > self.size - self.pos:
            self.fail(f"file ends inside {what}")
        if self.pos + n > len(self.buf):
            self.grow(self.pos + n)

    def grow(self, end: int, hint: int = 0) -> None:
        """Read more of the file so that ``buf`` reaches at least ``end``
        (and ``hint``, a guess of where the current array ends): one
        read-ahead block past what is held, or more when asked, up to a
        block boundary (so that reads never overlap in a remote block)."""
        have = len(self.buf)
        if self.source is None or have >= self.size or end <= have:
            return
        step = self.step
        target = max(end, hint, have + step)
        target = min(self.size, -(-target // step) * step)
        # One buffer grown in place (a bytearray): no copy of what is held.
        self.buf.extend(bytes(target - have))
        with memoryview(self.buf) as view:
            self.source.readinto(have, view[have:])

    def u32(self, what: str) -> int:
        self.need(4, what)
        (v,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return v

    def u64(self, what: str) -> int:
        self.need(8, what)
        (v,) = _U64.unpack_from(self.buf, self.pos)
        self.pos += 8
        return v

    def string(self, what: str, lenient: bool = False) -> str:
        """``lenient``: bytes that are not UTF-8 are kept (``surrogateescape``)
        rather than refused: metadata values (a tokenizer's byte tokens),
        as llama.cpp, which does not check them, reads them."""
        at = self.pos
        n = self.u64(what)
        self.need(n, what)
        raw = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        try:
            return raw.decode("utf-8", "surrogateescape" if lenient else "strict")
        except UnicodeDecodeError:
            self.fail(f"{what} is not valid UTF-8", at)

    def value(self, vtype: int, what: str = "a metadata value", depth: int = 0):
        s = _STRUCTS.get(vtype)
        if s is not None:
            self.need(s.size, what)
            (v,) = s.unpack_from(self.buf, self.pos)
            self.pos += s.size
            return v
        if vtype == T_STRING:
            return self.string(what, lenient=True)
        if vtype == T_ARRAY:
            return self.array(what, depth)
        self.fail(f"{what} has unknown value type {vtype}")

    def array(self, what: str, depth: int = 0) -> GGUFArray:
        if depth > 8:
            self.fail(f"{what} nests arrays too deeply")
        etype = self.u32(what)
        count = self.u64(what)
        start = self.pos
        s = _STRUCTS.get(etype)
        if s is not None:
            if count > (self.size - self.pos) // s.size:
                self.fail(f"{what}: {count} items of {TYPE_NAMES[etype]} run past the end of the file", start)
            self.pos += count * s.size  # read with whatever follows it
        elif etype == T_STRING:
            self._skip_strings(count, what)
        elif etype == T_ARRAY:
            if count > (self.size - self.pos) // 12:
                self.fail(f"{what}: {count} nested arrays run past the end of the file", start)
            for _ in range(count):
                self.array(what, depth + 1)
        else:
            self.fail(f"{what} has unknown element type {etype}", start - 12)
        arr = GGUFArray(self.path, start, etype, count, self.pos - start, self.buf)
        self.arrays.append(arr)
        return arr

    def _skip_strings(self, count: int, what: str):
        # The hot loop of opening a model with a big tokenizer: one unpack
        # per string, no decoding.
        size, unpack = self.size, _U64.unpack_from
        if count > (size - self.pos) // 8:
            self.fail(f"{what}: {count} strings run past the end of the file")
        pos = self.pos
        if len(self.buf) >= size:  # all of the file at hand (a local map)
            buf = self.buf
            try:
                # No bounds test per string: unpack_from raises past the end.
                # Eight strings per turn of the loop: a sixth less time.
                eights, rest = divmod(count, 8)
                for _ in repeat(None, eights):
                    pos += unpack(buf, pos)[0] + 8
                    pos += unpack(buf, pos)[0] + 8
                    pos += unpack(buf, pos)[0] + 8
                    pos += unpack(buf, pos)[0] + 8
                    pos += unpack(buf, pos)[0] + 8
                    pos += unpack(buf, pos)[0] + 8
                    pos += unpack(buf, pos)[0] + 8
                    pos += unpack(buf, pos)[0] + 8
                for _ in repeat(None, rest):
                    pos += unpack(buf, pos)[0] + 8
            except (struct.error, OverflowError):  # a length that jumps past the file
                self.fail(f"file ends inside {what}")
        else:
            pos = self._skip_strings_growing(pos, count, what)
        if pos > size:
            self.fail(f"file ends inside {what}")
        self.pos = pos

    def _skip_strings_growing(self, pos: int, count: int, what: str) -> int:
        """The same walk over a buffer read ahead as needed, eight strings
        at a time from the last group of eight known to be in the buffer.
        When it runs out, the mean string so far predicts where the array
        ends, so a big tokenizer costs a few reads and little past its own
        bytes."""
        start, done, unpack = pos, 0, _U64.unpack_from
        while True:
            buf = self.buf
            try:
                while done + 8 <= count:
                    p = pos
                    p += unpack(buf, p)[0] + 8
                    p += unpack(buf, p)[0] + 8
                    p += unpack(buf, p)[0] + 8
                    p += unpack(buf, p)[0] + 8
                    p += unpack(buf, p)[0] + 8
                    p += unpack(buf, p)[0] + 8
                    p += unpack(buf, p)[0] + 8
                    p += unpack(buf, p)[0] + 8
                    pos = p
                    done += 8
                while done < count:
                    pos += unpack(buf, pos)[0] + 8
                    done += 1
                return pos
            except struct.error:
                if pos + 8 > self.size or len(self.buf) >= self.size:  # the walk runs past the file
                    self.fail(f"file ends inside {what}")
                mean = (pos - start) / done if done else 16
                # More than is held (the string that ran out may lie past
                # the guess), and at least 64 prefixes more.
                end = max(len(self.buf) + 1, pos + 64 * 8 + 8 * int(mean))
                self.grow(end, pos + int((count - done) * mean * 1.02) + 4096)
            except OverflowError:
                self.fail(f"file ends inside {what}")


def read_gguf(source: Source | str, scope: str = "") -> tuple[list[Entry], dict, dict[str, str], int]:
    """Entries, metadata (key -> value; arrays lazy), the GGUF value type
    name of each key (``u32``, ``f32``, ``string``, ``array``...) and where
    the tensor data ends (past the file's size when it is cut off)."""
    if not isinstance(source, Source):  # a path: the entries keep the file open
        source = open_source(source)
    path, size = source.name, source.size
    if size < 24:
        raise ArchiveError(path, 0, f"file too small for a GGUF header ({size} bytes)")
    mapped = getattr(source, "map", lambda: None)()
    if mapped is not None:
        p = _Parser(mapped, path, size)
    else:
        p = _Parser(bytearray(source.read(0, min(size, source.read_ahead))), path, size, source)
    return _parse(p, source, scope)


def _parse(p: _Parser, source: Source, scope: str) -> tuple[list[Entry], dict, dict[str, str], int]:
    path, size = p.path, p.size
    if p.buf[:4] != MAGIC:
        p.fail("not a GGUF file", 0)
    p.pos = 4
    version = p.u32("the version")
    if version not in (2, 3):
        if version & 0xFFFF == 0 and (version >> 24) in (2, 3):
            p.fail("big-endian GGUF files are not supported", 4)
        p.fail(f"GGUF version {version} is not supported (2 and 3 are)", 4)
    tensor_count = p.u64("the tensor count")
    kv_count = p.u64("the key/value count")
    # Each kv takes at least 12 bytes, each tensor info at least 24.
    if kv_count > (size - p.pos) // 12:
        p.fail(f"kv_count {kv_count} cannot fit in the file", 16)
    if tensor_count > (size - p.pos) // 24:
        p.fail(f"tensor_count {tensor_count} cannot fit in the file", 8)

    metadata: dict = {}
    types: dict[str, str] = {}
    for i in range(kv_count):
        key = p.string(f"the key of metadata entry {i}")
        vtype = p.u32(f"the type of '{key}'")
        metadata[key] = p.value(vtype, f"the value of '{key}'")
        types[key] = TYPE_NAMES[vtype]

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment <= 0 or alignment & (alignment - 1):
        p.fail(f"general.alignment {alignment!r} is not a power of two")

    infos = []
    for i in range(tensor_count):
        at = p.pos
        name = p.string(f"the name of tensor {i}")
        n_dims = p.u32(f"the dimension count of '{name}'")
        if n_dims > 64:
            p.fail(f"tensor '{name}' has {n_dims} dimensions", p.pos - 4)
        p.need(8 * n_dims + 12, f"the info of tensor '{name}'")
        dims = struct.unpack_from(f"<{n_dims}Q", p.buf, p.pos)
        p.pos += 8 * n_dims
        gtype = p.u32(f"the type of '{name}'")
        offset = p.u64(f"the offset of '{name}'")
        infos.append((at, name, dims, gtype, offset))

    data_start = -(-p.pos // alignment) * alignment
    p.grow(p.pos)  # every array is in the buffer, even one that ends the header
    for arr in p.arrays:
        arr.header = p.buf
    entries: list[Entry] = []
    seen: set[str] = set()
    data_end = 0
    for at, name, dims, gtype, offset in infos:
        if name in seen:
            raise ArchiveError(path, at, f"tensor '{name}' appears twice")
        seen.add(name)
        dtype = dtypes.from_ggml(gtype)
        if dtype is None:
            raise ArchiveError(path, at, f"tensor '{name}' has unknown ggml type {gtype}")
        count = 1
        for d in dims:
            count *= d
        if dims and dims[0] % dtype.block_size:
            raise ArchiveError(
                path,
                at,
                f"tensor '{name}': first dimension {dims[0]} is not a multiple "
                f"of the {dtype.name} block size {dtype.block_size}",
            )
        length = count // dtype.block_size * dtype.type_size
        start = data_start + offset
        # A tensor past the end of the file is a cut-off download, not a
        # malformed header: it lists (model.entry_state says how much is there).
        if start + length > data_end:
            data_end = start + length
        entries.append(Entry(
            name=name, kind=DATA, length=length, file=path, offset=start, dtype=dtype,
            shape=tuple(reversed(dims)), alignment=alignment, scope=scope, source=source,
        ))  # fmt: skip
    return entries, metadata, types, data_end
