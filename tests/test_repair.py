"""``irpa repair``: a cut-off or damaged local file completed from a copy on
the test HTTP server, fetching only what is missing (the server counts what
it sends), resumable, and refusing another file."""

from __future__ import annotations

import contextlib
import io
import threading
from pathlib import Path

import numpy as np
import pytest

from irpa_core import ArchiveError, Cancelled
from irpa_core.cli import main
from irpa_core.remote import BLOCK, HttpSource
from irpa_core.repair import partial_path, repair
from tests.fixtures import make_gguf
from tests.httpserver import TestServer, serve


def make_model(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    t = {f"blk.{i}.w": rng.standard_normal(1 << 18).astype(np.float32) for i in range(3)}  # 1 MiB each
    t["norm"] = np.ones(64, np.float32)
    return make_gguf(path, t)


def gguf_hash_py(path: Path) -> str:
    import gguf
    from gguf.scripts.gguf_hash import gguf_hash

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        gguf_hash(gguf.GGUFReader(str(path)), str(path), True, False)
    return out.getvalue()


@pytest.fixture
def original(tmp_path: Path) -> bytes:
    return make_model(tmp_path / "orig.gguf").read_bytes()


def cut(tmp_path: Path, data: bytes, fraction: float) -> Path:
    p = tmp_path / "dl" / "model.gguf"
    p.parent.mkdir(exist_ok=True)
    p.write_bytes(data[: int(len(data) * fraction)])
    return p


def test_cut_off_file_fetches_only_the_missing_bytes(http_server: TestServer, tmp_path: Path, original: bytes):
    url = serve(http_server, tmp_path / "orig.gguf", "model.gguf")
    local = cut(tmp_path, original, 0.6)
    missing = len(original) - local.stat().st_size
    result = repair(str(local), url)
    assert local.read_bytes() == original
    assert result.missing == missing and result.changed and result.resumed_from is None
    sent = http_server.bytes_sent()
    assert result.fetched == sent <= missing + BLOCK  # the missing bytes and the first read-ahead block
    assert not Path(partial_path(str(local))).exists()


def test_a_dropped_connection_then_a_second_run_completes_it(
    http_server: TestServer, tmp_path: Path, original: bytes
) -> None:
    url = serve(http_server, tmp_path / "orig.gguf", "model.gguf")
    local = cut(tmp_path, original, 0.3)
    before = local.read_bytes()
    # No retry: the drop ends the run. Windows of 512 KiB in parallel parts of 128 KiB.
    src = HttpSource(url, max_retries=0, part_size=128 << 10)
    armed = []

    def progress(ev) -> None:
        if ev.name == "fetching" and ev.bytes_done >= len(before) + (600 << 10) and not armed:
            armed.append(True)
            http_server.drop_after = 50_000  # the next part, in the second window, dies after 50 kB

    with pytest.raises(ArchiveError, match="gave up"):
        repair(str(local), url, source=src, window=512 << 10, progress=progress)
    src.close()
    assert local.read_bytes() == before  # the input is untouched
    partial = Path(partial_path(str(local)))
    reached = int(Path(str(partial) + ".at").read_text())  # the last whole window's end
    assert len(before) + (512 << 10) <= reached < len(original) and partial.stat().st_size >= reached
    assert partial.read_bytes()[:reached] == original[:reached]
    http_server.reset()
    result = repair(str(local), url)
    assert local.read_bytes() == original and not partial.exists() and not Path(str(partial) + ".at").exists()
    assert result.resumed_from == (reached or None)
    assert result.fetched == http_server.bytes_sent() <= len(original) - reached + BLOCK


def test_cancel_then_run_again(http_server: TestServer, tmp_path: Path, original: bytes) -> None:
    url = serve(http_server, tmp_path / "orig.gguf", "model.gguf")
    local = cut(tmp_path, original, 0.1)
    stop = threading.Event()

    def progress(ev) -> None:
        if ev.name == "fetching":
            stop.set()

    with pytest.raises(Cancelled):
        repair(str(local), url, progress=progress, cancel=stop)
    assert Path(partial_path(str(local))).exists() and len(local.read_bytes()) < len(original)
    assert main(["repair", str(local), "--from", url, "--quiet"]) == 0
    assert local.read_bytes() == original


def test_manifest_refetches_exactly_the_tensor_that_differs(
    http_server: TestServer, tmp_path: Path, original: bytes
) -> None:
    import gguf

    url = serve(http_server, tmp_path / "orig.gguf", "model.gguf")
    manifest = tmp_path / "model.sha"
    manifest.write_text(gguf_hash_py(tmp_path / "orig.gguf"))
    t = next(t for t in gguf.GGUFReader(str(tmp_path / "orig.gguf")).tensors if t.name == "blk.1.w")
    damaged = bytearray(original)
    damaged[t.data_offset + 1000] ^= 0x10
    local = cut(tmp_path, bytes(damaged), 0.9)  # damaged inside, and cut off
    result = repair(str(local), url, manifest=str(manifest))
    assert local.read_bytes() == original
    assert result.refetched == ("blk.1.w",)
    missing = len(original) - int(len(original) * 0.9)
    assert result.fetched == http_server.bytes_sent() <= missing + t.n_bytes + BLOCK


def test_complete_file_is_left_as_it_is(http_server: TestServer, tmp_path: Path, original: bytes, capsys) -> None:
    url = serve(http_server, tmp_path / "orig.gguf", "model.gguf")
    local = cut(tmp_path, original, 1.0)
    manifest = tmp_path / "model.sha"
    manifest.write_text(gguf_hash_py(tmp_path / "orig.gguf"))
    mtime = local.stat().st_mtime_ns
    assert main(["repair", str(local), "--from", url, "--manifest", str(manifest)]) == 0
    assert "nothing to repair" in capsys.readouterr().out
    assert local.stat().st_mtime_ns == mtime and not Path(partial_path(str(local))).exists()


def test_another_file_is_refused(http_server: TestServer, tmp_path: Path, original: bytes, capsys) -> None:
    url = serve(http_server, tmp_path / "orig.gguf", "model.gguf")
    other = make_model(tmp_path / "other.gguf", seed=1)  # same header, other data: fine to complete
    blob = bytearray(other.read_bytes()[: len(original) // 2])
    blob[30] ^= 0xFF  # a header byte: another file
    local = tmp_path / "dl.gguf"
    local.write_bytes(blob)
    rc = main(["repair", str(local), "--from", url])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("irpa: error: ") and "header differs" in err and err.count("\n") == 1
    assert local.read_bytes() == blob and not Path(partial_path(str(local))).exists()
    local.write_bytes(original + b"more")
    rc = main(["repair", str(local), "--from", url])
    assert rc == 1 and "is longer than" in capsys.readouterr().err
    rc = main(["repair", str(local), "--from", str(tmp_path / "orig.gguf")])
    assert rc == 1 and "https:// URL or hf:// path" in capsys.readouterr().err


def test_repair_from_the_hub(hub_env: TestServer, tmp_path: Path, original: bytes, capsys) -> None:
    (hub_env.add_repo("org/m") / "model.gguf").write_bytes(original)
    local = cut(tmp_path, original, 0.5)
    assert main(["repair", str(local), "--from", "hf://org/m/model.gguf"]) == 0
    out = capsys.readouterr().out
    assert local.read_bytes() == original
    assert f"{len(original) - len(original) // 2:,} missing bytes" in out and "fetched" in out


def test_a_manifest_of_another_file_is_refused_before_fetching(
    http_server: TestServer, tmp_path: Path, original: bytes, capsys
) -> None:
    url = serve(http_server, tmp_path / "orig.gguf", "model.gguf")
    other = make_gguf(tmp_path / "other.gguf", {"x": np.ones(8, np.float32)})
    manifest = tmp_path / "other.sha"
    manifest.write_text(gguf_hash_py(other))
    local = cut(tmp_path, original, 0.5)
    rc = main(["repair", str(local), "--from", url, "--manifest", str(manifest)])
    err = capsys.readouterr().err
    assert rc == 1 and "does not describe the remote file" in err and "nothing fetched" in err
    assert not Path(partial_path(str(local))).exists() and http_server.bytes_sent() <= BLOCK


def test_a_second_repair_of_the_same_file_is_refused(http_server: TestServer, tmp_path: Path, original: bytes):
    import fcntl
    import os

    from irpa_core import WriteError

    url = serve(http_server, tmp_path / "orig.gguf", "model.gguf")
    local = cut(tmp_path, original, 0.5)
    fd = os.open(partial_path(str(local)), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a running repair holds it
        with pytest.raises(WriteError, match="another irpa repair of this file is running"):
            repair(str(local), url)
    finally:
        os.close(fd)
    assert len(local.read_bytes()) == len(original) // 2
    assert repair(str(local), url).resumed_from is None and local.read_bytes() == original


@pytest.mark.parametrize("keep", [0, 100])
def test_cut_inside_the_header_or_empty(http_server: TestServer, tmp_path: Path, original: bytes, keep: int):
    url = serve(http_server, tmp_path / "orig.gguf", "model.gguf")
    local = tmp_path / "dl.gguf"
    local.write_bytes(original[:keep])
    result = repair(str(local), url)
    assert local.read_bytes() == original and result.missing == len(original) - keep


def test_safetensors_are_repaired_too(http_server: TestServer, tmp_path: Path) -> None:
    from tests.fixtures import make_safetensors

    rng = np.random.default_rng(3)
    src = make_safetensors(tmp_path / "m.safetensors", {f"t{i}": rng.standard_normal(1 << 17) for i in range(4)})
    data = src.read_bytes()
    url = serve(http_server, src, "m.safetensors")
    local = tmp_path / "dl.safetensors"
    local.write_bytes(data[: len(data) * 2 // 3])
    result = repair(str(local), url)
    assert local.read_bytes() == data
    assert result.fetched == http_server.bytes_sent() <= result.missing + BLOCK
