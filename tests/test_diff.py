"""irpa diff: statuses, value figures against numpy/gguf, exit codes, JSON shape."""

import json

import numpy as np
import pytest

from irpa_core import open_archive
from irpa_core.cli import main
from irpa_core.diff import diff
from irpa_core.errors import Cancelled
from irpa_core.plan import Plan
from tests.fixtures import make_gguf, make_safetensors


def _figures(xa, xb):
    xa, xb = xa.astype(np.float64).ravel(), xb.astype(np.float64).ravel()
    d = xa - xb
    return (
        np.abs(d).max(),
        np.abs(d).mean(),
        np.linalg.norm(d) / np.linalg.norm(xa),
        xa @ xb / np.linalg.norm(xa) / np.linalg.norm(xb),
    )


def test_quantized_compares_by_value(tmp_path):
    # Expected figures from gguf's own dequantizer, not from our decoder.
    import gguf

    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 64)).astype(np.float32)
    q = gguf.quants.quantize(x, gguf.GGMLQuantizationType.Q8_0)
    a = make_safetensors(tmp_path / "a.safetensors", {"w": x})
    b = make_gguf(tmp_path / "b.gguf", {"w": ("Q8_0", q)})
    p = diff(open_archive(a), open_archive(b)).pairs[0]
    assert p.status == "values differ"
    want = _figures(x, gguf.quants.dequantize(q, gguf.GGMLQuantizationType.Q8_0))
    got = (p.metrics.max_abs, p.metrics.mean_abs, p.metrics.rel_l2, p.metrics.cosine)
    assert got == pytest.approx(want, rel=1e-6)
    assert p.metrics.count == x.size


def test_same_bytes_other_dtype_is_a_change(tmp_path):
    # Identical bytes under another dtype or shape are not "identical".
    x = np.arange(8, dtype=np.int32)
    a = make_safetensors(tmp_path / "a.safetensors", {"t": x, "s": x})
    b = make_safetensors(tmp_path / "b.safetensors", {"t": x.view(np.float32), "s": x.reshape(2, 4)})
    r = diff(open_archive(a), open_archive(b))
    by = {p.name: p for p in r.pairs}
    assert by["t"].status != "identical" and any("dtype" in n for n in by["t"].notes)
    assert by["s"].status != "identical" and any("shape" in n for n in by["s"].notes)
    assert not r.identical
    assert main(["diff", str(a), str(b)]) == 1


def test_lossless_cast_is_a_change_of_dtype_not_of_values(tmp_path):
    x = np.array([0.5, -2.0, 1024.0, 0.0], np.float32)  # every value exact in f16
    y = np.array([0.1, 1.0, 2.0, 3.0], np.float32)  # 0.1 is not
    a = make_safetensors(tmp_path / "a.safetensors", {"x": x, "y": y})
    b = make_safetensors(tmp_path / "b.safetensors", {"x": x.astype(np.float16), "y": y.astype(np.float16)})
    by = {p.name: p for p in diff(open_archive(a), open_archive(b)).pairs}
    assert by["x"].status == "changed" and by["x"].metrics.max_abs == 0
    assert any("dtype f32 -> f16" in n for n in by["x"].notes)
    assert by["y"].status == "values differ" and by["y"].metrics.outside == 1


def test_rename_collision_keeps_both_entries(tmp_path):
    one = np.ones(3, np.float32)
    a = make_safetensors(tmp_path / "a.safetensors", {"x.a": one, "y.a": one * 2})
    b = make_safetensors(tmp_path / "b.safetensors", {"z": one})
    r = diff(open_archive(a), open_archive(b), rename=Plan().rename("*.a", "z"))
    listed = {p.a.name for p in r.pairs if p.a is not None}
    assert listed == {"x.a", "y.a"}  # neither A entry vanishes
    assert not r.identical


def test_json_shape_and_exit_codes(tmp_path, capsys):
    x = np.linspace(-1, 1, 50, dtype=np.float32)
    a = make_safetensors(tmp_path / "a.safetensors", {"w": x, "gone": np.zeros(2, np.int8)})
    b = make_safetensors(tmp_path / "b.safetensors", {"w": x.astype(np.float16), "new": np.zeros(2, np.int8)})
    assert main(["diff", str(a), str(b), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"identical", "ok", "counts", "entries"} and doc["identical"] is False
    assert doc["counts"]["values differ"] == 1 and doc["counts"]["only in A"] == 1 and doc["counts"]["only in B"] == 1
    w = next(e for e in doc["entries"] if e["name"] == "w")
    assert set(w) == {"name", "status", "a", "notes", "metrics", "difference"}
    assert w["metrics"]["max_abs"] == pytest.approx(_figures(x, x.astype(np.float16))[0], rel=1e-12)
    assert main(["diff", str(a), str(a), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["identical"] is True
    assert main(["diff", str(a)]) == 1  # usage error
    assert main(["diff", str(a), str(tmp_path / "nope.irpa")]) != 0


def test_cancel_stops_diff(tmp_path):
    import threading

    a = make_safetensors(tmp_path / "a.safetensors", {"w": np.ones(10, np.float32)})
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        diff(open_archive(a), open_archive(a), cancel=ev)


def test_reference_conversion_without_metadata_is_identical(tmp_path):
    # iree-convert-parameters writes no dtype metadata: unknown is not "changed".
    from tests import oracle

    a = make_safetensors(
        tmp_path / "a.safetensors", {"w": np.ones((4, 4), np.float32), "i": np.arange(5, dtype=np.int8)}
    )
    out = tmp_path / "o.irpa"
    oracle.run_tool("iree-convert-parameters", f"--parameters={a}", f"--output={out}", "--quiet")
    r = diff(open_archive(a), open_archive(out))
    assert r.identical, r.pairs


def test_nan_propagates_like_numpy(tmp_path):
    x = np.linspace(-1, 1, 40, dtype=np.float32)
    y = x.copy()
    y[3] = np.nan
    a = make_safetensors(tmp_path / "a.safetensors", {"w": x})
    b = make_safetensors(tmp_path / "b.safetensors", {"w": y.astype(np.float16)})
    m = diff(open_archive(a), open_archive(b)).pairs[0].metrics
    want = _figures(x, y.astype(np.float16))
    assert np.isnan(want[0]) and np.isnan(m.max_abs) and np.isnan(m.mean_abs)
