"""Cut-off files (issue 24): a header cut keeps its precise error; a data cut
opens with each entry's state. The expected states come from where the test
finds each tensor's bytes in the whole file (``bytes.find`` of random,
distinct contents), never from our reader."""

import json

import numpy as np
import pytest

from irpa_core import ArchiveError, Plan, convert, open_archive, read_bytes, read_tensor
from irpa_core.cli import main
from irpa_core.errors import PlanError
from irpa_core.model import bytes_present, entry_state
from irpa_core.salvage import IncompleteError, truncation
from tests.fixtures import make_gguf, make_safetensors

SIZES = {"a": 64, "b": 1000, "c": 96, "d": 4096, "e": 8}  # float32 elements


def _tensors(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(n).astype(np.float32) for name, n in SIZES.items()}


def _whole(tmp_path, fmt: str):
    """A whole file of ``fmt`` and where each tensor's bytes lie in it."""
    tensors = _tensors()
    if fmt == "gguf":
        path = make_gguf(tmp_path / "whole.gguf", tensors)
    elif fmt == "safetensors":
        path = make_safetensors(tmp_path / "whole.safetensors", tensors)
    else:  # irpa, written by us from the safetensors file
        src = make_safetensors(tmp_path / "src.safetensors", tensors)
        path = tmp_path / "whole.irpa"
        convert(None, open_archive(src), path)
    blob = path.read_bytes()
    spans = {}
    for name, t in tensors.items():
        raw = t.tobytes()
        at = blob.find(raw)
        assert at >= 0 and blob.find(raw, at + 1) < 0
        spans[name] = (at, len(raw))
    return blob, spans


def _expected(spans, cut: int) -> dict[str, str]:
    out = {}
    for name, (at, n) in spans.items():
        out[name] = "complete" if at + n <= cut else "partial" if at < cut else "missing"
    return out


def _cut_points(blob: bytes, spans) -> list[int]:
    points = {len(blob) - 1}
    for at, n in spans.values():
        points |= {at, at + 1, at + n // 2, at + n - 1, at + n}
    return sorted(p for p in points if min(a for a, _ in spans.values()) <= p < len(blob))


@pytest.mark.parametrize("fmt", ["gguf", "safetensors", "irpa"])
def test_cut_in_the_data_opens_with_states(tmp_path, fmt):
    blob, spans = _whole(tmp_path, fmt)
    cut_path = tmp_path / f"cut.{fmt}"
    for cut in _cut_points(blob, spans):
        cut_path.write_bytes(blob[:cut])
        a = open_archive(cut_path)
        want = _expected(spans, cut)
        got = {e.name: entry_state(e) for e in a if e.name in SIZES}
        assert got == want, cut
        if all(s == "complete" for s in want.values()) and cut >= max(at + n for at, n in spans.values()):
            continue  # cut only in trailing padding: whole as far as any entry goes
        assert a.truncated, cut
        t = truncation(a)
        assert t is not None and t.present == cut and t.expected > cut
        assert t.counts["complete"] == sum(1 for e in a if entry_state(e) == "complete")
        for e in a:
            if e.name not in SIZES:
                continue
            at, n = spans[e.name]
            assert bytes_present(e) == max(0, min(n, cut - at))
            if want[e.name] == "complete":
                assert read_bytes(e) == blob[at : at + n]
            else:
                with pytest.raises(ArchiveError, match=rf"'{e.name}' is {want[e.name]}"):
                    read_tensor(e)
                if want[e.name] == "partial":  # the bytes present can still be read
                    assert read_bytes(e, 0, cut - at) == blob[at:cut]


@pytest.mark.parametrize("fmt", ["gguf", "safetensors", "irpa"])
def test_cut_in_the_header_keeps_the_precise_error(tmp_path, fmt):
    blob, spans = _whole(tmp_path, fmt)
    first = min(at for at, _ in spans.values())
    header_end = {"gguf": first - 32, "safetensors": first, "irpa": 88}[fmt]  # before any padding
    cut_path = tmp_path / f"cut.{fmt}"
    for cut in sorted({0, 4, 9, 20, 50, header_end // 2, header_end - 1}):
        cut_path.write_bytes(blob[:cut])
        with pytest.raises(ArchiveError) as ei:
            open_archive(cut_path)
        assert str(cut_path) in str(ei.value), cut


def test_irpa_cut_in_the_entry_table_is_an_error(tmp_path):
    blob, spans = _whole(tmp_path, "irpa")
    p = tmp_path / "cut.irpa"
    for cut in (100, 200, 300):  # the table and names lie between 96 and the first data
        assert cut < min(at for at, _ in spans.values())
        p.write_bytes(blob[:cut])
        with pytest.raises(ArchiveError, match="runs past the end of the file"):
            open_archive(p)


def _cut_gguf(tmp_path):
    blob, spans = _whole(tmp_path, "gguf")
    at, n = spans["d"]
    p = tmp_path / "cut.gguf"
    p.write_bytes(blob[: at + n // 4])  # a, b, c complete; d partial; e missing
    return p


def test_convert_refuses_naming_the_first_incomplete_then_salvages(tmp_path):
    a = open_archive(_cut_gguf(tmp_path))
    out = tmp_path / "out.gguf"
    with pytest.raises(IncompleteError) as ei:
        convert(None, a, out)
    assert ei.value.entry.name == "d" and "partial, only 4.0 KiB of 16.0 KiB present" in str(ei.value)
    assert not out.exists()
    # Excluding the incomplete ones is the same as salvaging; splatting one needs no bytes.
    convert(Plan().exclude("d").splat("e"), a, out)
    assert [e.name for e in open_archive(out)] == ["a", "b", "c", "e"]
    convert(None, a, out, salvage=True)
    b = open_archive(out)
    assert [e.name for e in b] == ["a", "b", "c"] and not b.truncated
    assert all(read_bytes(x) == read_bytes(a.by_name[x.name]) for x in b)


def test_cli_on_a_cut_file(tmp_path, capsys):
    p = _cut_gguf(tmp_path)
    assert main(["dump", "--json", str(p)]) == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert {e["name"]: e["state"] for e in doc["entries"]} == {
        "a": "complete", "b": "complete", "c": "complete", "d": "partial", "e": "missing",
    }  # fmt: skip
    assert doc["truncated"]["complete"] == 3 and doc["truncated"]["bytes_present"] == p.stat().st_size
    assert cap.err.count("\n") == 1 and "truncated: " in cap.err and "3 of 5 tensors complete" in cap.err

    assert main(["dump", str(p)]) == 0
    out = capsys.readouterr().out
    assert "3 complete, 1 partial, 1 missing" in out
    assert [line.split()[-2:] for line in out.splitlines() if line.endswith((" d", " e"))] == [
        ["partial", "d"],
        ["missing", "e"],
    ]

    assert main(["info", str(p)]) == 0
    assert "3 of 5 tensors complete" in capsys.readouterr().err
    assert main(["info", "--json", str(p)]) == 0
    assert json.loads(capsys.readouterr().out)["truncated"]["missing"] == 1

    assert main(["stats", "--json", str(p)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in doc["entries"]] == ["a", "b", "c"]
    assert [(s["name"], s["state"]) for s in doc["skipped"]] == [("d", "partial"), ("e", "missing")]
    assert main(["stats", "--name=d", str(p)]) == 1
    assert "'d' is partial: only 4.0 KiB of 16.0 KiB present" in capsys.readouterr().err

    out = tmp_path / "out.safetensors"
    assert main(["convert", str(p), f"--output={out}", "--quiet"]) == 1
    assert "parameter 'd': partial" in capsys.readouterr().err and not out.exists()
    assert main(["convert", str(p), f"--output={out}", "--quiet", "--salvage"]) == 0
    assert "salvage: 2 incomplete entries of a cut-off file left out" in capsys.readouterr().err
    assert sorted(e.name for e in open_archive(out)) == ["a", "b", "c"]
    assert main(["verify", f"--parameters={p}", str(out)]) == 0


def test_whole_files_say_complete(tmp_path, capsys):
    p = make_gguf(tmp_path / "whole.gguf", _tensors())
    assert main(["dump", "--json", str(p)]) == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert doc["truncated"] is None and {e["state"] for e in doc["entries"]} == {"complete"}
    assert cap.err == ""
    assert truncation(open_archive(p)) is None


def test_a_truncated_file_over_http_behaves_the_same(tmp_path, http_server):
    p = _cut_gguf(tmp_path)
    (http_server.root / "cut.gguf").write_bytes(p.read_bytes())
    local, remote = open_archive(p), open_archive(f"{http_server.url}/cut.gguf")
    assert [entry_state(e) for e in remote] == [entry_state(e) for e in local]
    t = truncation(remote)
    assert t is not None and t.line() == truncation(local).line()  # type: ignore[union-attr]
    assert read_bytes(remote.by_name["c"]) == read_bytes(local.by_name["c"])
    with pytest.raises(ArchiveError, match="'d' is partial"):
        read_tensor(remote.by_name["d"])


def test_shards_one_cut_off(tmp_path):
    tensors = _tensors()
    first = make_gguf(tmp_path / "m.gguf", tensors, split_max_tensors=2)
    del first
    shards = sorted(tmp_path.glob("m-*-of-*.gguf"))
    assert len(shards) == 3
    last = shards[-1].read_bytes()
    shards[-1].write_bytes(last[:-1])  # the last shard's last tensor loses a byte
    a = open_archive(shards[0])
    states = {e.name: entry_state(e) for e in a}
    assert states == {"a": "complete", "b": "complete", "c": "complete", "d": "complete", "e": "partial"}
    t = truncation(a)
    assert t is not None and len(t.files) == 1 and t.files[0].path == str(shards[-1])
    with pytest.raises(PlanError, match="'e'"):
        convert(None, a, tmp_path / "out.irpa")
