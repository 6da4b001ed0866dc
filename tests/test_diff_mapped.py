"""irpa diff --map: pairing across schemes, quantization-aware verdicts,
planted conversion bugs, JSON and exit codes, --by-layer.

The conversions are built here with the gguf package (its name tables,
``gguf.quants`` and ``GGUFWriter``), the way llama.cpp's converter does
them (the rope permutation is written out below, as in
``LlamaModel.permute``); the expected figures come from
``gguf.quants.dequantize`` and numpy.
"""

import json

import numpy as np
import pytest

from irpa_core import open_archive
from irpa_core.cli import main
from irpa_core.verdict import mapped_diff
from tests.fixtures import HF_BLOCKS as BLOCKS
from tests.fixtures import HF_HEADS as HEADS
from tests.fixtures import HF_HIDDEN as HIDDEN
from tests.fixtures import convert_hf as _convert
from tests.fixtures import hf_model as _hf_model
from tests.fixtures import make_gguf, make_safetensors
from tests.fixtures import permute_rope as _permute


@pytest.mark.parametrize("qtype", ["F16", "Q8_0", "Q4_0"])
def test_conversion_pairs_every_tensor_within_noise(tmp_path, qtype, capsys):
    st, hf = _hf_model(tmp_path / "hf")
    tensors, kv = _convert(hf, qtype)
    g = make_gguf(tmp_path / f"m-{qtype}.gguf", tensors, kv)
    assert main(["diff", str(st), str(g), "--map=auto", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["only_a"] == [] and doc["only_b"] == []
    assert len(doc["pairs"]) == len(hf)
    by = {p["b"]: p for p in doc["pairs"]}
    assert by["blk.1.attn_q.weight"]["a"] == "model.layers.1.self_attn.q_proj.weight"
    for p in doc["pairs"]:
        want = ("lossless", "within-noise") if qtype == "F16" else ("requantized-exact", "identical")
        if p["dtype_a"] == p["dtype_b"] == "f32":
            want = ("identical",)
        assert p["verdict"] in want, p
        assert set(p["metrics"]) >= {"max_abs", "rmse", "rel_rmse", "cosine", "snr_db"}
    rope = by["blk.0.attn_k.weight"]["transform"]
    assert rope["kind"] == "rope-permutation" and rope["known"] and rope["head_dim"] == HIDDEN // HEADS


def test_metrics_equal_numpy_on_gguf_dequantize(tmp_path):
    import gguf

    st, hf = _hf_model(tmp_path / "hf")
    tensors, kv = _convert(hf, "Q4_0")
    g = make_gguf(tmp_path / "m.gguf", tensors, kv)
    r = mapped_diff(open_archive(st), open_archive(g), "auto")
    p = next(p for p in r.pairs if p.b == "blk.1.attn_q.weight")
    a = _permute(hf["model.layers.1.self_attn.q_proj.weight"], HEADS).astype(np.float64)
    b = gguf.quants.dequantize(tensors["blk.1.attn_q.weight"][1], gguf.GGMLQuantizationType.Q4_0).astype(np.float64)
    d = (b - a).ravel()
    rmse = np.sqrt(np.mean(d * d))
    rms_a = np.sqrt(np.mean(a * a))
    m = p.metrics
    assert m.max_abs == pytest.approx(np.abs(d).max(), rel=1e-6)
    assert m.rmse == pytest.approx(rmse, rel=1e-6)
    assert m.rel_rmse == pytest.approx(rmse / rms_a, rel=1e-6)
    assert m.cosine == pytest.approx((a.ravel() @ b.ravel()) / np.linalg.norm(a) / np.linalg.norm(b), rel=1e-6)
    assert m.snr_db == pytest.approx(10 * np.log10(np.sum(a * a) / np.sum(d * d)), rel=1e-6)
    # The worst element, in both tensors: B's index is the permuted row.
    j = int(np.argmax(np.abs(d)))
    assert p.worst.flat_b == j and p.worst.b == pytest.approx(b.ravel()[j], rel=1e-6)
    hf_a = hf["model.layers.1.self_attn.q_proj.weight"]
    assert hf_a[p.worst.index_a] == pytest.approx(p.worst.a, rel=1e-6)
    assert p.verdict == "requantized-exact"


def _zero_rows(w):
    w = w.copy()
    w[8:16] = 0
    return w


PLANTED = {
    "blk.0.attn_output.weight": lambda w: _permute(w, HEADS),
    "blk.1.attn_norm.weight": lambda w: w + 1,
    "blk.0.ffn_gate.weight": lambda w: w * 0.5,
    "blk.0.ffn_up.weight": lambda w: np.ascontiguousarray(w.T),
    "blk.1.ffn_down.weight": _zero_rows,
    "blk.1.attn_q.weight": lambda w: _unpermute(w, HEADS),  # the converter forgot to permute
}


def _unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def test_planted_faults_are_named_and_located(tmp_path, capsys):
    st, hf = _hf_model(tmp_path / "hf")
    tensors, kv = _convert(hf, "F32", plant=PLANTED)
    tensors["blk.1.ffn_down.weight"] = ("Q8_0", _q8(tensors["blk.1.ffn_down.weight"]))
    g = make_gguf(tmp_path / "bad.gguf", tensors, kv)
    assert main(["diff", str(st), str(g), "--map=auto", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    by = {p["b"]: p for p in doc["pairs"]}
    for name in PLANTED:
        assert by[name]["verdict"] == "transform", by[name]
    kinds = {name: by[name]["transform"]["kind"] for name in PLANTED}
    assert kinds == {
        "blk.0.attn_output.weight": "rows-permuted",
        "blk.1.attn_norm.weight": "offset",
        "blk.0.ffn_gate.weight": "scaled",
        "blk.0.ffn_up.weight": "transposed",
        "blk.1.ffn_down.weight": "zero-filled",
        "blk.1.attn_q.weight": "rows-permuted",
    }
    assert by["blk.1.attn_q.weight"]["transform"]["style"] == "rope-missing"
    assert by["blk.0.attn_output.weight"]["transform"]["style"] == "rope"
    assert by["blk.0.attn_output.weight"]["transform"]["head_dim"] == HIDDEN // HEADS
    assert by["blk.1.attn_norm.weight"]["transform"]["value"] == pytest.approx(1.0, rel=1e-6)
    assert by["blk.0.ffn_gate.weight"]["transform"]["value"] == pytest.approx(0.5, rel=1e-6)
    z = by["blk.1.ffn_down.weight"]["transform"]
    assert z["first_index"][0] == 8 and z["last_index"][0] == 15
    others = [p for n, p in by.items() if n not in PLANTED]
    assert all(p["verdict"] in ("identical", "lossless") for p in others)
    # The human report names them too.
    assert main(["diff", str(st), str(g), "--map=auto"]) == 1
    out = capsys.readouterr().out
    assert "rows permuted rope-style" in out and "offset by a constant +1" in out and "transposed" in out


def _q8(w):
    import gguf

    return gguf.quants.quantize(w, gguf.GGMLQuantizationType.Q8_0)


def test_unpaired_reasons_and_strict(tmp_path, capsys):
    st, hf = _hf_model(tmp_path / "hf")
    tensors, kv = _convert(hf, "F16", drop=("lm_head.weight",))
    tensors["blk.0.extra.weight"] = np.zeros(4, np.float32)
    g = make_gguf(tmp_path / "m.gguf", tensors, kv)
    assert main(["diff", str(st), str(g), "--map=auto", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["only_a"] == [{"name": "lm_head.weight", "reason": "no counterpart (GGUF name output.weight)"}]
    assert doc["only_b"] == [{"name": "blk.0.extra.weight", "reason": "no mapping"}]
    assert main(["diff", str(st), str(g), "--map=auto", "--strict"]) == 1
    assert "only in A          lm_head.weight" in capsys.readouterr().out


def test_user_table_with_globs_and_bad_table(tmp_path, capsys):
    st, hf = _hf_model(tmp_path / "hf")
    tensors, kv = _convert(hf, "F32")
    g = make_gguf(tmp_path / "m.gguf", tensors, kv)
    table = tmp_path / "map.json"
    table.write_text(json.dumps({"model.layers.*.mlp.up_proj.weight": "blk.*.ffn_up.weight"}))
    r = mapped_diff(open_archive(st), open_archive(g), str(table))
    assert [(p.a, p.b, p.verdict) for p in r.pairs] == [
        (f"model.layers.{i}.mlp.up_proj.weight", f"blk.{i}.ffn_up.weight", "identical") for i in range(BLOCKS)
    ]
    assert ("model.norm.weight", "no mapping") in r.only_a
    table.write_text("[1, 2]")
    assert main(["diff", str(st), str(g), f"--map={table}"]) == 2
    err = capsys.readouterr().err
    assert str(table) in err and "--map" in err and "JSON object" in err


def test_gemma_norm_offset_is_applied(tmp_path, capsys):
    st, hf = _hf_model(tmp_path / "hf", model_type="gemma")
    tensors, kv = _convert(hf, "F32", arch="gemma")
    g = make_gguf(tmp_path / "m.gguf", tensors, kv, arch="gemma")
    assert main(["diff", str(st), str(g), "--map=auto", "--json"]) == 0
    by = {p["b"]: p for p in json.loads(capsys.readouterr().out)["pairs"]}
    p = by["blk.0.attn_norm.weight"]
    assert p["verdict"] in ("lossless", "within-noise") and p["transform"]["kind"] == "norm-offset"
    assert by["blk.0.attn_q.weight"]["transform"] is None  # no rope permutation in gemma


def test_two_quants_and_finetune_by_layer(tmp_path, capsys):
    _, hf = _hf_model(tmp_path / "hf")
    q4, kv = _convert(hf, "Q4_0")
    q8, _ = _convert(hf, "Q8_0")
    a, b = make_gguf(tmp_path / "q4.gguf", q4, kv), make_gguf(tmp_path / "q8.gguf", q8, kv)
    assert main(["diff", str(a), str(b), "--map=identity", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {p["verdict"] for p in doc["pairs"]} <= {"identical", "within-noise"}
    tuned = dict(hf)
    tuned["model.layers.1.mlp.down_proj.weight"] = tuned["model.layers.1.mlp.down_proj.weight"] * 1.01 + 0.001
    base = make_safetensors(tmp_path / "base.safetensors", hf)
    t = make_safetensors(tmp_path / "tuned.safetensors", tuned)
    assert main(["diff", str(base), str(t), "--by-layer", "--json"]) == 1
    table = json.loads(capsys.readouterr().out)["by_layer"]
    blocks = {row["block"]: row for row in table["blocks"]}
    assert blocks[0]["rel_rmse"] == 0 and blocks[1]["rel_rmse"] > 0
    assert {k for k, v in blocks[1]["roles"].items() if v} == {"mlp.down_proj.weight"}
    assert main(["diff", str(base), str(t), "--by-layer"]) == 1
    out = capsys.readouterr().out
    assert "by layer: rel_rmse" in out and "mlp.down_proj.weight" in out


def test_worker_processes_give_the_same_report(tmp_path, monkeypatch):
    from irpa_core import verdict

    st, hf = _hf_model(tmp_path / "hf")
    tensors, kv = _convert(hf, "Q8_0", plant={"blk.0.ffn_gate.weight": lambda w: w * 0.5})
    g = make_gguf(tmp_path / "m.gguf", tensors, kv)
    serial = mapped_diff(open_archive(st), open_archive(g), "auto")
    monkeypatch.setattr(verdict, "PARALLEL_BYTES", 0)
    parallel = mapped_diff(open_archive(st), open_archive(g), "auto", workers=2)
    assert parallel.to_json() == serial.to_json()
    # Big tensors go as runs of rows: the same verdicts, worst elements and
    # (to rounding: the sums add up in another order) figures.
    monkeypatch.setattr(verdict, "TASK_BYTES", 1000)
    runs = mapped_diff(open_archive(st), open_archive(g), "auto", workers=2)
    for p, q in zip(runs.pairs, serial.pairs, strict=True):
        assert (p.a, p.b, p.verdict, p.worst) == (q.a, q.b, q.verdict, q.worst)
        assert (p.transform or {}).get("text") == (q.transform or {}).get("text")
        for k, v in q.metrics.to_json().items():
            assert p.metrics.to_json()[k] == (pytest.approx(v, rel=1e-9) if isinstance(v, float) else v), k


def _fused_conversion(tmp_path):
    """A checkpoint (its path and tensors) and its GGUF conversion whose
    blocks hold Q, K and V fused in one Q8_0 ``attn_qkv``."""
    import gguf

    st, hf = _hf_model(tmp_path / "hf")
    tensors, kv = _convert(hf, "F32")
    for i in range(BLOCKS):
        p = f"blk.{i}."
        qkv = np.concatenate([tensors.pop(p + r + ".weight") for r in ("attn_q", "attn_k", "attn_v")])
        tensors[p + "attn_qkv.weight"] = ("Q8_0", gguf.quants.quantize(qkv, gguf.GGMLQuantizationType.Q8_0))
    return st, hf, make_gguf(tmp_path / "fused.gguf", tensors, kv)


def test_fused_qkv_pairs_with_the_separate_projections(tmp_path, capsys):
    st, _, g = _fused_conversion(tmp_path)
    assert main(["diff", str(st), str(g), "--map=auto", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["only_a"] == [] and doc["only_b"] == []
    p = next(p for p in doc["pairs"] if p["b"] == "blk.1.attn_qkv.weight")
    assert p["a_parts"] == [f"model.layers.1.self_attn.{r}_proj.weight" for r in "qkv"]
    assert p["verdict"] == "requantized-exact" and p["transform"]["kind"] == "fused"
    assert [t["kind"] for t in p["transform"]["applied"]] == ["rope-permutation"] * 2


def test_a_fused_qkv_in_a_pairs_with_b_separate_projections(tmp_path, capsys):
    """The other order (``irpa diff model.gguf model.safetensors``): A's
    fused QKV against B's Q, K and V, each against its rows of A with the
    rope permutation undone; the GGUF, now the reference, is within its
    quantization's noise of the checkpoint."""
    st, hf, g = _fused_conversion(tmp_path)
    assert main(["diff", str(g), str(st), "--map=auto", "--json", "--by-layer"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["only_a"] == [] and doc["only_b"] == []
    p = next(p for p in doc["pairs"] if p["a"] == "blk.1.attn_qkv.weight")
    assert p["b_parts"] == [f"model.layers.1.self_attn.{r}_proj.weight" for r in "qkv"]
    assert p["verdict"] == "within-noise" and p["transform"]["kind"] == "fused"
    assert [t["kind"] for t in p["transform"]["applied"]] == ["rope-permutation"] * 2
    assert (p["dtype_a"], p["dtype_b"]) == ("Q8_0", "f32")
    assert "attn_qkv.weight" in doc["by_layer"]["roles"]
    # A planted fault in one part is found there: B's V rows scaled.
    hf2 = {k: v.copy() for k, v in hf.items()}
    hf2["model.layers.1.self_attn.v_proj.weight"] *= 1.5
    (tmp_path / "hf2").mkdir()
    st2 = make_safetensors(tmp_path / "hf2" / "model.safetensors", hf2)
    (tmp_path / "hf2" / "config.json").write_text((st.parent / "config.json").read_text())
    assert main(["diff", str(g), str(st2), "--map=auto", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    bad = [p for p in doc["pairs"] if p["verdict"] not in ("identical", "within-noise")]
    assert [p["a"] for p in bad] == ["blk.1.attn_qkv.weight"]


def test_jobs_flag(tmp_path, capsys, monkeypatch):
    """``--jobs N`` sets the workers of a verdict run (the same report);
    a bad count (exit 2, as every verdict-mode error), or --jobs on a
    by-name diff, is refused in one line."""
    from irpa_core import verdict

    st, hf = _hf_model(tmp_path / "hf")
    tensors, kv = _convert(hf, "Q8_0")
    g = make_gguf(tmp_path / "m.gguf", tensors, kv)
    seen = []
    real = verdict.mapped_diff

    def spy(*a, **kw):
        seen.append(kw["workers"])
        return real(*a, **kw)

    monkeypatch.setattr(verdict, "mapped_diff", spy)
    outs = []
    for jobs in ("1", "2"):
        assert main(["diff", str(st), str(g), "--map=auto", "--json", "--jobs", jobs]) == 0
        outs.append(capsys.readouterr().out)
    assert seen == [1, 2] and outs[0] == outs[1]
    assert main(["diff", str(st), str(g), "--map=auto", "--jobs", "0"]) == 2
    assert main(["diff", str(st), str(st), "--jobs", "2"]) == 1  # by-name errors are 1, as before
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--jobs must be at least 1" in err[0] and "--jobs applies with --map" in err[1]
