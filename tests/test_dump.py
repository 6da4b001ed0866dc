"""``irpa dump`` as a user runs it: output, JSON shape, errors, no heavy imports."""

import json
import subprocess
import sys

import gguf
import numpy as np

from irpa_core.cli import main
from tests import oracle
from tests.fixtures import make_gguf, make_irpa_with_iree


def test_table_lists_what_the_reference_lists(tmp_path, capsys):
    p = make_irpa_with_iree(tmp_path / "a.irpa", "--data=w0=4x4xf32", "--splat=s=8xi16=3")
    assert main(["dump", str(p)]) == 0
    out = capsys.readouterr().out
    ref = oracle.run_tool("iree-dump-parameters", f"--parameters={p}").stdout
    # Same start/end/length per name as the reference tool prints.
    for line in ref.splitlines():
        if "`" in line:
            cols = [c.strip() for c in line.split("|")]
            start, end, length, name = cols[0], cols[1], cols[2], cols[3].strip("`")
            mine = next(line for line in out.splitlines() if line.endswith(f" {name}"))
            assert mine.split()[:3] == [start, end, length]
    assert "2 entries, 80 bytes" in out


def test_json(tmp_path, capsys):
    tokens = [f"t{i}" for i in range(10)]
    p = make_gguf(tmp_path / "m.gguf", {"w": np.ones((2, 32), np.float32)}, kv={"tokenizer.ggml.tokens": tokens})
    assert main(["dump", "--json", str(p)]) == 0
    doc = json.loads(capsys.readouterr().out)
    (f,) = doc["files"]
    assert f["format"] == "gguf" and f["metadata"]["general.architecture"] == "llama"
    assert f["metadata"]["tokenizer.ggml.tokens"] == {"type": "string", "count": 10, "first": tokens[:3]}
    (e,) = doc["entries"]
    assert e == {
        "name": "w",
        "kind": "data",
        "dtype": "f32",
        "shape": [2, 32],
        "length": 256,
        "file": str(p),
        "offset": e["offset"],
        "pattern": None,
        "state": "complete",
    }
    assert doc["truncated"] is None
    assert e["offset"] == gguf.GGUFReader(str(p)).tensors[0].data_offset
    assert main(["dump", "--json", "--full", str(p)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"][0]["metadata"]["tokenizer.ggml.tokens"]["items"] == tokens


def test_splat_pattern_hex(tmp_path, capsys):
    p = make_irpa_with_iree(tmp_path / "a.irpa", "--splat=s=8xi16=-2")
    assert main(["dump", "--json", f"--parameters={p}"]) == 0
    (e,) = json.loads(capsys.readouterr().out)["entries"]
    assert e["pattern"] == "feff" and e["kind"] == "splat" and e["offset"] is None


def test_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.irpa"
    bad.write_bytes(b"IRPA" + bytes(20))
    for args, text in ([str(tmp_path / "missing.gguf")], "no such file"), ([str(bad)], "too small"), ([], "no input"):
        r = subprocess.run([sys.executable, "-m", "irpa_core.cli", "dump", *args], capture_output=True, text=True)
        assert r.returncode == 1
        assert r.stderr.startswith("irpa: error: ") and text in r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_dump_imports_nothing_heavy(tmp_path):
    p = make_irpa_with_iree(tmp_path / "a.irpa", "--data=w0=4xf32")
    code = (
        f"import sys; from irpa_core.cli import main; main(['dump', {str(p)!r}]); "
        "print(sorted(m for m in ('numpy', 'rich', 'textual', 'gguf') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_a_reader_that_has_gone_is_no_error(tmp_path):
    """``irpa --help | head``, ``irpa dump ... | head``: when the reader
    closes the pipe, exit 0 without a traceback or a complaint at exit."""
    import os

    p = make_gguf(tmp_path / "m.gguf", {f"w{i}": np.ones(4, np.float32) for i in range(50)})
    for argv in (["--help"], ["dump", str(p)], ["dump", "--json", str(p)]):
        r, w = os.pipe()
        os.close(r)  # every write fails with EPIPE
        try:
            done = subprocess.run(
                [sys.executable, "-m", "irpa_core.cli", *argv], stdout=w, stderr=subprocess.PIPE, timeout=60
            )
        finally:
            os.close(w)
        assert done.returncode == 0 and done.stderr == b"", (argv, done.stderr[-500:])
