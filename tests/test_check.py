"""``irpa check``: tiny GGUF files of three architectures (llama, gemma3,
bert) written by the ``gguf`` package, consistent and with one planted
inconsistency each; a safetensors file with its config.json; a planned
output checked before it is written."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from irpa_core import Plan, open_archive
from irpa_core.check import ERROR, check_archive, check_output
from irpa_core.cli import main
from irpa_core.output import build
from irpa_core.plan import EXCLUDE, SET_METADATA, Op
from tests.fixtures import CHECK_DIMS, check_model, make_gguf, make_safetensors

EMBD, HEADS, KV_HEADS, HEAD, FF, VOCAB, BLOCKS, CTX = CHECK_DIMS


def _z(*shape: int) -> np.ndarray:
    return np.zeros(shape, dtype=np.float32)


def _write(tmp_path, arch: str, t: dict, kv: dict, name: str = "m.gguf"):
    return make_gguf(tmp_path / name, t, kv, arch=arch)


ARCHES = ("llama", "gemma3", "bert")


@pytest.mark.parametrize("arch", ARCHES)
def test_consistent_models_check_clean(tmp_path, arch, capsys):
    p = _write(tmp_path, arch, *check_model(arch))
    assert main(["check", str(p)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and f"ok: consistent as a {arch} model" in out[0]


def _first_block_role(arch: str) -> str:
    return "attn_q.weight" if arch == "bert" else "attn_norm.weight"


def _drop(t: dict, prefix: str) -> None:
    for k in [k for k in t if k.startswith(prefix)]:
        del t[k]


# Each plants one inconsistency: (mutation, the finding's subject for arch).
def _plant(rule: str, arch: str, t: dict, kv: dict) -> str:
    if rule == "unknown name":
        t["blk.0.attn_bogus.weight"] = _z(EMBD)
        return "blk.0.attn_bogus.weight"
    if rule == "naive cut":  # blocks 1.. left out, block_count unchanged
        _drop(t, "blk.1.")
        return f"blk.1.{_first_block_role(arch)}"
    if rule == "block beyond the count":
        t |= {k.replace("blk.1.", "blk.2.", 1): v for k, v in t.items() if k.startswith("blk.1.")}
        return f"{arch}.block_count"
    if rule == "role missing in a block":
        del t["blk.1.ffn_up.weight"]
        return "blk.1.ffn_up.weight"
    if rule == "required tensor missing":
        name = "token_embd_norm.weight" if arch == "bert" else "output_norm.weight"
        del t[name]
        return name
    if rule == "head count vs shape":
        t["blk.0.attn_k.weight"] = _z(2 * EMBD, EMBD)
        return "blk.0.attn_k.weight"
    if rule == "feed-forward length vs shape":
        t["blk.1.ffn_down.weight"] = _z(EMBD, FF + 4)
        return "blk.1.ffn_down.weight"
    if rule == "embedding width vs shape":
        t["blk.0.attn_output.weight"] = _z(EMBD + 4, HEADS * HEAD)
        return "blk.0.attn_output.weight"
    if rule == "vocabulary vs token_embd":
        t["token_embd.weight"] = _z(VOCAB + 2, EMBD)
        return "token_embd.weight"
    if rule == "per-layer array length":
        kv[f"{arch}.feed_forward_length"] = [FF] * (BLOCKS + 1)
        return f"{arch}.feed_forward_length"
    if rule == "token id outside the vocabulary":
        kv["tokenizer.ggml.bos_token_id"] = VOCAB
        return "tokenizer.ggml.bos_token_id"
    if rule == "block count key missing":
        del kv[f"{arch}.block_count"]
        return f"{arch}.block_count"
    if rule == "token list vs scores":
        kv["tokenizer.ggml.scores"] = [0.0] * (VOCAB - 1)
        return "tokenizer.ggml.scores"
    raise AssertionError(rule)


RULES = (
    "unknown name",
    "naive cut",
    "block beyond the count",
    "role missing in a block",
    "required tensor missing",
    "head count vs shape",
    "feed-forward length vs shape",
    "embedding width vs shape",
    "vocabulary vs token_embd",
    "per-layer array length",
    "token id outside the vocabulary",
    "token list vs scores",
    "block count key missing",
)


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("rule", RULES)
def test_one_planted_inconsistency_is_found_exactly(tmp_path, arch, rule):
    t, kv = check_model(arch)
    subject = _plant(rule, arch, t, kv)
    report = check_archive(open_archive(_write(tmp_path, arch, t, kv)))
    assert [f.subject for f in report.findings] == [subject], report.findings
    assert not report.ok and report.findings[0].severity == ERROR


def test_the_naive_cut_names_the_missing_tensor_as_llama_cpp_does(tmp_path, capsys):
    t, kv = check_model("gemma3")
    _drop(t, "blk.1.")
    p = _write(tmp_path, "gemma3", t, kv)
    assert main(["check", str(p)]) == 1
    out = capsys.readouterr().out
    assert "missing tensor 'blk.1.attn_norm.weight'" in out and "gemma3.block_count = 2" in out
    assert main(["check", "--json", str(p)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and [f["subject"] for f in doc["findings"]] == ["blk.1.attn_norm.weight"]
    f = doc["findings"][0]
    assert f["expected"] == "blocks 0..1 (gemma3.block_count = 2)" and f["found"] == "no tensors in block 1"


def test_optional_tensors_may_be_absent(tmp_path):
    """llama.cpp's TENSOR_NOT_REQUIRED ones: a tied output, biases; a
    per-layer array of block_count items is fine."""
    t, kv = check_model("llama")
    del t["output.weight"]
    t |= {f"blk.{b}.attn_q.bias": _z(HEADS * HEAD) for b in range(BLOCKS)}
    kv["llama.attention.head_count_kv"] = [KV_HEADS] * BLOCKS
    report = check_archive(open_archive(_write(tmp_path, "llama", t, kv)))
    assert report.ok and report.findings == ()


def test_a_role_only_one_block_has_is_named(tmp_path):
    t, kv = check_model("llama")
    t |= {k.replace("blk.1.", "blk.2.", 1): v for k, v in t.items() if k.startswith("blk.1.")}
    kv["llama.block_count"] = 3
    t["blk.2.attn_q.bias"] = _z(HEADS * HEAD)
    report = check_archive(open_archive(_write(tmp_path, "llama", t, kv)))
    assert [f.subject for f in report.findings] == ["blk.2.attn_q.bias"]
    assert "which the other blocks lack" in report.findings[0].message


def test_unknown_architecture_and_no_architecture(tmp_path, capsys):
    t, _ = check_model("llama")
    report = check_archive(open_archive(_write(tmp_path, "notanarch", t, {"notanarch.block_count": 5})))
    assert report.ok and report.checked and "not in the gguf package's tables" in report.notes[0]
    p = make_safetensors(tmp_path / "x.safetensors", {"a": _z(2)})
    assert main(["check", str(p)]) == 0
    assert "not checked: no config.json beside the file" in capsys.readouterr().out


def test_names_from_the_file_are_escaped(tmp_path, capsys):
    t, kv = check_model("llama")
    t["blk.0.\x1b[31mred.weight"] = _z(2)
    p = _write(tmp_path, "llama", t, kv)
    assert main(["check", str(p)]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\e[31mred" in out
    assert main(["check", "--json", str(p)]) == 1
    assert json.loads(capsys.readouterr().out)["findings"][0]["subject"] == "blk.0.\x1b[31mred.weight"


def _bert_hf(tmp_path, drop: str = "") -> str:
    d = tmp_path / "bert"
    d.mkdir()
    t = {
        "embeddings.word_embeddings.weight": _z(VOCAB, EMBD),
        "embeddings.position_embeddings.weight": _z(CTX, EMBD),
        "embeddings.token_type_embeddings.weight": _z(2, EMBD),
        "embeddings.LayerNorm.weight": _z(EMBD),
        "embeddings.LayerNorm.bias": _z(EMBD),
        "embeddings.position_ids": np.zeros((1, CTX), dtype=np.int64),
        "pooler.dense.weight": _z(EMBD, EMBD),
    }
    for b in range(BLOCKS):
        p = f"encoder.layer.{b}."
        for part in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            t |= {f"{p}{part}.weight": _z(EMBD, EMBD), f"{p}{part}.bias": _z(EMBD)}
        for part in ("attention.output.LayerNorm", "output.LayerNorm"):
            t |= {f"{p}{part}.weight": _z(EMBD), f"{p}{part}.bias": _z(EMBD)}
        t |= {f"{p}intermediate.dense.weight": _z(FF, EMBD), f"{p}intermediate.dense.bias": _z(FF)}
        t |= {f"{p}output.dense.weight": _z(EMBD, FF), f"{p}output.dense.bias": _z(EMBD)}
    t.pop(drop, None)
    config = {
        "model_type": "bert",
        "hidden_size": EMBD,
        "num_attention_heads": HEADS,
        "num_hidden_layers": BLOCKS,
        "intermediate_size": FF,
        "max_position_embeddings": CTX,
        "vocab_size": VOCAB,
        "pad_token_id": 0,
    }
    (d / "config.json").write_text(json.dumps(config))
    return str(make_safetensors(d / "model.safetensors", t))


def test_safetensors_with_config_json(tmp_path):
    report = check_archive(open_archive(_bert_hf(tmp_path)))
    assert report.ok and report.findings == () and report.source == "config.json"
    assert "without a GGUF name" in report.notes[0]  # the pooler and position_ids: converters drop them


def test_safetensors_missing_tensor_is_named_as_the_file_names_it(tmp_path):
    report = check_archive(open_archive(_bert_hf(tmp_path, drop="encoder.layer.1.intermediate.dense.weight")))
    assert [f.subject for f in report.findings] == ["encoder.layer.1.intermediate.dense.weight"]


def test_a_planned_output_is_checked_before_writing(tmp_path):
    archive = open_archive(_write(tmp_path, "gemma3", *check_model("gemma3")))
    cut = Plan().add(Op(EXCLUDE, "blk.1.*"))
    report = check_output(build(cut, archive, "gguf"), cut, archive)
    assert report is not None and [f.subject for f in report.findings] == ["blk.1.attn_norm.weight"]
    fixed = cut.add(Op(SET_METADATA, "gemma3.block_count", value="1"))
    report = check_output(build(fixed, archive, "gguf"), fixed, archive)
    assert report is not None and report.ok and report.findings == ()
    assert check_output(build(cut, archive, "irpa"), cut, archive) is None  # nothing a runtime reads from its keys


def test_irpa_convert_warns_before_writing_a_gguf_llama_cpp_would_refuse(tmp_path, capsys):
    """The naive cut, written by irpa convert: the findings as warnings on
    stderr (the file is written all the same); kept blocks, or another
    format, say nothing."""
    p = _write(tmp_path, "gemma3", *check_model("gemma3"))
    cut = tmp_path / "cut.gguf"
    assert main(["convert", f"--parameters={p}", "--exclude=blk.1.*", f"--output={cut}", "--quiet"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "irpa: warning: irpa check: llama.cpp would refuse this gemma3 GGUF (1 inconsistency):"
    assert err[1].startswith("irpa: warning: missing tensor 'blk.1.attn_norm.weight'") and cut.exists()
    kept = tmp_path / "kept.gguf"
    assert main(["convert", f"--parameters={p}", "--keep-blocks=0", f"--output={kept}", "--quiet"]) == 0
    assert (
        main(["convert", f"--parameters={p}", "--exclude=blk.1.*", f"--output={tmp_path / 'cut.irpa'}", "--quiet"]) == 0
    )
    assert capsys.readouterr().err == ""


def test_irpa_convert_warnings_escape_names_from_the_file(tmp_path, capsys):
    t, kv = check_model("llama")
    t["blk.0.\x1b[31mred\u202e.weight"] = _z(2)
    p = _write(tmp_path, "llama", t, kv)
    assert main(["convert", f"--parameters={p}", f"--output={tmp_path / 'o.gguf'}", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "\\e[31mred\\u202e" in err and "\x1b" not in err and "\u202e" not in err


def test_every_rule_names_a_tensor_of_its_architecture():
    import gguf

    from irpa_core.check import RULES as ARCH_RULES

    for arch, parts in ARCH_RULES.items():
        known = {
            gguf.TENSOR_NAMES[t] for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch for t in gguf.MODEL_TENSORS[a]
        }
        for rule in (*parts["global"], *parts["block"]):
            assert gguf.TENSOR_NAMES[gguf.MODEL_TENSOR[rule.tensor]] in known, (arch, rule)


def test_other_architectures_get_the_rules_every_architecture_has(tmp_path):
    """qwen2 has no rules of its own: names (a warning: the gguf package
    may be older than the file), blocks and roles, vocabulary."""
    t, kv = check_model("llama")
    kv = {k.replace("llama.", "qwen2.", 1): v for k, v in kv.items()}
    assert check_archive(open_archive(_write(tmp_path, "qwen2", t, kv))).findings == ()
    t["blk.0.new_kind.weight"] = _z(EMBD)
    report = check_archive(open_archive(_write(tmp_path, "qwen2", t, kv, "new.gguf")))
    assert report.ok and [(f.severity, f.subject) for f in report.findings] == [("warning", "blk.0.new_kind.weight")]
    del t["blk.0.new_kind.weight"]
    _drop(t, "blk.1.")
    report = check_archive(open_archive(_write(tmp_path, "qwen2", t, kv, "cut.gguf")))
    assert [f.subject for f in report.findings] == ["blk.1.attn_norm.weight"]


def test_hybrid_layers_declared_by_per_layer_arrays_are_not_held_to_one_set(tmp_path):
    t, kv = check_model("llama")
    kv = {k.replace("llama.", "jamba.", 1): v for k, v in kv.items()}
    kv["jamba.attention.head_count_kv"] = [KV_HEADS, 0]  # block 1 has no attention
    for role in ("attn_q", "attn_k", "attn_v", "attn_output"):
        del t[f"blk.1.{role}.weight"]
    assert check_archive(open_archive(_write(tmp_path, "jamba", t, kv))).findings == ()


def test_one_shard_of_a_checkpoint_or_an_unmapped_layout_is_not_judged(tmp_path):
    """False alarms are worse than misses: one shard lacks the others' blocks;
    a multimodal checkpoint's prefixed names are renamed by the converter first."""
    path = _bert_hf(tmp_path)
    d = os.path.dirname(path)
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    os.rename(path, os.path.join(d, "model-00001-of-00002.safetensors"))
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as fh:
        json.dump(index, fh)
    report = check_archive(open_archive(os.path.join(d, "model-00001-of-00002.safetensors")))
    assert report.ok and not report.checked and "1 shard of this checkpoint not opened" in report.notes[0]
    d2 = tmp_path / "mm"
    d2.mkdir()
    (d2 / "config.json").write_text(json.dumps({"model_type": "bert", "num_hidden_layers": 2}))
    make_safetensors(d2 / "model.safetensors", {f"language_model.layer.{i}.w": _z(2) for i in range(3)})
    report = check_archive(open_archive(str(d2 / "model.safetensors")))
    assert report.ok and not report.checked and "most tensors have no GGUF name" in report.notes[0]


def test_other_architectures_only_warn_of_blocks_that_differ(tmp_path):
    """A tensor kept in one block only (T5's relative attention bias) is not
    an error where there are no rules; a block lacking a role is a warning."""
    t, kv = check_model("llama")
    kv = {k.replace("llama.", "qwen2.", 1): v for k, v in kv.items()}
    for b in (2, 3):
        t |= {k.replace("blk.1.", f"blk.{b}.", 1): v for k, v in t.items() if k.startswith("blk.1.")}
    kv["qwen2.block_count"] = 4
    t["blk.0.attn_q.bias"] = _z(HEADS * HEAD)
    assert check_archive(open_archive(_write(tmp_path, "qwen2", t, kv))).findings == ()
    del t["blk.2.ffn_gate.weight"]
    report = check_archive(open_archive(_write(tmp_path, "qwen2", t, kv, "b.gguf")))
    assert report.ok and [(f.severity, f.subject) for f in report.findings] == [("warning", "blk.2.ffn_gate.weight")]


def test_a_cut_off_file_is_inconsistent_at_its_first_incomplete_tensor(tmp_path, capsys):
    import gguf

    p = _write(tmp_path, "llama", *check_model("llama"))
    spans = sorted((int(t.data_offset), int(t.n_bytes), t.name) for t in gguf.GGUFReader(str(p)).tensors)
    offset, size, name = spans[len(spans) // 2]
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(p.read_bytes()[: offset + size // 2])
    assert main(["check", "--json", str(cut)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [(f["severity"], f["subject"]) for f in doc["findings"]] == [("error", name)]
    assert "not within the file bounds" in doc["findings"][0]["message"]
