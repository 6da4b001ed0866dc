"""Property tests: a malformed file raises ArchiveError and nothing else.

Structure-aware mutations of valid fixtures for each reader: truncation at
every boundary, byte flips, extreme values in counts, lengths and offsets,
out-of-range segments, invalid UTF-8. A modest, derandomized number of
examples runs in the suite; ``bench/fuzz_campaign.py`` runs long campaigns.
"""

import contextlib
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from irpa_core import ArchiveError, open_archive, read_bytes
from irpa_core.formats import irpa as F
from tests.fixtures import make_gguf, make_safetensors, quantized_bytes

EXTREMES = [0, 1, 2**31 - 1, 2**32 - 1, 2**63 - 1, 2**63, 2**64 - 1]
SETTINGS = settings(
    max_examples=120, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)


def check_open(path: str) -> None:
    """The property: open fails with ArchiveError, or succeeds and every
    entry's first bytes read fine or fail with ArchiveError; bounded time."""
    t = time.perf_counter()
    try:
        a = open_archive(path)
    except ArchiveError:
        return
    for e in a.entries:
        n = min(e.length, 1 << 16)
        with contextlib.suppress(ArchiveError):
            read_bytes(e, 0, n)
        for v in e.metadata, e.name:
            assert v is not None
    for f in a.files:
        for v in f.metadata.values():
            if hasattr(v, "items") and hasattr(v, "count"):
                with contextlib.suppress(ArchiveError):
                    v.items(4)
    assert time.perf_counter() - t < 5


# ---------------------------------------------------------------------------
# Seeds: small valid files of each format, and where their fields are


def irpa_seed(tmp):
    from irpa_core.cli import main

    p = os.path.join(tmp, "seed.irpa")
    st_path = make_safetensors(
        os.path.join(tmp, "s.safetensors"), {"a": np.arange(6, dtype=np.float32), "b": np.ones(4, np.int8)}
    )
    assert main(["convert", f"--parameters={st_path}", f"--output={p}", "--quiet", "--splat=b=i8=2"]) == 0
    blob = Path(p).read_bytes()
    fields = [(8 + 8 * k, 8) for k in range(10)]  # header u64s from header_size on
    hdr = F.HEADER.unpack_from(blob)
    pos = hdr[7]
    for _ in range(hdr[6]):
        size = struct.unpack_from("<Q", blob, pos)[0]
        fields += [
            (pos, 8),
            (pos + 8, 4),
            (pos + 20, 8),
            (pos + 28, 8),
            (pos + 36, 8),
            (pos + 44, 8),
            (pos + 60, 8),
            (pos + 68, 8),
        ]
        pos += -(-size // 16) * 16
    return blob, fields


def gguf_seed(tmp):
    p = make_gguf(
        os.path.join(tmp, "seed.gguf"),
        {"w": np.ones((2, 32), np.float32), "q": ("Q8_0", quantized_bytes("Q8_0", 2, 32))},
        kv={"general.name": "x", "tokenizer.ggml.tokens": ["a", "bb", "ccc"], "x.f": [1.0, 2.0]},
    )
    blob = Path(p).read_bytes()
    return blob, _gguf_fields(blob)


def _gguf_fields(b):
    """(offset, size) of every count, length, type and offset field."""
    out = [(4, 4), (8, 8), (16, 8)]
    pos = 24
    n_t, n_kv = struct.unpack_from("<QQ", b, 8)

    def string():
        nonlocal pos
        out.append((pos, 8))
        n = struct.unpack_from("<Q", b, pos)[0]
        pos += 8 + n

    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def value(t):
        nonlocal pos
        if t in sizes:
            pos += sizes[t]
        elif t == 8:
            string()
        elif t == 9:
            out.append((pos, 4))
            et = struct.unpack_from("<I", b, pos)[0]
            pos += 4
            out.append((pos, 8))
            n = struct.unpack_from("<Q", b, pos)[0]
            pos += 8
            for _ in range(n):
                value(et)

    for _ in range(n_kv):
        string()
        out.append((pos, 4))
        t = struct.unpack_from("<I", b, pos)[0]
        pos += 4
        value(t)
    for _ in range(n_t):
        string()
        out.append((pos, 4))
        nd = struct.unpack_from("<I", b, pos)[0]
        pos += 4
        for _ in range(nd):
            out.append((pos, 8))
            pos += 8
        out.append((pos, 4))
        pos += 4
        out.append((pos, 8))
        pos += 8
    return out


def st_seed(tmp):
    p = make_safetensors(
        os.path.join(tmp, "seed.safetensors"),
        {"a": np.arange(6, dtype=np.float32), "b": np.ones((2, 2), np.int16)},
        metadata={"format": "pt"},
    )
    return open(p, "rb").read(), [(0, 8)]


SEEDS = {"irpa": irpa_seed, "gguf": gguf_seed, "safetensors": st_seed}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("seeds"))
    return {k: f(tmp) for k, f in SEEDS.items()}


# ---------------------------------------------------------------------------
# Mutations


def mutate(blob: bytes, fields, data) -> bytes:
    b = bytearray(blob)
    kind = data.draw(st.sampled_from(["field", "field", "truncate", "flip", "splice", "utf8"]))
    if kind == "field" and fields:
        off, size = data.draw(st.sampled_from(fields))
        v = data.draw(
            st.sampled_from([*EXTREMES, len(blob), len(blob) * 3, len(blob) - 1]) | st.integers(0, 2 ** (8 * size) - 1)
        )
        b[off : off + size] = (v % 2 ** (8 * size)).to_bytes(size, "little")
    elif kind == "truncate":
        b = b[: data.draw(st.integers(0, len(b)))]
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(b) - 1))
            b[i] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "splice":  # overlapping / repeated segments
        i = data.draw(st.integers(0, len(b) - 1))
        j = data.draw(st.integers(0, len(b) - 1))
        n = data.draw(st.integers(1, 64))
        b[i : i + n] = blob[j : j + n]
    else:  # invalid UTF-8 somewhere
        i = data.draw(st.integers(0, len(b) - 1))
        b[i : i + 2] = b"\xff\xfe"
    return bytes(b)


@pytest.mark.parametrize("fmt", list(SEEDS))
@SETTINGS
@given(data=st.data())
def test_mutated_files_raise_only_archive_error(fmt, seeds, tmp_path_factory, data):
    blob, fields = seeds[fmt]
    path = os.path.join(str(tmp_path_factory.getbasetemp()), f"fuzz.{fmt}")
    with open(path, "wb") as f:
        f.write(mutate(blob, fields, data))
    check_open(path)


def test_every_truncation_point(seeds, tmp_path):
    for fmt, (blob, _) in seeds.items():
        path = str(tmp_path / f"t.{fmt}")
        for n in range(min(len(blob), 1200)):
            with open(path, "wb") as f:
                f.write(blob[:n])
            check_open(path)


def test_duplicate_names_and_bad_json(tmp_path):
    # safetensors with a duplicate key (JSON keeps the last) and extreme offsets
    h = (
        b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], '
        b'"data_offsets": [18446744073709551615, 18446744073709551615]}}'
    )
    p = tmp_path / "d.safetensors"
    p.write_bytes(struct.pack("<Q", len(h)) + h + bytes(4))
    with pytest.raises(ArchiveError):
        open_archive(p)
    # deeply nested JSON header
    h = b'{"a":' * 5000 + b"1" + b"}" * 5000
    p.write_bytes(struct.pack("<Q", len(h)) + h)
    with pytest.raises(ArchiveError):
        open_archive(p)
