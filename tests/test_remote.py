"""HttpSource, hf:// and expand_remote against the test server (127.0.0.1)."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from irpa_core import ArchiveError, Cancelled
from irpa_core.remote import HttpSource, expand_remote, open_remote
from irpa_core.sources import LocalSource, open_source
from tests.fixtures import make_gguf, make_safetensors
from tests.httpserver import TestServer, write_random
from tests.test_sources import random_ranges

KB = 1 << 10
BLOCK = 64 * KB


def source(ts: TestServer, path: str, **kw: object) -> HttpSource:
    """A source with small blocks and fast retries, fit for tests."""
    opts: dict = {"block_size": BLOCK, "cache_size": 8 * BLOCK, "backoff": 0.01, "part_size": 256 * KB}
    opts.update(kw)
    return HttpSource(f"{ts.url}/{path}", **opts)


# -- reading ----------------------------------------------------------------------


def test_reads_match_file(http_server: TestServer) -> None:
    size = 1_000_003
    data = write_random(http_server.root / "f.bin", size)
    with source(http_server, "f.bin") as src, LocalSource(http_server.root / "f.bin") as local:
        assert src.size == size
        for off, n in random_ranges(size, 150):
            got = src.read(off, n)
            assert got == data[off : off + n] == local.read(off, n)
            buf = bytearray(n)
            assert src.readinto(off, memoryview(buf)) == n and buf == got
        assert b"".join(src.iter_chunks(5, size - 5, chunk=100_000)) == data[5:]
        assert b"".join(src.iter_chunks(size - 3, 3)) == data[-3:]
        # What the client counted is what the server sent.
        assert src.bytes_fetched == http_server.bytes_sent()
        assert src.requests == http_server.requests


def test_empty_and_tiny_files(http_server: TestServer) -> None:
    (http_server.root / "empty").write_bytes(b"")
    (http_server.root / "one").write_bytes(b"x")
    with source(http_server, "empty") as src:
        assert src.size == 0 and src.read(0, 0) == b""
        with pytest.raises(ArchiveError, match="file ends inside"):
            src.read(0, 1)
    with source(http_server, "one") as src:
        assert src.size == 1 and src.read(0, 1) == b"x" and src.read(1, 0) == b""
    for read in (lambda: src.read(0, 1), lambda: list(src.iter_chunks(0, 1)), lambda: src.copy_range_to(-1, 0, 1, 0)):
        with pytest.raises(ArchiveError, match="read after the source was closed"):
            read()
    src.close()  # twice is fine


@pytest.mark.parametrize("off, n", [(1000, 1), (999, 2), (0, 1001), (1001, 0), (-1, 1), (5, 1 << 62)])
def test_out_of_range_is_archive_error_without_a_request(http_server: TestServer, off: int, n: int) -> None:
    write_random(http_server.root / "f.bin", 1000)
    with source(http_server, "f.bin") as src:
        before = http_server.requests
        with pytest.raises(ArchiveError) as e:
            src.read(off, n)
        assert http_server.requests == before
        assert "\n" not in str(e.value) and str(e.value).startswith(f"{http_server.url}/f.bin")


def test_block_cache_fetches_once(http_server: TestServer) -> None:
    data = write_random(http_server.root / "f.bin", 40 * BLOCK)
    with source(http_server, "f.bin") as src:
        # The first answer (the size) brought block 0: reading it costs nothing.
        assert (src.requests, src.bytes_fetched) == (1, BLOCK)
        assert src.read(10, 100) == data[10:110]
        assert src.requests == 1
        # A small read elsewhere: one request for its block; again: none.
        off = 20 * BLOCK + 5
        assert src.read(off, 3000) == data[off : off + 3000]
        assert (src.requests, src.bytes_fetched) == (2, 2 * BLOCK)
        assert src.read(off + 100, 50) == data[off + 100 : off + 150]
        assert src.requests == 2
        # Straddling two uncached blocks: one request for both.
        off = 30 * BLOCK - 10
        assert src.read(off, 20) == data[off : off + 20]
        assert (src.requests, src.bytes_fetched) == (3, 4 * BLOCK)
        assert http_server.requests == 3 and http_server.bytes_sent() == 4 * BLOCK


def test_cache_is_bounded(http_server: TestServer) -> None:
    data = write_random(http_server.root / "f.bin", 40 * BLOCK)
    with source(http_server, "f.bin", cache_size=4 * BLOCK) as src:
        for i in range(0, 40, 2):
            assert src.read(i * BLOCK + 1, 10) == data[i * BLOCK + 1 : i * BLOCK + 11]
        assert len(src._cache) == 4
        before = src.requests
        src.read(38 * BLOCK, 10)  # recent: cached
        assert src.requests == before
        src.read(2 * BLOCK, 10)  # evicted: fetched again
        assert src.requests == before + 1


def test_disk_cache_serves_the_next_run(http_server: TestServer, tmp_path: Path) -> None:
    path = http_server.root / "f.bin"
    data = write_random(path, 40 * BLOCK + 10)
    cache = str(tmp_path / "cache")
    # A big read keeps its whole blocks: aligned here (its partial edge blocks
    # would be fetched again).
    reads = [(20 * BLOCK + 5, 100), (3 * BLOCK, 10 * BLOCK), (40 * BLOCK, 10)]
    with source(http_server, "f.bin", cache_dir=cache) as src:
        for off, n in reads:
            assert src.read(off, n) == data[off : off + n]
        assert src.requests == 4
    with source(http_server, "f.bin", cache_dir=cache) as src:
        for off, n in reads:
            assert src.read(off, n) == data[off : off + n]
        assert src.requests == 1  # only the first answer (size and ETag)
        assert src.read(30 * BLOCK, 10) == data[30 * BLOCK : 30 * BLOCK + 10]
        assert src.requests == 2  # never read before
    # A changed file (new ETag) reads nothing stale; a damaged block is a miss.
    data = write_random(path, 40 * BLOCK + 10, seed=3)
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 10**9))
    with source(http_server, "f.bin", cache_dir=cache) as src:
        assert src.read(20 * BLOCK + 5, 100) == data[20 * BLOCK + 5 : 20 * BLOCK + 105]
        assert src.requests == 2
        assert src._disk is not None
        Path(src._disk.dir, "21").write_bytes(b"short")
    with source(http_server, "f.bin", cache_dir=cache) as src:
        assert src.read(21 * BLOCK, 10) == data[21 * BLOCK : 21 * BLOCK + 10]
        assert src.requests == 2


def test_big_read_streams_past_the_cache(http_server: TestServer) -> None:
    data = write_random(http_server.root / "f.bin", 40 * BLOCK)
    with source(http_server, "f.bin") as src:
        off, n = 3 * BLOCK + 7, 20 * BLOCK
        assert src.read(off, n) == data[off : off + n]
        assert src.requests == 2
        assert src.bytes_fetched == BLOCK + n  # exactly the bytes asked, past the first block
        assert len(src._cache) == 1


def test_copy_range_to_uses_parallel_requests(http_server: TestServer, tmp_path: Path) -> None:
    size = 3 * 1024 * KB + 123
    data = write_random(http_server.root / "f.bin", size)
    out = tmp_path / "out.bin"
    with source(http_server, "f.bin") as src:
        fd = os.open(out, os.O_RDWR | os.O_CREAT)
        try:
            seen: list[int] = []
            assert src.copy_range_to(fd, 100, size - 200, 16, progress=seen.append) == size - 200
        finally:
            os.close(fd)
        parts = -(-(size - 200) // (256 * KB))
        assert src.requests == 1 + parts
        assert sum(seen) == size - 200
    assert out.read_bytes() == b"\0" * 16 + data[100:-100]
    part, end = 256 * KB, size - 100
    expected = {f"bytes={a}-{min(a + part, end) - 1}" for a in range(100, end, part)}
    assert {h.range for h in http_server.hits[1:]} == expected


def test_copy_range_to_cancel(http_server: TestServer, tmp_path: Path) -> None:
    write_random(http_server.root / "f.bin", 2048 * KB)
    cancel = threading.Event()
    with source(http_server, "f.bin") as src:
        # 4 KiB per 0.2 s: the whole copy would take 25 s or more on its parallel requests
        http_server.delay, http_server.piece = 0.2, 4 * KB
        fd = os.open(tmp_path / "out.bin", os.O_RDWR | os.O_CREAT)
        try:
            when = cancel_later(cancel, 0.3)
            with pytest.raises(Cancelled):
                src.copy_range_to(fd, 0, src.size, 0, cancel=cancel)
            assert time.monotonic() - when[0] < 5  # within a second or so; generous on a busy machine
        finally:
            os.close(fd)


def test_safetensors_header_costs_one_request(http_server: TestServer) -> None:
    tensors = {f"layer{i}.weight": np.full((64, 64), i, np.float32) for i in range(40)}
    path = make_safetensors(http_server.root / "m.safetensors", tensors)
    with source(http_server, "m.safetensors", block_size=1 << 20) as src:
        (n,) = struct.unpack("<Q", src.read(0, 8))
        header = json.loads(src.read(8, n))
        assert set(header) - {"__metadata__"} == set(tensors)
        assert src.requests == 1 and src.bytes_fetched == path.stat().st_size  # a 650 kB file: one block


# -- failures ---------------------------------------------------------------------


def test_dropped_connection_resumes_at_the_byte_reached(http_server: TestServer) -> None:
    data = write_random(http_server.root / "f.bin", 40 * BLOCK)
    with source(http_server, "f.bin") as src:
        http_server.drop_after = 100_000
        off, n = 5 * BLOCK, 20 * BLOCK
        assert src.read(off, n) == data[off : off + n]
        assert src.retries == 1
    first, resumed = http_server.hits[-2:]
    assert (first.range, first.sent) == (f"bytes={off}-{off + n - 1}", 100_000)
    assert resumed.range == f"bytes={off + 100_000}-{off + n - 1}"
    assert resumed.sent == n - 100_000


def test_iter_chunks_resumes_a_dropped_stream(http_server: TestServer) -> None:
    data = write_random(http_server.root / "f.bin", 40 * BLOCK)
    with source(http_server, "f.bin") as src:
        http_server.drop_after = 50_000
        chunks = list(src.iter_chunks(BLOCK, 30 * BLOCK, chunk=100_000))
        assert b"".join(chunks) == data[BLOCK : 31 * BLOCK]
        assert {len(c) for c in chunks[:-1]} == {100_000}
        assert src.retries == 1 and src.requests == 3  # the first block, the dropped stream, its resumption
        assert src.bytes_fetched == http_server.bytes_sent() == BLOCK + 30 * BLOCK


def test_expired_cdn_url_is_resolved_again(hub_env: TestServer) -> None:
    ts = hub_env
    data = write_random(ts.add_repo("org/repo") / "w.bin", 3 << 20)
    with open_source("hf://org/repo/w.bin") as src:
        ts.fail_next = [403]  # the signed CDN URL expired
        assert src.read(2 << 20, 10) == data[2 << 20 : (2 << 20) + 10]
    assert [(h.path, h.status) for h in ts.hits[2:]] == [
        ("/cdn/org/repo/main/w.bin", 403),
        ("/org/repo/resolve/main/w.bin", 302),
        ("/cdn/org/repo/main/w.bin", 206),
    ]


def test_server_errors_are_retried_then_reported(http_server: TestServer) -> None:
    data = write_random(http_server.root / "f.bin", 10 * BLOCK)
    http_server.fail_next = [503, 500]
    with source(http_server, "f.bin", max_retries=2) as src:
        assert src.retries == 2 and src.read(0, 10) == data[:10]
        http_server.fail_next = [503] * 10
        with pytest.raises(ArchiveError, match=r"gave up after 2 retries \(HTTP 503\); check the network") as e:
            src.read(5 * BLOCK, 10)
        assert e.value.offset == 5 * BLOCK
    with pytest.raises(ArchiveError, match="gave up"):
        source(http_server, "f.bin", max_retries=2)


def test_connection_refused_fails_fast() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(ArchiveError, match=r"cannot connect to 127\.0\.0\.1:\d+ \(connection refused\)"):
        HttpSource(f"http://127.0.0.1:{port}/x")
    assert time.monotonic() - started < 5  # no retries (with them: 15 s of backoff)


def test_no_range_server_small_file_kept_big_refused(http_server: TestServer) -> None:
    data = write_random(http_server.root / "small", 5000)
    write_random(http_server.root / "big", 20_000)
    http_server.ignore_range = True
    with source(http_server, "small", no_range_limit=10_000) as src:
        assert src.read(4000, 1000) == data[4000:] and src.read(0, 10) == data[:10]
        assert src.requests == 1 and http_server.bytes_sent() == 5000
    with pytest.raises(ArchiveError) as e:
        source(http_server, "big", no_range_limit=10_000)
    assert str(e.value) == (
        f"{http_server.url}/big: the server ignores range requests and the file has 20000 bytes: reading it "
        "would download all of it; download it first, or set IRPA_NO_RANGE_LIMIT to a larger size in bytes"
    )


def test_file_changed_on_the_server(http_server: TestServer) -> None:
    path = http_server.root / "f.bin"
    write_random(path, 10 * BLOCK)
    with source(http_server, "f.bin") as src:
        os.truncate(path, 2 * BLOCK)
        with pytest.raises(ArchiveError, match=r"416.*the file may have changed"):
            src.read(5 * BLOCK, 10)
        with pytest.raises(ArchiveError, match=r"the file changed on the server \(655360 bytes, now 131072\)"):
            src.read(BLOCK, 10)
    write_random(path, 10 * BLOCK)
    with source(http_server, "f.bin") as src:
        write_random(path, 10 * BLOCK, seed=5)  # same size, new ETag (the server's has the mtime)
        os.utime(path, ns=(0, path.stat().st_mtime_ns + 10**9))
        with pytest.raises(ArchiveError, match="the file changed on the server while it was being read"):
            src.read(5 * BLOCK, 10)


def cancel_later(event: threading.Event, delay: float) -> list[float]:
    """Set ``event`` after ``delay`` seconds; the list gets the time it was set."""
    when: list[float] = []

    def fire() -> None:
        when.append(time.monotonic())
        event.set()

    threading.Timer(delay, fire).start()
    return when


def test_slow_server_read_is_cancelled_within_a_second(http_server: TestServer) -> None:
    write_random(http_server.root / "f.bin", 40 * BLOCK)
    cancel = threading.Event()
    with source(http_server, "f.bin", cancel=cancel) as src:
        # A trickle: one small piece every 0.2 s (the read would take minutes).
        http_server.delay, http_server.piece = 0.2, 1 * KB
        when = cancel_later(cancel, 0.3)
        with pytest.raises(Cancelled):
            src.read(BLOCK, 10 * BLOCK)
        assert time.monotonic() - when[0] < 5  # within a second or so; generous on a busy machine
        # A server that sends nothing at all for a minute: the short read timeout notices.
        cancel.clear()
        http_server.delay = 60.0
        when = cancel_later(cancel, 0.2)
        with pytest.raises(Cancelled):
            src.read(20 * BLOCK, 10)
        assert time.monotonic() - when[0] < 10


def test_stalled_server_without_cancel_times_out(http_server: TestServer) -> None:
    write_random(http_server.root / "f.bin", 4 * BLOCK)
    with source(http_server, "f.bin", timeout=0.5, poll=0.2) as src:
        http_server.delay = 60.0
        started = time.monotonic()
        with pytest.raises(ArchiveError, match=r"the server sent nothing for 0\.5 s"):
            src.read(2 * BLOCK, 10)
        assert time.monotonic() - started < 10  # not the minute the server waits


# -- the Hub ----------------------------------------------------------------------


def test_hf_path_through_redirect(hub_env: TestServer) -> None:
    ts = hub_env
    data = write_random(ts.add_repo("org/repo") / "sub" / "w.bin", 3 << 20)
    other = write_random(ts.add_repo("org/repo", "v1") / "sub" / "w.bin", 10 * BLOCK, seed=7)
    pr = write_random(ts.add_repo("org/repo", "refs/pr/2") / "sub" / "w.bin", 100, seed=8)
    with open_source("hf://org/repo/sub/w.bin") as src:
        assert isinstance(src, HttpSource) and src.name == "hf://org/repo/sub/w.bin"
        assert src.read(0, 100) == data[:100]
        assert [(h.path, h.status) for h in ts.hits] == [
            ("/org/repo/resolve/main/sub/w.bin", 302),
            ("/cdn/org/repo/main/sub/w.bin", 206),
        ]
        assert src.requests == 2
        # Later reads go straight to the redirect target.
        assert src.read(2 << 20, 10) == data[2 << 20 : (2 << 20) + 10]
        assert ts.hits[-1].path == "/cdn/org/repo/main/sub/w.bin" and src.requests == 3
    with open_source("hf://org/repo@v1/sub/w.bin") as src:
        assert src.read(0, 100) == other[:100]
    with open_source("hf://org/repo@refs/pr/2/sub/w.bin") as src:
        assert src.read(0, 100) == pr
    assert ts.hits[-2].path == "/org/repo/resolve/refs%2Fpr%2F2/sub/w.bin"  # one quoted URL segment


@pytest.mark.parametrize(
    "spec, message",
    [
        ("hf://org/nope/x.gguf", "HTTP 404 Not Found: no such repository"),
        ("hf://org/repo@v9/x.gguf", "HTTP 404 Not Found: no such revision"),
        ("hf://org/repo/missing.gguf", "HTTP 404 Not Found: no such file in the repository"),
    ],
)
def test_hub_404(hub_env: TestServer, spec: str, message: str) -> None:
    write_random(hub_env.add_repo("org/repo") / "x.gguf", 10)
    with pytest.raises(ArchiveError, match=message) as e:
        open_source(spec)
    assert str(e.value).startswith(spec + ": ") and "\n" not in str(e.value)


def test_hub_401_403_and_the_token(hub_env: TestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    ts = hub_env
    data = write_random(ts.add_repo("org/private") / "x.bin", 1000)
    write_random(ts.add_repo("org/gated") / "x.bin", 1000)
    ts.token = "sekrit"
    with pytest.raises(ArchiveError) as e:
        open_source("hf://org/private/x.bin")
    assert str(e.value) == (
        "hf://org/private/x.bin: HTTP 401 Unauthorized: the repository is private or gated, or does not exist "
        "(Invalid username or password.); if it exists, accept its terms on the model page and set HF_TOKEN "
        "or run `hf auth login`"
    )
    monkeypatch.setenv("HF_TOKEN", "wrong")
    with pytest.raises(ArchiveError, match="HTTP 401 Unauthorized: the Hub refused the token"):
        open_source("hf://org/private/x.bin")
    monkeypatch.setenv("HF_TOKEN", "sekrit")
    with open_source("hf://org/private/x.bin") as src:
        assert src.read(0, 1000) == data
    ts.gated.add("org/gated")
    with pytest.raises(ArchiveError) as e:
        open_source("hf://org/gated/x.bin")
    assert str(e.value) == (
        "hf://org/gated/x.bin: HTTP 403 Forbidden: the repository is gated (Access to model org/gated is "
        "restricted.); accept its terms on the model page (with the account of your token) and set HF_TOKEN "
        "or run `hf auth login`"
    )


def test_stored_token_is_used(hub_env: TestServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write_random(hub_env.add_repo("org/private") / "x.bin", 10)
    hub_env.token = "stored"
    (tmp_path / "token").write_text("stored\n")
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "token"))
    with open_source("hf://org/private/x.bin") as src:
        assert src.size == 10


def test_no_token_leaks_to_another_host(hub_env: TestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    ts = hub_env
    data = write_random(ts.add_repo("org/private") / "x.bin", 3 << 20)
    ts.token = "sekrit"
    ts.cdn_host = "localhost"  # the CDN is another origin
    monkeypatch.setenv("HF_TOKEN", "sekrit")
    with open_source("hf://org/private/x.bin") as src:
        assert src.read(2 << 20, 10) == data[2 << 20 : (2 << 20) + 10]
    seen = [(h.path.split("/")[1], h.host.split(":")[0] if h.host else None, h.authorization) for h in ts.hits]
    assert seen[0] == ("org", "127.0.0.1", "Bearer sekrit")
    assert set(seen[1:]) == {("cdn", "localhost", None)} and len(seen) == 3
    # A URL on another host than the endpoint gets no token either.
    write_random(ts.root / "plain.bin", 10)
    monkeypatch.setenv("HF_ENDPOINT", f"http://localhost:{ts.port}")
    with HttpSource(f"{ts.url}/plain.bin") as src:
        assert src.size == 10
    assert ts.hits[-1].authorization is None


def test_expand_bare_repo_with_an_index(hub_env: TestServer) -> None:
    ts = hub_env
    d = ts.add_repo("org/sharded")
    a = make_safetensors(d / "model-00001-of-00002.safetensors", {"a": np.ones(4, np.float32)})
    make_safetensors(d / "model-00002-of-00002.safetensors", {"b": np.ones(4, np.float32)})
    index = {
        "metadata": {},
        "weight_map": {"b": "model-00002-of-00002.safetensors", "a": "model-00001-of-00002.safetensors"},
    }
    (d / "model.safetensors.index.json").write_text(json.dumps(index))
    write_random(d / "extra.safetensors", 8)
    (d / "README.md").write_text("hi")
    specs = expand_remote("hf://org/sharded")
    assert specs == [
        "hf://org/sharded/model-00002-of-00002.safetensors",
        "hf://org/sharded/model-00001-of-00002.safetensors",
    ]
    assert [h.path for h in ts.hits] == [
        "/api/models/org/sharded/revision/main",
        "/org/sharded/resolve/main/model.safetensors.index.json",
        "/cdn/org/sharded/main/model.safetensors.index.json",
    ]
    with open_source(specs[1]) as src:
        assert src.read(0, src.size) == a.read_bytes()
    assert expand_remote("hf://org/sharded@main/model.safetensors.index.json") == [
        "hf://org/sharded@main/model-00002-of-00002.safetensors",
        "hf://org/sharded@main/model-00001-of-00002.safetensors",
    ]


def test_expand_bare_repo_single_files(hub_env: TestServer) -> None:
    ts = hub_env
    make_safetensors(ts.add_repo("org/st") / "model.safetensors", {"a": np.ones(4, np.float32)})
    (ts.add_repo("org/st") / "config.json").write_text("{}")
    assert expand_remote("hf://org/st") == ["hf://org/st/model.safetensors"]
    d = ts.add_repo("org/split", "v2")
    for i in (1, 2, 3):
        make_gguf(d / f"m-0000{i}-of-00003.gguf", {f"t{i}": np.ones(4, np.float32)})
    assert expand_remote("hf://org/split@v2") == [f"hf://org/split@v2/m-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    assert expand_remote("hf://org/split@v2/m-00002-of-00003.gguf") == ["hf://org/split@v2/m-00002-of-00003.gguf"]
    make_gguf(ts.add_repo("org/many") / "q4.gguf", {"t": np.ones(4, np.float32)})
    make_gguf(ts.add_repo("org/many") / "q8.gguf", {"t": np.ones(4, np.float32)})
    with pytest.raises(ArchiveError, match=r"^hf://org/many: holds several GGUF models \(q4\.gguf, q8\.gguf\)"):
        expand_remote("hf://org/many")
    with pytest.raises(ArchiveError, match="no such repository"):
        expand_remote("hf://org/none")
    with pytest.raises(ArchiveError, match="is a repository, not a file"):
        open_remote("hf://org/st")


def test_expand_urls(http_server: TestServer) -> None:
    ts = http_server
    index = {"weight_map": {"a": "s 1.safetensors", "b": "s2.safetensors"}}
    write_random(ts.root / "dir" / "x.bin", 1)
    (ts.root / "dir" / "model.safetensors.index.json").write_text(json.dumps(index))
    assert expand_remote(f"{ts.url}/dir/model.safetensors.index.json") == [
        f"{ts.url}/dir/s%201.safetensors",
        f"{ts.url}/dir/s2.safetensors",
    ]
    assert expand_remote(f"{ts.url}/d/m-00001-of-00002.gguf?x=1") == [
        f"{ts.url}/d/m-00001-of-00002.gguf",
        f"{ts.url}/d/m-00002-of-00002.gguf",
    ]
    assert expand_remote(f"{ts.url}/d/m.gguf?x=1") == [f"{ts.url}/d/m.gguf?x=1"]
