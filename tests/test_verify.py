"""Verify and diff, with expectations computed independently (numpy, IREE tools)."""

import json

import numpy as np
import pytest

from irpa_core import open_archive
from irpa_core.cli import main
from irpa_core.diff import diff
from irpa_core.plan import Plan
from irpa_core.verify import verify
from tests import oracle
from tests.fixtures import make_safetensors


@pytest.fixture
def src(tmp_path):
    rng = np.random.default_rng(0)
    return make_safetensors(
        tmp_path / "m.safetensors",
        {
            "a": rng.standard_normal((64, 64)).astype(np.float32),
            "b": rng.standard_normal((32,)).astype(np.float16),
            "c": np.arange(100, dtype=np.int32),
        },
    )


FLAGS = ["--exclude=c", "--rename=a=alpha", "--splat=b=f16=1"]


def test_faithful_conversion_verifies(tmp_path, src, capsys):
    out = tmp_path / "o.irpa"
    # Converted by the reference tool: verification does not trust our writer.
    oracle.run_tool("iree-convert-parameters", f"--parameters={src}", f"--output={out}", "--quiet", *FLAGS)
    assert main(["verify", f"--parameters={src}", *FLAGS, str(out)]) == 0
    assert "OK" in capsys.readouterr().out
    # The same output without the edits fails, naming what differs.
    assert main(["verify", f"--parameters={src}", str(out), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    st = {e["name"]: e["status"] for e in doc["entries"]}
    assert st == {"a": "missing", "b": "kind differs", "c": "missing", "alpha": "extra"}


def test_flipped_byte_is_named(tmp_path, src, capsys):
    out = tmp_path / "o.irpa"
    assert main(["convert", f"--parameters={src}", f"--output={out}", "--quiet"]) == 0
    blob = bytearray(out.read_bytes())
    e = open_archive(out).by_name["a"]
    blob[e.offset + 1000] ^= 1
    out.write_bytes(bytes(blob))
    assert main(["verify", f"--parameters={src}", f"--output={out}"]) == 1
    text = capsys.readouterr().out
    assert "bytes differ" in text and " a " in text + " " and "first at element 250 [3, 58]" in text


def test_missing_and_extra_in_report(tmp_path, src):
    out = tmp_path / "o.irpa"
    oracle.run_tool(
        "iree-convert-parameters", f"--parameters={src}", f"--output={out}", "--quiet", "--exclude=b", "--rename=c=z"
    )
    r = verify(open_archive(src), Plan(), open_archive(out))
    assert not r.ok
    assert {(c.name, c.status) for c in r.problems} == {("b", "missing"), ("c", "missing"), ("z", "extra")}


def test_diff_f32_vs_f16_figures(tmp_path, capsys):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((128, 16)).astype(np.float32)
    a = make_safetensors(tmp_path / "a.safetensors", {"w": x, "same": np.ones(3, np.int8), "gone": np.ones(2, np.int8)})
    b = make_safetensors(
        tmp_path / "b.safetensors", {"w": x.astype(np.float16), "same": np.ones(3, np.int8), "new": np.ones(2, np.int8)}
    )
    r = diff(open_archive(a), open_archive(b))
    by = {p.name: p for p in r.pairs}
    assert by["same"].status == "identical" and by["gone"].status == "only in A" and by["new"].status == "only in B"
    w = by["w"]
    assert w.status == "values differ" and "dtype f32 -> f16" in w.notes
    xa, xb = x.astype(np.float64), x.astype(np.float16).astype(np.float64)
    d = xa - xb
    m = w.metrics
    assert m.max_abs == pytest.approx(np.abs(d).max(), rel=1e-12)
    assert m.mean_abs == pytest.approx(np.abs(d).mean(), rel=1e-9)
    assert m.rel_l2 == pytest.approx(np.linalg.norm(d) / np.linalg.norm(xa), rel=1e-9)
    assert m.cosine == pytest.approx(xa.ravel() @ xb.ravel() / np.linalg.norm(xa) / np.linalg.norm(xb), rel=1e-12)
    assert main(["diff", str(a), str(b)]) == 1
    assert "relL2=" in capsys.readouterr().out
    assert main(["diff", str(a), str(a)]) == 0


def test_diff_with_rename(tmp_path):
    a = make_safetensors(tmp_path / "a.safetensors", {"blk.0.w": np.ones(3, np.float32)})
    b = make_safetensors(tmp_path / "b.safetensors", {"layers.0.w": np.ones(3, np.float32)})
    assert main(["diff", str(a), str(b), "--rename=blk.*=layers.*"]) == 0


def test_saved_plan_json_all_and_exit_codes(tmp_path, src, capsys):
    out, plan = tmp_path / "o.irpa", tmp_path / "p.json"
    # Any convert line becomes its verify by changing the verb.
    line = [f"--parameters={src}", f"--output={out}", "--quiet", f"--save-plan={plan}", *FLAGS]
    assert main(["convert", *line]) == 0
    assert main(["verify", *line]) == 0
    assert capsys.readouterr().out == ""  # --quiet
    assert main(["verify", f"--parameters={src}", f"--plan={plan}", str(out), "--json", "--all"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"ok", "counts", "entries", "bytes_compared"} and doc["ok"] is True
    assert {e["name"]: e["status"] for e in doc["entries"]} == {"alpha": "same", "b": "same"}
    assert set(doc["entries"][0]) == {"name", "status", "detail", "source", "offset", "difference"}
    assert doc["bytes_compared"] == 64 * 64 * 4
    assert main(["verify", f"--parameters={src}", str(out), "--all"]) == 1
    text = capsys.readouterr().out
    assert "FAILED" in text.splitlines()[-1]
    assert main(["verify", str(out)]) == 1  # no sources: usage error
    assert "irpa: error" in capsys.readouterr().err


def test_duplicate_name_in_output_is_extra(tmp_path, src):
    out = tmp_path / "o.irpa"
    oracle.run_tool("iree-convert-parameters", f"--parameters={src}", f"--output={out}", "--quiet")
    # A second file also holding "c": lookups find the first, the second is extra.
    from tests.fixtures import make_irpa_with_iree

    second = make_irpa_with_iree(tmp_path / "dup.irpa", "--data=c=100xi32")
    r = verify(open_archive(src), Plan(), open_archive(out, second))
    assert [(c.name, c.status) for c in r.problems] == [("c", "extra")]
    assert "duplicate" in r.problems[0].detail
