"""Remote archives end to end: the CLI and the engine on https:// and hf://
specs against the test server (127.0.0.1), counting the bytes it sends."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from irpa_core import ArchiveError, Cancelled, open_archive
from irpa_core.cli import main
from irpa_core.formats import _split_scope
from irpa_core.output import apply
from irpa_core.plan import Plan
from irpa_core.sources import LocalSource
from irpa_core.verify import verify
from irpa_core.write import TMP_MARK, write_archive
from tests import oracle
from tests.fixtures import REMOTE_VOCAB, make_safetensors
from tests.httpserver import TestServer, serve

MiB = 1 << 20


def header_size(path: Path) -> int:
    return min(e.start for e in open_archive(path).entries)


def kept_bytes(path: Path, prefix: str) -> int:
    return sum(e.length for e in open_archive(path).entries if e.name.startswith(prefix))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


# -- opening and listing ---------------------------------------------------------


def test_remote_dump_equals_local_dump(http_server: TestServer, model: Path, capsys) -> None:
    url = serve(http_server, model)
    for flags in ([], ["--json"], ["--json", "--full"]):
        rc, local, _ = run(capsys, "dump", str(model), *flags)
        assert rc == 0
        rc, remote, _ = run(capsys, "dump", url, *flags)
        assert rc == 0
        assert remote.replace(url, "MODEL") == local.replace(str(model), "MODEL")


def test_opening_fetches_the_header_and_at_most_one_block_more(http_server: TestServer, model: Path) -> None:
    url = serve(http_server, model)
    header = header_size(model)
    assert header > 2 * MiB and model.stat().st_size > header + 6 * MiB
    archive = open_archive(url)
    sent = http_server.bytes_sent()
    assert header <= sent <= header + MiB, (sent, header)
    (src,) = archive.sources
    assert src.bytes_fetched == sent and src.requests == http_server.requests <= 5
    # The metadata arrays are in the header already read: showing them costs nothing.
    tokens = archive.files[0].metadata["tokenizer.ggml.tokens"]
    assert tokens.items(3) == ["t0", "t1x", "t2xx"] and len(tokens.items()) == REMOTE_VOCAB
    assert http_server.bytes_sent() == sent


def test_safetensors_open_is_one_request(http_server: TestServer, tmp_path: Path) -> None:
    path = make_safetensors(tmp_path / "m.safetensors", {"w": np.ones((1024, 1024), np.float32)})
    shutil.copy(path, http_server.root / "m.safetensors")
    archive = open_archive(f"{http_server.url}/m.safetensors")
    assert http_server.requests == 1 and http_server.bytes_sent() <= MiB
    assert [e.name for e in archive.entries] == ["w"]


def test_stats_of_one_tensor_fetch_about_that_tensor(http_server: TestServer, model: Path, capsys) -> None:
    url = serve(http_server, model)
    name = "blk.1.ffn_up.weight"
    rc, local, _ = run(capsys, "stats", str(model), f"--name={name}", "--json")
    assert rc == 0
    http_server.reset()
    rc, remote, _ = run(capsys, "stats", url, f"--name={name}", "--json")
    assert rc == 0 and json.loads(remote) == json.loads(local)
    length = open_archive(model).by_name[name].length
    opened = header_size(model) + MiB
    sent = http_server.bytes_sent()
    assert sent - opened <= length + 2 * MiB, (sent - opened, length)  # block rounding at each end


def test_url_query_is_not_a_scope() -> None:
    assert _split_scope("https://h/m.gguf?download=true") == ("", "https://h/m.gguf?download=true")
    assert _split_scope("hf://org/repo/m.gguf") == ("", "hf://org/repo/m.gguf")
    assert _split_scope("model=x.gguf") == ("model", "x.gguf")


# -- reproducers -------------------------------------------------------------------


def test_remote_strip_and_keep_convert_fetches_header_and_kept_tensors(
    hub_env: TestServer, model: Path, tmp_path: Path, capsys
) -> None:
    ts = hub_env
    shutil.copy(model, ts.add_repo("org/llama") / "model.gguf")
    out = tmp_path / "repro.irpa"
    flags = ["--strip", "--keep=blk.0.*"]
    rc, stdout, _ = run(capsys, "convert", "--parameters=hf://org/llama/model.gguf", *flags, f"--output={out}")
    assert rc == 0
    need = header_size(model) + kept_bytes(model, "blk.0.")
    sent = ts.bytes_sent()
    assert need <= sent <= need + MiB, (sent, need)
    assert f"fetched {sent} bytes" in stdout and f"in {ts.requests} requests from 1 remote file" in stdout
    # Checked against the local file, by us and by IREE's runtime.
    rc, _, _ = run(capsys, "verify", f"--parameters={model}", *flags, str(out))
    assert rc == 0
    loaded = oracle.load(out)
    local = open_archive(model)
    for name in ("blk.0.attn_q.weight", "blk.0.ffn_up.weight", "blk.0.attn_norm.weight"):
        e = local.by_name[name]
        assert loaded[name].data == model.read_bytes()[e.start : e.start + e.length]
    # Verify against the remote source fetches the header and the kept ranges again.
    ts.reset()
    rc, stdout, _ = run(capsys, "verify", "--parameters=hf://org/llama/model.gguf", *flags, str(out))
    assert rc == 0 and stdout.startswith("OK")
    assert ts.bytes_sent() <= need + 2 * MiB


def test_engine_reports_what_the_write_fetched(http_server: TestServer, model: Path, tmp_path: Path) -> None:
    url = serve(http_server, model)
    archive = open_archive(url)
    opened, asked = http_server.bytes_sent(), http_server.requests
    plan = Plan.from_reference_flags(strip=True, keep=["token_embd.weight"])
    result = write_archive(apply(plan, archive), tmp_path / "o.irpa")
    assert result.fetched == http_server.bytes_sent() - opened == kept_bytes(model, "token_embd")
    assert result.requests == http_server.requests - asked >= 1
    assert verify(open_archive(model), plan, open_archive(tmp_path / "o.irpa")).ok


# -- the Hub -------------------------------------------------------------------------


def test_hub_bare_repo_with_a_sharded_index(hub_env: TestServer, tmp_path: Path, capsys) -> None:
    ts = hub_env
    d = ts.add_repo("org/sharded")
    local = tmp_path / "local"
    local.mkdir()
    rng = np.random.default_rng(0)
    shards = {
        "model-00001-of-00002.safetensors": {"a": rng.standard_normal(1000).astype(np.float32)},
        "model-00002-of-00002.safetensors": {"b": rng.standard_normal(77).astype(np.float16)},
    }
    index = {"metadata": {}, "weight_map": {k: f for f, ts_ in shards.items() for k in ts_}}
    for where in (d, local):
        for f, tensors in shards.items():
            make_safetensors(where / f, tensors)
        (where / "model.safetensors.index.json").write_text(json.dumps(index))
    (d / "README.md").write_text("hi")
    rc, remote, _ = run(capsys, "dump", "hf://org/sharded", "--json")
    assert rc == 0
    rc, mine, _ = run(capsys, "dump", str(local), "--json")
    got, want = json.loads(remote), json.loads(mine)
    assert [(e["name"], e["length"], e["dtype"]) for e in got["entries"]] == [
        (e["name"], e["length"], e["dtype"]) for e in want["entries"]
    ]
    assert [f["path"] for f in got["files"]] == [f"hf://org/sharded/{f}" for f in shards]
    paths = [h.path for h in ts.hits]
    assert paths[0] == "/api/models/org/sharded/revision/main"
    assert "/org/sharded/resolve/main/model.safetensors.index.json" in paths  # then redirected
    assert "/cdn/org/sharded/main/model-00002-of-00002.safetensors" in paths
    out = tmp_path / "o.irpa"
    assert run(capsys, "convert", "--parameters=hf://org/sharded", f"--output={out}", "--quiet")[0] == 0
    assert {k: e.data for k, e in oracle.load(out).items()} == {
        k: e.data for k, e in oracle.load(*(local / f for f in shards)).items()
    }
    assert run(capsys, "diff", "hf://org/sharded", str(out))[0] == 0


@pytest.mark.parametrize(
    "setup, message",
    [
        ("token", "HTTP 401 Unauthorized: the repository is private or gated"),
        ("gated", "HTTP 403 Forbidden: the repository is gated"),
        ("missing", "HTTP 404 Not Found: no such file in the repository"),
    ],
)
def test_hub_errors_are_one_line(hub_env: TestServer, model: Path, capsys, setup: str, message: str) -> None:
    ts = hub_env
    shutil.copy(model, ts.add_repo("org/m") / "model.gguf")
    spec = "hf://org/m/model.gguf"
    if setup == "token":
        ts.token = "sekrit"
    elif setup == "gated":
        ts.gated.add("org/m")
    else:
        spec = "hf://org/m/nope.gguf"
    for argv in (["dump", spec], ["stats", spec], ["convert", f"--parameters={spec}", "--output=/tmp/x.irpa"]):
        rc, out, err = run(capsys, *argv)
        assert rc == 1 and out == ""
        assert err.startswith(f"irpa: error: {spec}: {message}") and err.count("\n") == 1, err


def test_server_without_range_is_refused_for_a_big_file(
    http_server: TestServer, model: Path, capsys, monkeypatch
) -> None:
    url = serve(http_server, model)
    http_server.ignore_range = True
    monkeypatch.setenv("IRPA_NO_RANGE_LIMIT", str(4 * MiB))
    rc, _, err = run(capsys, "dump", url)
    assert rc == 1 and "the server ignores range requests" in err and err.count("\n") == 1
    assert http_server.bytes_sent() <= 4 * MiB + 64 * 1024  # it stopped reading
    monkeypatch.setenv("IRPA_NO_RANGE_LIMIT", str(64 * MiB))  # small enough to keep: read once
    http_server.reset()
    rc, out, _ = run(capsys, "dump", url)
    assert rc == 0 and "blk.2.ffn_up.weight" in out and http_server.requests == 1


def test_dropped_connection_mid_copy_is_resumed(http_server: TestServer, model: Path, tmp_path: Path, capsys) -> None:
    url = serve(http_server, model)
    archive = open_archive(url)
    http_server.drop_after = 300_000  # the next response dies after 300 kB
    out = tmp_path / "o.irpa"
    plan = Plan.from_reference_flags(strip=True, keep=["token_embd.weight", "blk.1.*"])
    write_archive(apply(plan, archive), out)
    assert archive.sources[0].retries >= 1  # type: ignore[attr-defined]
    assert verify(open_archive(model), plan, open_archive(out)).ok


# -- cancel --------------------------------------------------------------------------


def test_cancel_stops_a_slow_remote_open_and_copy(http_server: TestServer, model: Path, tmp_path: Path) -> None:
    url = serve(http_server, model)
    http_server.delay = 0.25  # 16 KiB per 250 ms: the 2.8 MB header alone would take 45 s
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    t = time.monotonic()
    with pytest.raises(Cancelled):
        open_archive(url, cancel=cancel)
    assert time.monotonic() - t < 10  # within a second or so; generous on a busy machine
    # Opened at full speed, then a slow copy cancelled mid-way: no output, no temporary.
    http_server.delay = 0.0
    archive = open_archive(url)
    http_server.delay = 0.25
    out = tmp_path / "o.irpa"
    out.write_bytes(b"before")
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    t = time.monotonic()
    with pytest.raises(Cancelled):
        write_archive(apply(Plan(), archive), out, cancel=cancel)
    assert time.monotonic() - t < 10
    assert out.read_bytes() == b"before" and not [p for p in tmp_path.iterdir() if TMP_MARK in p.name]


def test_remote_read_errors_name_the_spec(http_server: TestServer, capsys) -> None:
    url = f"{http_server.url}/absent.gguf"
    rc, _, err = run(capsys, "dump", url)
    assert rc == 1 and err == f"irpa: error: {url}: HTTP 404 Not Found: no such file; check the URL\n"
    (http_server.root / "junk.bin").write_bytes(b"x" * 100)
    with pytest.raises(ArchiveError, match="not an IRPA, GGUF or safetensors file"):
        open_archive(f"{http_server.url}/junk.bin")


def test_hub_directory_in_a_repo(hub_env: TestServer, model: Path, capsys) -> None:
    ts = hub_env
    d = ts.add_repo("org/quants")
    (d / "q8").mkdir()
    shutil.copy(model, d / "q8" / "model-q8.gguf")
    (d / "README.md").write_text("hi")
    from irpa_core.remote import expand_remote

    assert expand_remote("hf://org/quants/q8") == ["hf://org/quants/q8/model-q8.gguf"]
    assert expand_remote("hf://org/quants/q8/model-q8.gguf") == ["hf://org/quants/q8/model-q8.gguf"]
    rc, out, _ = run(capsys, "dump", "hf://org/quants/q8")
    assert rc == 0 and "# hf://org/quants/q8/model-q8.gguf:" in out
    rc, _, err = run(capsys, "dump", "hf://org/quants/nothing")
    assert rc == 1 and "no such file in the repository" in err


class _Unmapped(LocalSource):
    """A local file read as a remote one is: no map, small read-ahead."""

    read_ahead = 4096

    def map(self):  # type: ignore[override]
        return None


def _parse(src) -> object:
    from irpa_core.formats.gguf import read_gguf

    try:
        entries, metadata, types, _ = read_gguf(src)
    except ArchiveError as e:
        return ("error", e.offset, e.reason)
    arrays = {k: v.items() for k, v in metadata.items() if hasattr(v, "items")}
    return [(e.name, e.offset, e.length, e.dtype_name, e.shape) for e in entries], arrays, types


def _read_ahead_variant(data: bytes, header: int, case: int) -> bytes:
    """Case ``case`` of the read-ahead test: every truncation point class,
    then 16 headers with 8 random bytes overwritten (the same 16 each run)."""
    cuts = [0, 10, 24, 4095, 4096, 4097, header // 3, header // 2, header - 9, header - 1, header, len(data)]
    if case < len(cuts):
        return data[: cuts[case]]
    rng = np.random.default_rng(5)
    for _ in range(case - len(cuts) + 1):
        b = bytearray(data[: header + 100])
        i = int(rng.integers(24, header))
        b[i : i + 8] = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
    return bytes(b)


@pytest.fixture(scope="module")
def model_and_header(model: Path) -> tuple[bytes, int]:
    return model.read_bytes(), header_size(model)


@pytest.mark.parametrize("case", range(12 + 16))
def test_header_read_ahead_parses_as_the_mapped_file(
    model_and_header: tuple[bytes, int], tmp_path: Path, case: int
) -> None:
    # Every truncation point class and a few corruptions: the growing buffer
    # gives the same entries, arrays and errors as the whole mapped file.
    # (One case a test: the 28 parses of a 2.8 MB header spread over the workers.)
    p = tmp_path / f"v{case}.gguf"
    p.write_bytes(_read_ahead_variant(*model_and_header, case))
    assert _parse(_Unmapped(p)) == _parse(LocalSource(p))


# -- what the TUI needs of the engine ------------------------------------------------


def test_opened_sees_each_source_before_its_first_request(http_server: TestServer, model: Path) -> None:
    url = serve(http_server, model)
    seen: list[tuple[int, int, int]] = []
    archive = open_archive(url, opened=lambda s: seen.append((s.size, s.requests, http_server.requests)))
    assert seen == [(-1, 0, 0)]  # a loading screen can watch the first answer arrive
    assert archive.sources[0].requests == http_server.requests
    local: list[object] = []
    open_archive(model, opened=local.append)
    assert [type(s) for s in local] == [LocalSource]


def test_a_remote_source_pickles_as_its_address(http_server: TestServer, model: Path) -> None:
    import pickle

    url = serve(http_server, model)
    src = open_archive(url).sources[0]
    asked = http_server.requests
    copy = pickle.loads(pickle.dumps(src))
    assert http_server.requests == asked  # no probe: size, ETag and target came along
    assert (copy.size, copy.name, copy.bytes_fetched) == (src.size, src.name, 0)
    assert copy.read(src.size - 100, 100) == model.read_bytes()[-100:]
    assert http_server.requests == asked + 1


def test_sample_stats_at_fewer_places_and_cancelled(model: Path) -> None:
    from irpa_core import stats

    e = open_archive(model).by_name["token_embd.weight"]
    st = stats.sample_stats(e, budget=4 * 4096, spots=4)
    assert not st.exact and st.sampled == 4 * 4096
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        stats.sample_stats(e, spots=4, cancel=cancel)


def test_exact_stats_of_a_remote_tensor_fetch_each_block_once(http_server: TestServer, model: Path) -> None:
    from irpa_core import stats

    url = serve(http_server, model)
    e = open_archive(url).by_name["token_embd.weight"]
    http_server.reset()
    st = stats.compute_stats(e)
    assert st == stats.compute_stats(open_archive(model).by_name[e.name])
    assert http_server.bytes_sent() <= e.length + 2 * MiB  # one reader: no block fetched twice
