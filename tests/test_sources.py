"""LocalSource and open_source: exact reads, bounds, chunks, copies, and no
remote imports for local work."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from irpa_core import ArchiveError, Cancelled
from irpa_core.sources import LocalSource, Source, is_remote, open_source
from tests.httpserver import write_random

SIZE = 300_001


@pytest.fixture
def blob(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "blob.bin"
    return path, write_random(path, SIZE)


def random_ranges(size: int, count: int = 200, seed: int = 1) -> list[tuple[int, int]]:
    """Random (offset, n) inside a file, plus the edges: empty reads, the
    last byte, the whole file."""
    rng = random.Random(seed)
    out = [(0, 0), (size, 0), (size - 1, 1), (0, size), (0, 1)]
    for _ in range(count):
        off = rng.randrange(size)
        out.append((off, rng.randrange(min(size - off, rng.choice([16, 5000, size])) + 1)))
    return out


def test_local_reads_match_file(blob: tuple[Path, bytes]) -> None:
    path, data = blob
    with open_source(str(path)) as src:
        assert isinstance(src, LocalSource)
        assert src.size == SIZE and src.name == str(path)
        for off, n in random_ranges(SIZE):
            assert src.read(off, n) == data[off : off + n]
            buf = bytearray(n)
            assert src.readinto(off, buf) == n
            assert buf == data[off : off + n]
        assert src.bytes_fetched > 0


@pytest.mark.parametrize("off, n", [(SIZE, 1), (SIZE - 1, 2), (0, SIZE + 1), (SIZE + 5, 0), (-1, 1), (0, -1)])
def test_local_out_of_range_is_one_line_archive_error(blob: tuple[Path, bytes], off: int, n: int) -> None:
    path, _ = blob
    with LocalSource(path) as src:
        with pytest.raises(ArchiveError) as e:
            src.read(off, n)
        assert "\n" not in str(e.value) and str(path) in str(e.value)
        if n >= 0:
            with pytest.raises(ArchiveError):
                src.readinto(off, bytearray(n))


def test_local_read_of_a_file_cut_after_open_is_an_archive_error(blob: tuple[Path, bytes]) -> None:
    path, data = blob
    with LocalSource(path) as src:
        os.truncate(path, SIZE // 2)
        assert src.read(0, SIZE // 2) == data[: SIZE // 2]
        with pytest.raises(ArchiveError) as e:
            src.read(SIZE // 4, SIZE // 2)
    assert "truncated while being read" in str(e.value) and "\n" not in str(e.value)


def test_local_read_finishes_a_short_read(blob: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    """A pread may return fewer bytes than asked: the rest is read after it."""
    path, data = blob
    real = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, n, off: real(fd, max(1, n // 3), off))
    with LocalSource(path) as src:
        assert src.read(11, 100_000) == data[11:100_011]
        assert src.bytes_fetched == 100_000


def test_range_error_names_what_was_read(blob: tuple[Path, bytes]) -> None:
    path, _ = blob
    with LocalSource(path) as src, pytest.raises(ArchiveError) as e:
        src.read(SIZE - 10, 1 << 62, "the data of 'w'")  # checked before allocating
    assert e.value.offset == SIZE - 10
    assert "file ends inside the data of 'w'" in str(e.value)


def test_local_iter_chunks_and_copy(blob: tuple[Path, bytes], tmp_path: Path) -> None:
    path, data = blob
    with LocalSource(path) as src:
        chunks = list(src.iter_chunks(7, SIZE - 7, chunk=65536))
        assert [len(c) for c in chunks[:-1]] == [65536] * (len(chunks) - 1)
        assert b"".join(chunks) == data[7:]
        assert list(src.iter_chunks(5, 0)) == []
        out = tmp_path / "out.bin"
        fd = os.open(out, os.O_RDWR | os.O_CREAT)
        try:
            seen: list[int] = []
            assert src.copy_range_to(fd, 100, SIZE - 100, 10, progress=seen.append) == SIZE - 100
        finally:
            os.close(fd)
        assert out.read_bytes() == b"\0" * 10 + data[100:]
        assert sum(seen) == SIZE - 100


def test_local_cancel_between_chunks(blob: tuple[Path, bytes]) -> None:
    path, _ = blob
    cancel = threading.Event()
    with LocalSource(path, cancel=cancel) as src:
        chunks = src.iter_chunks(0, SIZE, chunk=1000)
        next(chunks)
        cancel.set()
        with pytest.raises(Cancelled):
            next(chunks)


def test_local_open_errors(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="no such file"):
        open_source(str(tmp_path / "missing"))
    with pytest.raises(ArchiveError, match="is a directory"):
        open_source(str(tmp_path))
    src = LocalSource(write_random_path(tmp_path))
    src.close()
    src.close()  # twice is fine
    with pytest.raises(ArchiveError, match="closed"):
        src.read(0, 1)


def write_random_path(tmp_path: Path) -> Path:
    path = tmp_path / "small.bin"
    write_random(path, 10)
    return path


def test_truncated_while_open(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    write_random(path, 1000)
    with LocalSource(path) as src:
        os.truncate(path, 500)
        with pytest.raises(ArchiveError, match="truncated"):
            src.read(400, 200)


@pytest.mark.parametrize(
    "spec, remote",
    [
        ("http://x/y", True),
        ("HTTPS://x/y", True),
        ("hf://org/repo", True),
        ("model.gguf", False),
        ("./hf:/x", False),
        ("/abs/path", False),
        ("file.safetensors", False),
        ("httpx.gguf", False),
    ],
)
def test_is_remote(spec: str, remote: bool) -> None:
    assert is_remote(spec) is remote


def test_source_is_abstract_about_reading() -> None:
    src = Source("x")
    src.size = 4
    with pytest.raises(NotImplementedError):
        src.read(0, 1)


_NO_REMOTE = (
    "import sys\n"
    "from irpa_core.cli import main\n"
    "from irpa_core.sources import open_source\n"
    "open_source(sys.argv[1]).close()\n"
    "rc = main(['dump', sys.argv[1]])\n"
    "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'httpx2', 'httpcore', 'huggingface_hub')"
    " or m in ('irpa_core.remote', 'irpa_core.hub'))\n"
    "print('REMOTE', bad, file=sys.stderr)\n"
    "sys.exit(rc or bool(bad))\n"
)


def test_local_dump_imports_no_remote_modules(tmp_path: Path) -> None:
    import numpy as np

    from tests.fixtures import make_safetensors

    path = make_safetensors(tmp_path / "m.safetensors", {"w": np.zeros((2, 3), np.float32)})
    r = subprocess.run(
        [sys.executable, "-c", _NO_REMOTE, str(path)], check=False, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert "REMOTE []" in r.stderr
    assert "w" in r.stdout
