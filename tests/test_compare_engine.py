"""The engine pieces of the TUI's compare screen: the difference heatmap of
a pair (against numpy on ``gguf.quants.dequantize``d values), the per-layer
chart's layout, and the filter language's ``verdict:`` term."""

import math

import numpy as np
import pytest

from irpa_core import open_archive
from irpa_core.heatmap import edges
from irpa_core.layer_chart import layer_chart, roles_that_differ, short_role
from irpa_core.name_map import pair_names
from irpa_core.pair_diff import difference
from irpa_core.stats.decoding import DecodeError
from irpa_tui.filtering import FilterError, Row, parse
from tests.fixtures import HF_HEADS as HEADS
from tests.fixtures import convert_hf, hf_model, make_gguf, make_safetensors, permute_rope


def _pair(a, b, name_b):
    pairing = pair_names(a, b, "auto")
    return next(p for p in pairing.pairs if p.b == name_b), pairing.architecture


def test_difference_grid_equals_numpy_on_dequantized_values(tmp_path):
    import gguf

    st, hf = hf_model(tmp_path / "hf")
    tensors, kv = convert_hf(hf, "Q4_0")
    g = make_gguf(tmp_path / "m.gguf", tensors, kv)
    a, b = open_archive(st), open_archive(g)
    pair, arch = _pair(a, b, "blk.1.attn_q.weight")
    got = difference(a, b, pair, arch, 5, 7, top=3)
    want_a = permute_rope(hf["model.layers.1.self_attn.q_proj.weight"], HEADS).astype(np.float64)
    want_b = gguf.quants.dequantize(tensors["blk.1.attn_q.weight"][1], gguf.GGMLQuantizationType.Q4_0)
    ad = np.abs(want_b.astype(np.float64) - want_a)
    re_, ce = edges(0, ad.shape[0], 5), edges(0, ad.shape[1], 7)
    grid = np.array([[ad[re_[i] : re_[i + 1], ce[j] : ce[j + 1]].max() for j in range(7)] for i in range(5)])
    assert got.heatmap.values.shape == (5, 7)
    np.testing.assert_allclose(got.heatmap.values, grid, rtol=1e-6)
    # The worst three, largest first; A's index is the row before the rope permutation.
    flat = np.argsort(-ad.ravel(), kind="stable")[:3]
    assert [w.flat_b for w in got.worst] == list(flat)
    hf_a = hf["model.layers.1.self_attn.q_proj.weight"]
    for w in got.worst:
        assert w.b == pytest.approx(want_b.ravel()[w.flat_b], rel=1e-6)
        assert hf_a[w.index_a] == pytest.approx(w.a, rel=1e-6)
        assert abs(w.b - w.a) == pytest.approx(ad.ravel()[w.flat_b], rel=1e-6)


def test_difference_of_a_vector_is_one_row_and_of_equal_tensors_has_no_worst(tmp_path):
    x = np.linspace(-1, 1, 40, dtype=np.float32)
    a = open_archive(make_safetensors(tmp_path / "a.safetensors", {"v": x, "w": np.ones((4, 4), np.float32)}))
    y = x.copy()
    y[33] += 0.5
    b = open_archive(make_safetensors(tmp_path / "b.safetensors", {"v": y, "w": np.ones((4, 4), np.float32)}))
    pair, arch = _pair(a, b, "v")
    got = difference(a, b, pair, arch, 10, 8)
    assert got.heatmap.values.shape == (1, 8)
    assert got.heatmap.values[0].argmax() == 33 * 8 // 40 and got.worst[0].flat_b == 33
    same = difference(a, b, *_pair(a, b, "w"), 4, 4)
    assert same.worst == () and not same.heatmap.values.any()


def test_layer_chart_layout_on_a_log_scale():
    doc = {
        "metric": "rel_rmse",
        "roles": ["attn_q.weight", "ffn_up.weight"],
        "blocks": [
            {"block": 0, "rel_rmse": 1e-3, "roles": {"attn_q.weight": 1e-4, "ffn_up.weight": 1e-2}},
            {"block": 1, "rel_rmse": 0.0, "roles": {"attn_q.weight": 0.0}},
            {"block": 2, "rel_rmse": "inf", "roles": {"attn_q.weight": None, "ffn_up.weight": "inf"}},
        ],
    }
    c = layer_chart(doc)
    assert c.blocks == (0, 1, 2) and c.roles == ("attn_q.weight", "ffn_up.weight")
    assert c.cells[1] == (0.0, None) and c.cells[2][1] == math.inf
    assert (c.lo, c.hi) == (1e-4, 1e-2)
    assert c.position(1e-4) == 0.0 and c.position(1e-2) == 1.0 and c.position(1e-3) == pytest.approx(0.5)
    assert c.position(0.0) == 0.0 and c.position(None) is None and c.position(math.inf) == 1.0
    assert c.bar(1e-3, 10) == 5 and c.bar(0.0, 10) == 0 and c.bar(1e-4, 10) == 1
    assert c.color(1e-2) != c.color(1e-4) and c.color(None) is None
    assert short_role("attn_q.weight") == "attn_q"
    assert layer_chart({"roles": [], "blocks": []}).empty
    # A role equal in every block (0 or no value) is left out, and counted.
    doc["roles"].append("attn_norm.weight")
    for blk in doc["blocks"]:
        blk["roles"]["attn_norm.weight"] = 0.0
    c = layer_chart(doc)
    assert c.roles == ("attn_q.weight", "ffn_up.weight") and c.left_out == 1
    assert roles_that_differ(doc) == ["attn_q.weight", "ffn_up.weight"]


def test_verdict_filter_term_by_prefix():
    verdicts = ["differs", "within-noise", "only-in-a", "only-in-b", "identical"]
    row = Row(
        names=["a", "b", "c", "d", "e"],
        new_names=lambda i: None,
        any_renamed=False,
        entries=[],
        mark=lambda i: "kept",
        renamed=lambda i: False,
        flags=lambda i: (),
        verdict=lambda i: verdicts[i],
    )
    order = list(range(5))
    assert parse("verdict:diff").select(order, row) == [0]
    assert parse("verdict:within").select(order, row) == [1]
    assert parse("verdict:only").select(order, row) == [2, 3]
    assert parse("!verdict:only verdict:i").select(order, row) == [4]
    with pytest.raises(FilterError, match="verdict: 'nope' starts none of"):
        parse("verdict:nope")


def test_difference_applies_the_norm_offset_and_lines_up_fused_parts(tmp_path):
    import gguf

    st, hf = hf_model(tmp_path / "gemma", model_type="gemma")
    tensors, kv = convert_hf(hf, "F32", arch="gemma")
    g = make_gguf(tmp_path / "gemma.gguf", tensors, kv, arch="gemma")
    a, b = open_archive(st), open_archive(g)
    got = difference(a, b, *_pair(a, b, "blk.0.attn_norm.weight"), 4, 16)
    assert got.worst == () and got.heatmap.values.shape == (1, 16)  # 1 + w added as the converter does

    st, hf = hf_model(tmp_path / "llama")
    tensors, kv = convert_hf(hf, "F32")
    p = "blk.1."
    qkv = np.concatenate([tensors.pop(p + r + ".weight") for r in ("attn_q", "attn_k", "attn_v")])
    tensors[p + "attn_qkv.weight"] = ("Q8_0", gguf.quants.quantize(qkv, gguf.GGMLQuantizationType.Q8_0))
    g = make_gguf(tmp_path / "fused.gguf", tensors, kv)
    a, b = open_archive(st), open_archive(g)
    pair, arch = _pair(a, b, "blk.1.attn_qkv.weight")
    got = difference(a, b, pair, arch, qkv.shape[0], 1, top=1)
    want = np.abs(gguf.quants.dequantize(tensors[p + "attn_qkv.weight"][1], gguf.GGMLQuantizationType.Q8_0) - qkv)
    np.testing.assert_allclose(got.heatmap.values[:, 0], want.max(axis=1), rtol=1e-6)
    assert got.worst[0].flat_b == int(np.argmax(want))
    # The other order: A's fused QKV against B's parts has no map yet, and says so.
    pairing = pair_names(b, a, "auto")
    rev = next(p for p in pairing.pairs if p.a == "blk.1.attn_qkv.weight")
    assert rev.b_parts == tuple(f"model.layers.1.self_attn.{r}_proj.weight" for r in "qkv")
    with pytest.raises(DecodeError, match="holds B's 3 parts fused"):
        difference(b, a, rev, pairing.architecture, 4, 16)
