"""The engine behind exploring: names for people (display), the model
summary against the gguf package's reader and numpy, heatmaps against numpy
per cell, anomaly flags on planted tensors, GGUF enums and f32 values, and
the metadata model's search over a 262,144-token vocabulary."""

import json
import math

import gguf
import numpy as np
import pytest

from irpa_core import heatmap as H
from irpa_core import open_archive, scan
from irpa_core import stats as S
from irpa_core.cli import main
from irpa_core.display import clip, escape, f32, shown
from irpa_core.metadata import describe, scalar_text
from irpa_core.naming import layer_group, role
from irpa_core.summary import summarize
from tests.fixtures import make_gguf, make_model_gguf, make_safetensors, quantized_bytes

# -- display ----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, want",
    [
        ("blk.0.attn_q.weight", "blk.0.attn_q.weight"),
        ("[b]x[/b]", "[b]x[/b]"),  # markup is not ours to escape: it is shown as Text
        ("a\x1b[2Jb", "a\\e[2Jb"),
        ("\x1b]8;;http://x\x07", "\\e]8;;http://x\\x07"),
        ("nul\x00", "nul\\0"),
        ("\u202eevil", "\\u202eevil"),
        ("tab\there\n", "tab\\there\\n"),
        ("back\\slash\n", "back\\\\slash\\n"),  # doubled only when something else is escaped
        ("back\\slash", "back\\slash"),
        (b"ok\xff".decode("utf-8", "surrogateescape"), "ok\\xff"),
        ("日本語 ▁the", "日本語 ▁the"),
        ("\x7f\x85", "\\x7f\\x85"),
    ],
)
def test_escape(raw, want):
    assert escape(raw) == want


def test_clip_and_shown_say_the_length():
    assert clip("abc", 5) == "abc"
    long = "L" * 10_000
    out = shown(long, 60)
    assert len(out) <= 60 and out.endswith("… (10,000 characters)")
    assert shown("\x1b" * 5000, 40).startswith("\\e\\e") and len(shown("\x1b" * 5000, 40)) <= 40


@pytest.mark.parametrize("x", [1e-6, 1e-5, 0.1, 1 / 3, 3.4028235e38, 1.4e-45, -2.5, 10000.0, 1e30])
def test_f32_shortest_round_trip(x):
    v = float(np.float32(x))
    text = f32(v)
    assert float(np.float32(float(text))) == v
    assert len(text.replace("-", "").replace(".", "").split("e")[0]) <= 9
    assert f32(float(np.float32(1e-6))) == "1e-06"


def test_naming():
    assert layer_group("blk.3.ffn_down.weight") == "blk.*.ffn_down.weight"
    assert role("blk.3.ffn_down.weight") == "ffn_down"
    assert role("model.layers.12.mlp.down_proj.weight") == "mlp.down_proj"
    assert role("layers.3.experts.5.w1") == "experts.*.w1"
    assert role("output_norm.weight") == "output_norm"


# -- summary ----------------------------------------------------------------


def test_summary_of_a_gguf_against_the_gguf_reader(tmp_path):
    p = make_model_gguf(tmp_path / "m.gguf", vocab=1500, blocks=6)
    s = summarize(open_archive(p))
    r = gguf.GGUFReader(str(p))

    def field(key):
        f = r.fields[key]
        return f.parts[f.data[0]][0]

    assert s.architecture.value == "gemma3" and s.architecture.source == "GGUF key general.architecture"
    assert s.name.value == "Gemma-like test model"
    assert s.blocks.value == field("gemma3.block_count") == 6
    assert s.embedding.value == field("gemma3.embedding_length")
    assert s.heads.value == field("gemma3.attention.head_count")
    assert s.heads_kv.value == field("gemma3.attention.head_count_kv")
    assert s.context.value == field("gemma3.context_length")
    assert s.vocabulary.value == len(r.fields["tokenizer.ggml.tokens"].data) == 1500
    assert s.tensors == len(r.tensors)
    assert s.parameters == sum(int(t.n_elements) for t in r.tensors)
    assert s.bytes == sum(int(t.n_bytes) for t in r.tensors)
    by = {sh.dtype: sh for sh in s.by_dtype}
    for t in r.tensors:
        assert t.tensor_type.name in by or t.tensor_type.name.lower() in by
    for name in ("Q8_0", "Q5_0", "Q4_K", "Q6_K"):
        ts = [t for t in r.tensors if t.tensor_type.name == name]
        assert by[name].tensors == len(ts)
        assert by[name].elements == sum(int(t.n_elements) for t in ts)
        assert by[name].bytes == sum(int(t.n_bytes) for t in ts)
        block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[name]]
        assert math.isclose(by[name].bits_per_weight, 8 * size / block)
    groups = {g.role: g for g in s.groups}
    assert groups["ffn_down"].mix == "Q4_K x3, Q6_K x3"
    assert groups["attn_q"].mix == "Q5_0 x6" and groups["token_embd"].mix == "Q8_0 x1"
    assert math.isclose(s.bits_per_weight, 8 * s.bytes / s.parameters)


def test_summary_of_safetensors_with_and_without_config(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "embeddings.word_embeddings.weight": rng.standard_normal((300, 16)).astype(np.float32),
        "embeddings.position_embeddings.weight": rng.standard_normal((128, 16)).astype(np.float32),
        **{f"encoder.layer.{i}.attention.self.query.weight": np.ones((16, 16), np.float16) for i in range(3)},
    }
    d = tmp_path / "model"
    d.mkdir()
    p = make_safetensors(d / "model.safetensors", tensors)
    s = summarize(open_archive(p))
    assert s.parameters == sum(a.size for a in tensors.values())
    assert s.bytes == sum(a.nbytes for a in tensors.values())
    assert s.architecture.value == "bert" and "inferred" in s.architecture.source
    assert s.blocks.value == 3 and "inferred" in s.blocks.source
    assert s.vocabulary.value == 300 and "inferred" in s.vocabulary.source
    assert s.embedding.value == 16 and s.context.value == 128
    assert s.heads.value is None and s.heads.source == ""  # unknown, not guessed
    (d / "config.json").write_text(json.dumps({"model_type": "bert", "num_attention_heads": 4, "hidden_size": 16}))
    s = summarize(open_archive(p))
    assert s.heads.value == 4 and s.heads.source == "config.json num_attention_heads"
    assert s.architecture.source == "config.json model_type"


def test_irpa_info_cli(tmp_path, capsys):
    p = make_model_gguf(tmp_path / "m.gguf", vocab=600, blocks=2)
    assert main(["info", str(p), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["blocks"] == {"value": 2, "source": "GGUF key gemma3.block_count"}
    assert doc["heads"]["value"] == 4 and doc["parameters"] > 0
    assert main(["info", str(p)]) == 0
    out = capsys.readouterr().out
    assert "ffn_down" in out and "Q4_K x1, Q6_K x1" in out and "bits per weight" in out
    src = make_safetensors(tmp_path / "x.safetensors", {"w": np.ones((2, 2), np.float32)})
    assert main(["info", str(src)]) == 0
    assert "unknown" in capsys.readouterr().out


# -- heatmap ----------------------------------------------------------------


def _cells_by_numpy(a: np.ndarray, hm: H.Heatmap) -> np.ndarray:
    out = np.full(hm.values.shape, np.nan)
    for i in range(hm.values.shape[0]):
        for j in range(hm.values.shape[1]):
            block = a[hm.row_edges[i] : hm.row_edges[i + 1], hm.col_edges[j] : hm.col_edges[j + 1]]
            fin = block[np.isfinite(block)].astype(np.float64)
            if fin.size:
                out[i, j] = fin.mean() if hm.mode == H.MEAN else np.abs(fin).max()
    return out


@pytest.mark.parametrize("mode", H.MODES)
def test_heatmap_cells_match_numpy(tmp_path, mode, monkeypatch):
    monkeypatch.setattr(S, "CHUNK_VALUES", 256)  # many slices, cells across slice borders
    rng = np.random.default_rng(4)
    a = rng.standard_normal((37, 53)).astype(np.float32)
    a[5, 7] = np.nan
    a[20:23, 40:] = np.inf
    e = open_archive(make_safetensors(tmp_path / "a.safetensors", {"a": a})).entries[0]
    hm = H.compute(e, 5, 7, mode=mode)
    assert hm.values.shape == (5, 7) and hm.row_edges[-1] == 37 and hm.col_edges[-1] == 53
    np.testing.assert_allclose(hm.values, _cells_by_numpy(a, hm), rtol=1e-12, equal_nan=True)
    # Zoom: a region, more cells than rows (one row each).
    hm = H.compute(e, 100, 4, mode=mode, region=H.Region(10, 16, 3, 30))
    assert hm.values.shape == (6, 4)
    np.testing.assert_allclose(hm.values, _cells_by_numpy(a, hm), rtol=1e-12, equal_nan=True)
    assert hm.subregion(1, 3, 0, 2) == H.Region(11, 13, 3, int(hm.col_edges[2]))


def test_heatmap_of_a_quantized_3d_tensor(tmp_path):
    data = quantized_bytes("Q8_0", 2 * 24, 64, seed=3)  # stored as 48 rows of 64
    p = make_gguf(tmp_path / "q.gguf", {"q": ("Q8_0", data.reshape(2, 24, -1))})
    e = open_archive(p).entries[0]
    assert e.shape == (2, 24, 64)
    want = gguf.quants.dequantize(data, gguf.GGMLQuantizationType.Q8_0).reshape(48, 64)
    for mode in H.MODES:
        hm = H.compute(e, 6, 8, mode=mode)
        np.testing.assert_allclose(hm.values, _cells_by_numpy(want, hm), rtol=1e-6)


def test_heatmap_png_and_cli(tmp_path, capsys):
    import struct
    import zlib

    a = np.arange(12 * 20, dtype=np.float32).reshape(12, 20) - 100
    p = make_safetensors(tmp_path / "a.safetensors", {"a": a, "v": np.ones(4, np.float32)})
    out = tmp_path / "a.png"
    assert main(["heatmap", str(p), "--name", "a", "--png", str(out), "--cells", "6x10", "--scale", "3"]) == 0
    assert "6x10 cells" in capsys.readouterr().out
    blob = out.read_bytes()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", blob[16:24])
    assert (w, h) == (30, 18)
    # Every chunk's CRC checks out and the pixels decompress to the size.
    pos, raw = 8, b""
    while pos < len(blob):
        (n,) = struct.unpack(">I", blob[pos : pos + 4])
        kind, data = blob[pos + 4 : pos + 8], blob[pos + 8 : pos + 8 + n]
        assert struct.unpack(">I", blob[pos + 8 + n : pos + 12 + n])[0] == zlib.crc32(kind + data)
        raw += data if kind == b"IDAT" else b""
        pos += 12 + n
    assert len(zlib.decompress(raw)) == h * (1 + 3 * w)
    assert main(["heatmap", str(p), "--name", "a", "--json", "--cells", "3x4"]) == 0
    doc = json.loads(capsys.readouterr().out)
    hm = H.compute(open_archive(p).by_name["a"], 3, 4)
    assert doc["values"] == hm.values.tolist() and doc["scale"][0] == -doc["scale"][1]
    assert main(["heatmap", str(p), "--name", "v", "--json"]) == 1  # 1-D: explained, not drawn
    assert "needs 2 or more" in capsys.readouterr().err


def test_colours_are_diverging_around_zero():
    rgb = H.colors(np.array([-1.0, 0.0, 1.0, np.nan]), H.MEAN, (-1.0, 1.0))
    assert tuple(rgb[1]) == H.DIVERGING[2] and tuple(rgb[0]) == H.DIVERGING[0] and tuple(rgb[2]) == H.DIVERGING[-1]
    assert tuple(rgb[3]) == H.NO_VALUE


# -- anomalies ----------------------------------------------------------------


def _planted(tmp_path):
    rng = np.random.default_rng(6)
    t = {f"blk.{i}.ffn.weight": (rng.standard_normal((32, 16)) * 0.02).astype(np.float32) for i in range(6)}
    t["blk.3.ffn.weight"] *= 1000  # std far above its siblings
    nan = rng.standard_normal((8, 8)).astype(np.float32)
    nan[1, 2], nan[3, 3] = np.nan, np.inf
    t["nan.weight"] = nan
    t["zero.weight"] = np.zeros((4, 4), np.float32)
    t["const.weight"] = np.full((4, 4), 0.5, np.float16)
    t["fine.weight"] = rng.standard_normal(16).astype(np.float32)
    return make_safetensors(tmp_path / "planted.safetensors", t)


def test_anomalies_on_planted_tensors(tmp_path):
    a = open_archive(_planted(tmp_path))
    rows = {i: scan.Row.of(st) for i, st in scan.scan(a.entries) if st is not None}
    flags = {a.entries[i].name: {f.kind for f in fs} for i, fs in scan.anomalies(a.entries, rows).items()}
    assert flags == {
        "blk.3.ffn.weight": {"std"},
        "nan.weight": {"nan", "inf"},
        "zero.weight": {"zero"},
        "const.weight": {"constant"},
    }


def test_stats_anomalies_cli(tmp_path, capsys):
    p = _planted(tmp_path)
    assert main(["stats", str(p), "--anomalies", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    got = {e["name"]: [f["flag"] for f in e["flags"]] for e in doc["flagged"]}
    assert got["nan.weight"] == ["nan", "inf"] and got["const.weight"] == ["constant"]
    assert doc["scanned"] == 10
    assert main(["stats", str(p), "--anomalies"]) == 0
    out = capsys.readouterr().out
    assert "5 anomalies in 4 of 10 tensors" in out and "splat would do" in out


# -- metadata -----------------------------------------------------------------


def test_enums_types_and_f32_precision(tmp_path):
    p = make_model_gguf(tmp_path / "m.gguf", vocab=300, blocks=1)
    f = open_archive(p).files[0]
    md, types = f.metadata, f.metadata_types
    assert describe("general.file_type", md["general.file_type"]) == "MOSTLY_Q4_K_M"
    assert describe("gemma3.pooling_type", md["gemma3.pooling_type"]) == "MEAN"
    assert describe("tokenizer.ggml.bos_token_id", 2, "u32", md) == "<bos>"
    assert types["gemma3.attention.layer_norm_rms_epsilon"] == "f32"
    assert scalar_text(md["gemma3.attention.layer_norm_rms_epsilon"], "f32") == "1e-06"


def test_metadata_model_finds_the_last_token_of_a_262k_vocabulary(tmp_path):
    from irpa_tui.metadata_view import ARRAY, MetadataModel

    p = make_model_gguf(tmp_path / "v.gguf", vocab=262_144, blocks=1, width=32)
    m = MetadataModel(open_archive(p))
    before = m.row_count
    hits = m.search("TOK262127")  # any case
    assert [(h.node.label, h.index) for h in hits] == [("tokenizer.ggml.tokens", 262_143)]
    row = m.reveal(hits[0].node, hits[0].index)
    assert m.row_count == before + 262_144 and m.row(row).index == 262_143
    assert m.array_at(row) is hits[0].node and hits[0].node.kind == ARRAY
    # Token types are decoded item by item; keys and values are searched too.
    types = next(n for n in m.roots[0].children if n.label == "tokenizer.ggml.token_type")
    assert types.item_note is not None and types.item_note(types.items[0]) == "CONTROL"
    assert [h.node.label for h in m.search("q4_k_m")] == ["general.file_type"]
    assert {h.node.label for h in m.search("[/INST]")} == {"tokenizer.ggml.tokens"}
