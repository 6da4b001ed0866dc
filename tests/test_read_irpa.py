"""The IRPA reader against what IREE's own tools write and its runtime loads."""

import struct

import pytest

from irpa_core import ArchiveError, open_archive, read_bytes
from irpa_core.formats import irpa as fmt
from tests import oracle


def _create(path, *flags):
    oracle.run_tool("iree-create-parameters", f"--output={path}", *flags)
    return path


def _same_as_reference(path):
    ours = open_archive(path)
    ref = oracle.load(path)
    assert [e.name for e in ours] and {e.name for e in ours} == set(ref)
    for e in ours:
        r = ref[e.name]
        assert (e.kind if e.kind != "external" else "data") == r.kind, e.name
        assert e.length == r.length, e.name
        if e.kind == "splat":
            assert e.pattern == r.pattern, e.name
        else:
            assert read_bytes(e) == r.data, e.name
    return ours


def test_reference_created_archive(tmp_path):
    p = _create(
        tmp_path / "a.irpa",
        "--data=w0=4x4xf32",
        "--data=w1=3xi8",
        "--data=w2=2x2xf16",
        "--splat=s0=16xf32=0.5",
        "--splat=s1=8xi16=-3",
        "--splat=s2=64xi8=1",
    )
    ours = _same_as_reference(p)
    by = {e.name: e for e in ours}
    assert by["s1"].pattern == struct.pack("<h", -3)
    assert by["w0"].offset % 64 == 0 and by["w0"].alignment == 64


def test_convert_from_safetensors_and_gguf_sources(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    st = tmp_path / "m.safetensors"
    save_file({"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.ones(5, np.int8)}, str(st))
    out = tmp_path / "m.irpa"
    oracle.run_tool("iree-convert-parameters", f"--parameters={st}", f"--output={out}", "--splat=b=i8=9")
    ours = _same_as_reference(out)
    assert {e.name: e.kind for e in ours} == {"a": "data", "b": "splat"}


def _archive(entries, storage=b"", next_offset=0, version=(0, 0)):
    """Hand-built archive: entries are (type, name, tail bytes, metadata)."""
    meta = bytearray()
    table = bytearray()
    for etype, name, tail, md in entries:
        n_off = len(meta)
        meta += name
        m_off = len(meta)
        meta += md
        body = (
            fmt.ENTRY.pack(fmt.ENTRY.size + len(tail), etype, 0, n_off, len(name), m_off if md else 0, len(md), 0)
            + tail
        )
        table += body + b"\0" * (-len(body) % 16)
    e_off = 96
    m_off = e_off + len(table)
    s_off = -(-(m_off + len(meta)) // 64) * 64
    header = fmt.HEADER.pack(
        fmt.MAGIC,
        version[0],
        version[1],
        88,
        next_offset,
        0,
        len(entries),
        e_off,
        len(table),
        m_off,
        len(meta),
        s_off,
        len(storage),
    )
    blob = header + b"\0" * 8 + table + meta
    return blob + b"\0" * (s_off - len(blob)) + storage


def test_skip_external_and_metadata(tmp_path):
    ext = tmp_path / "weights.bin"
    ext.write_bytes(bytes(range(64)))
    from irpa_core import dtypes
    from irpa_core.formats import pytorch_meta

    md = pytorch_meta.encode(dtypes.by_name("f32"), (2, 2), 16)
    path = tmp_path / "a.irpa"
    entries = [
        (fmt.TYPE_SKIP, b"gone", b"", b""),
        (fmt.TYPE_DATA, b"d", fmt.DATA_TAIL.pack(0, 16), md),
        (fmt.TYPE_SPLAT, b"s", fmt.SPLAT_TAIL.pack(12, b"\1\2\3\4" + b"\0" * 12, 4), b""),
        (fmt.TYPE_EXTERNAL, b"x", None, b""),
    ]
    # names: gone(4) d(1) + md, s(1), x(1); path after them.
    path_off = 4 + 1 + len(md) + 1 + 1
    entries[3] = (fmt.TYPE_EXTERNAL, b"x", fmt.EXTERNAL_TAIL.pack(path_off, len(b"weights.bin"), 8, 4), b"")
    blob = _archive(entries, storage=bytes(range(100, 116)))
    # The external path goes at the end of the metadata segment.
    hdr = list(fmt.HEADER.unpack_from(blob))
    m_start, m_len = hdr[9], hdr[10]
    meta_end = m_start + m_len
    assert meta_end + 11 <= hdr[11]  # room before storage (64-byte alignment padding)
    blob = bytearray(blob)
    blob[meta_end : meta_end + 11] = b"weights.bin"
    hdr[10] = m_len + 11
    blob[:88] = fmt.HEADER.pack(*hdr)
    path.write_bytes(bytes(blob))

    a = open_archive(path)
    by = {e.name: e for e in a}
    assert list(by) == ["d", "s", "x"]
    assert read_bytes(by["d"]) == bytes(range(100, 116))
    assert by["d"].dtype.name == "f32" and by["d"].shape == (2, 2)
    assert by["s"].pattern == b"\1\2\3\4" and read_bytes(by["s"]) == b"\1\2\3\4" * 3
    assert by["x"].kind == "external" and read_bytes(by["x"]) == bytes(range(8, 12))
    assert by["x"].file == str(ext)
    assert by["x"].dtype is None and by["x"].shape is None


def test_linked_archives(tmp_path):
    first = _archive([(fmt.TYPE_DATA, b"a", fmt.DATA_TAIL.pack(0, 4), b"")], storage=b"AAAA")
    first += b"\0" * (-len(first) % 64)
    second = _archive([(fmt.TYPE_DATA, b"b", fmt.DATA_TAIL.pack(0, 4), b"")], storage=b"BBBB")
    hdr = list(fmt.HEADER.unpack_from(first))
    hdr[4] = len(first)
    first = fmt.HEADER.pack(*hdr) + first[88:]
    p = tmp_path / "linked.irpa"
    p.write_bytes(first + second)
    a = open_archive(p)
    assert [(e.name, read_bytes(e)) for e in a] == [("a", b"AAAA"), ("b", b"BBBB")]


def test_linked_header_past_the_end_is_caught(tmp_path):
    # Offsets are unsigned and forward-only, so a chain cannot loop back;
    # a next_header_offset beyond the file is the failure to catch.
    blob = _archive([(fmt.TYPE_DATA, b"a", fmt.DATA_TAIL.pack(0, 4), b"")], storage=b"AAAA")
    for bad in (len(blob), 2**64 - 1, 2**63):
        hdr = list(fmt.HEADER.unpack_from(blob))
        hdr[4] = bad
        p = tmp_path / "chain.irpa"
        p.write_bytes(fmt.HEADER.pack(*hdr) + blob[88:])
        with pytest.raises(ArchiveError, match="past the end"):
            open_archive(p)


@pytest.mark.parametrize("version", [(0, 1), (1, 0)])
def test_newer_versions_refused(tmp_path, version):
    p = tmp_path / "v.irpa"
    p.write_bytes(_archive([], version=version))
    with pytest.raises(ArchiveError, match=f"version {version[0]}.{version[1]} is not supported"):
        open_archive(p)


def test_errors_name_file_and_offset(tmp_path):
    p = tmp_path / "bad.irpa"
    p.write_bytes(_archive([(fmt.TYPE_DATA, b"a", fmt.DATA_TAIL.pack(0, 400), b"")], storage=b"AAAA"))
    with pytest.raises(ArchiveError) as ei:
        open_archive(p)
    msg = str(ei.value)
    assert str(p) in msg and "'a'" in msg and "storage segment" in msg
    with pytest.raises(ArchiveError, match="no such file"):
        open_archive(tmp_path / "missing.irpa")
    with pytest.raises(ArchiveError, match=r"holds no model\.safetensors\.index\.json, safetensors or GGUF"):
        open_archive(tmp_path)


def test_scope_is_recorded(tmp_path):
    p = _create(tmp_path / "a.irpa", "--data=w=4xf32")
    a = open_archive(f"model={p}")
    assert a.files[0].scope == "model" and a.entries[0].scope == "model"
