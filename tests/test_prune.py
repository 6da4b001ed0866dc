"""Block pruning (``prune_blocks``, ``--prune-blocks``/``--keep-blocks``):
which parameters go, the dense renumbering, the file metadata and
config.json that follow, and verify. Outputs are read with the ``gguf``
package's reader and ``safetensors``' safe_open."""

import json

import gguf
import numpy as np
import pytest
from safetensors import safe_open

from irpa_core import blocks, open_archive
from irpa_core.cli import main
from irpa_core.errors import PlanError
from irpa_core.plan import Plan
from tests.fixtures import make_gguf, make_safetensors

BLOCKS = 4
ROLES = ("attn_q.weight", "ffn_norm.weight")


def _value(b: int, role: str) -> np.ndarray:
    return np.full(8, 10 * b + ROLES.index(role), np.float32)


@pytest.fixture
def model(tmp_path):
    tensors = {"token_embd.weight": np.arange(16, dtype=np.float32).reshape(2, 8)}
    for b in range(BLOCKS):
        for role in ROLES:
            tensors[f"blk.{b}.{role}"] = _value(b, role)
    tensors["output_norm.weight"] = np.ones(8, np.float32)
    kv = {
        "llama.block_count": BLOCKS,
        "llama.attention.head_count_kv": ([1, 2, 3, 4], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.UINT32),
        "llama.swa_layers": ([True, False, True, False], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.BOOL),
        "general.tags": ["a", "b", "c", "d"],  # as long as block_count, but not per layer
    }
    return make_gguf(tmp_path / "m.gguf", tensors, kv)


def _read(path):
    r = gguf.GGUFReader(str(path))
    tensors = {t.name: np.array(t.data).reshape(-1) for t in r.tensors}
    return r, tensors


def _field(r, key):
    """A scalar key's value, or an array key's items (gguf's ReaderField)."""
    f = r.fields[key]
    items = [f.parts[i].tolist()[0] for i in f.data]
    return items if f.types[0] == gguf.GGUFValueType.ARRAY else items[0]


def test_block_lists():
    assert blocks.parse_list("2,3,5-7") == {2, 3, 5, 6, 7}
    assert blocks.format_list({2, 3, 5, 6, 7, 9}) == "2,3,5-7,9"
    assert blocks.dense(5, frozenset({2, 3})) == 3
    for bad in ("5-2", "x", "", "1,,2", "-3", "1-"):
        with pytest.raises(ValueError):
            blocks.parse_list(bad)
    assert blocks.block_of("model.layers.12.mlp.up_proj.weight") == ("model.layers.", 12)
    assert blocks.block_of("encoder.layer.3.attention.self.query.bias") == ("encoder.layer.", 3)
    assert blocks.block_of("token_embd.weight") is None


def test_fates_compose_with_other_ops():
    plan = Plan().prune_blocks("blk.", "1,2")
    assert plan.fate("blk.0.attn_q.weight").name == "blk.0.attn_q.weight"
    assert plan.fate("blk.1.attn_q.weight").action == "exclude"
    f = plan.fate("blk.3.attn_q.weight")
    assert (f.action, f.name, f.renamed) == ("keep", "blk.1.attn_q.weight", True)
    assert plan.fate("v.blk.1.x").action == "keep"  # another container
    # A removed block stays removed; other ops name source parameters.
    later = plan.keep("blk.1.*").exclude("blk.3.ffn_norm.weight").splat("blk.0.attn_q.weight")
    assert later.fate("blk.1.attn_q.weight").action == "exclude"
    assert later.fate("blk.3.ffn_norm.weight").action == "exclude"
    assert later.fate("blk.0.attn_q.weight").action == "splat"
    # A glob rename carries the number and is renumbered, before or after the prune.
    for p in (
        plan.rename("blk.*.attn_q.weight", "layers.*.q"),
        Plan().rename("blk.*", "x.*").prune_blocks("blk.", "1-2"),
    ):
        assert p.fate("blk.3.attn_q.weight").name in ("layers.1.q", "x.1.attn_q.weight")
    # An exact rename to another number is taken as written.
    assert plan.rename("blk.3.attn_q.weight", "blk.7.q").fate("blk.3.attn_q.weight").name == "blk.7.q"
    # Two prune ops remove the union of their (source) blocks.
    both = Plan().prune_blocks("blk.", "1").prune_blocks("blk.", "2")
    assert both.fate("blk.3.x").name == "blk.1.x"
    assert Plan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    assert plan.to_json()["ops"] == [{"op": "prune_blocks", "name": "blk.", "value": "1,2"}]
    with pytest.raises(PlanError, match="goes down"):
        Plan.from_json({"irpa_plan": 1, "ops": [{"op": "prune_blocks", "name": "blk.", "value": "5-2"}]})


def test_keep_blocks_gguf(model, tmp_path):
    out = tmp_path / "two.gguf"
    plan = tmp_path / "plan.json"
    assert main(["convert", str(model), "--keep-blocks=0,3", f"--output={out}", "--quiet", f"--save-plan={plan}"]) == 0
    r, tensors = _read(out)
    assert _field(r, "llama.block_count") == 2
    assert r.fields["llama.block_count"].types == [gguf.GGUFValueType.UINT32]
    assert _field(r, "llama.attention.head_count_kv") == [1, 4]
    assert _field(r, "llama.swa_layers") == [True, False]
    assert len(r.fields["general.tags"].data) == 4
    assert sorted(n for n in tensors if n.startswith("blk.")) == [f"blk.{b}.{role}" for b in (0, 1) for role in ROLES]
    np.testing.assert_array_equal(tensors["blk.1.attn_q.weight"], _value(3, "attn_q.weight"))
    np.testing.assert_array_equal(tensors["blk.0.ffn_norm.weight"], _value(0, "ffn_norm.weight"))
    assert "token_embd.weight" in tensors and "output_norm.weight" in tensors
    # verify: the same flags, or the saved plan, and the renumbered tensors are checked against their source block.
    assert main(["verify", str(out), f"--parameters={model}", "--keep-blocks=0,3"]) == 0
    assert main(["verify", str(out), f"--parameters={model}", "--prune-blocks=1-2"]) == 0
    assert main(["verify", str(out), f"--parameters={model}", f"--plan={plan}"]) == 0
    assert main(["verify", str(out), f"--parameters={model}", "--keep-blocks=0,2"]) == 1


def test_verify_fails_on_a_wrong_renumbering(model, tmp_path, capsys):
    # Hand-made: block 1 holds source block 1 instead of source block 3; the metadata is right.
    tensors = {"token_embd.weight": np.arange(16, dtype=np.float32).reshape(2, 8)}
    for new, src in ((0, 0), (1, 1)):
        for role in ROLES:
            tensors[f"blk.{new}.{role}"] = _value(src, role)
    tensors["output_norm.weight"] = np.ones(8, np.float32)
    kv = {
        "llama.block_count": 2,
        "llama.attention.head_count_kv": ([1, 4], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.UINT32),
        "llama.swa_layers": ([True, False], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.BOOL),
        "general.tags": ["a", "b", "c", "d"],
    }
    wrong = make_gguf(tmp_path / "wrong.gguf", tensors, kv)
    capsys.readouterr()
    assert main(["verify", str(wrong), f"--parameters={model}", "--keep-blocks=0,3", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    bad = {e["name"]: (e["status"], e["source"]) for e in report["entries"]}
    assert bad == {f"blk.1.{role}": ("bytes differ", f"blk.3.{role}") for role in ROLES}


@pytest.mark.parametrize(
    ("flag", "why"),
    [
        ("--keep-blocks=5-2", "goes down"),
        ("--prune-blocks=9", "block 9 is past the last block"),
        ("--prune-blocks=0-3", "removes every block"),
        ("--keep-blocks=0,x", "not a block number"),
    ],
)
def test_bad_lists(model, tmp_path, capsys, flag, why):
    out = tmp_path / "o.gguf"
    assert main(["convert", str(model), flag, f"--output={out}", "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"irpa: error: {flag}: ") and why in err and "\n" not in err
    assert not out.exists()


def test_pruned_irpa_keeps_the_block_count(model, tmp_path):
    # gguf -> pruned irpa -> gguf: the __SHARK_DATASET__ keys were pruned the same way.
    mid, back = tmp_path / "p.irpa", tmp_path / "back.gguf"
    assert main(["convert", str(model), "--prune-blocks=0,2", f"--output={mid}", "--quiet"]) == 0
    assert main(["convert", str(mid), f"--output={back}", "--quiet"]) == 0
    r, tensors = _read(back)
    assert _field(r, "llama.block_count") == 2
    assert _field(r, "llama.attention.head_count_kv") == [2, 4]
    np.testing.assert_array_equal(tensors["blk.0.attn_q.weight"], _value(1, "attn_q.weight"))


def _hf(directory, layers=3, prefix="model.layers."):
    directory.mkdir()
    tensors = {"model.embed_tokens.weight": np.zeros((4, 2), np.float32)}
    for b in range(layers):
        tensors[f"{prefix}{b}.mlp.up_proj.weight"] = np.full((2, 2), b, np.float32)
    st = make_safetensors(directory / "model.safetensors", tensors)
    config = {"num_hidden_layers": layers, "layer_types": ["sliding", "full", "sliding"], "hidden_size": 2}
    (directory / "config.json").write_text(json.dumps(config))
    return st


def test_safetensors_config_beside(tmp_path, capsys):
    st = _hf(tmp_path / "in")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "model.safetensors"
    assert main(["convert", str(st), "--prune-blocks=1", f"--output={out}", "--quiet"]) == 0
    with safe_open(str(out), "np") as f:
        assert sorted(f.keys()) == [
            "model.embed_tokens.weight",
            *[f"model.layers.{b}.mlp.up_proj.weight" for b in (0, 1)],
        ]
        assert f.get_tensor("model.layers.1.mlp.up_proj.weight")[0, 0] == 2
    config = json.loads((out_dir / "config.json").read_text())
    assert config == {"num_hidden_layers": 2, "layer_types": ["sliding", "sliding"], "hidden_size": 2}
    # The same config again: fine. A different one is never replaced, and nothing is written.
    assert main(["convert", str(st), "--keep-blocks=0,2", f"--output={out}", "--quiet"]) == 0
    out.unlink()
    capsys.readouterr()
    assert main(["convert", str(st), "--keep-blocks=0", f"--output={out}", "--quiet"]) == 1
    assert "config.json: a different config.json is already there" in capsys.readouterr().err
    assert not out.exists() and json.loads((out_dir / "config.json").read_text())["num_hidden_layers"] == 2
    # verify checks the config.json beside the output too.
    assert main(["convert", str(st), "--keep-blocks=0,2", f"--output={out}", "--quiet"]) == 0
    assert main(["verify", str(out), f"--parameters={st}", "--keep-blocks=0,2"]) == 0
    (out_dir / "config.json").write_text(json.dumps({"num_hidden_layers": 3}))
    capsys.readouterr()
    assert main(["verify", str(out), f"--parameters={st}", "--keep-blocks=0,2"]) == 1
    assert "[config.json]" in capsys.readouterr().out
    # Into the input's own directory: its config.json stays as it was.
    beside = tmp_path / "in" / "small.safetensors"
    assert main(["convert", str(st), "--keep-blocks=0", f"--output={beside}", "--quiet"]) == 1
    assert not beside.exists()
    assert json.loads((tmp_path / "in" / "config.json").read_text())["num_hidden_layers"] == 3


def test_a_plan_naming_blocks_the_sources_lack(model, tmp_path, capsys):
    plan = tmp_path / "p.json"
    Plan().prune_blocks("model.layers.", "1").save(plan)
    assert main(["convert", str(model), f"--plan={plan}", f"--output={tmp_path / 'o.gguf'}", "--quiet"]) == 1
    assert "no parameter is named model.layers.N." in capsys.readouterr().err
    assert not (tmp_path / "o.gguf").exists()


def test_bert_names(tmp_path):
    st = _hf(tmp_path / "bert", layers=3, prefix="encoder.layer.")
    archive = open_archive(str(st))
    from irpa_core.prune import prune_op

    op = prune_op(archive, "1", keep=True)
    assert (op.pattern, op.value) == ("encoder.layer.", "0,2")


def test_sharktank_hparams_block_count(model, tmp_path):
    """An irpa whose __SHARK_DATASET__ holds sharktank hparams (as the demo's):
    hparams.block_count and its per-layer lists follow (read through IREE's
    runtime)."""
    from irpa_core.filemeta import FileMetadata
    from irpa_core.output import assemble
    from irpa_core.write import write_archive
    from tests import oracle

    source = open_archive(str(model))
    hparams = {"block_count": BLOCKS, "per_layer": [10, 11, 12, 13], "embedding_length": 8}
    src = tmp_path / "hp.irpa"
    write_archive(
        assemble(Plan().tensor_targets(source), "irpa", meta=FileMetadata(properties={"hparams": hparams})), src
    )
    out = tmp_path / "two.irpa"
    assert main(["convert", str(src), "--keep-blocks=0,3", f"--output={out}", "--quiet"]) == 0
    entries = oracle.load(out)
    got = json.loads(entries["__SHARK_DATASET__"].data)["hparams"]
    assert got == {"block_count": 2, "per_layer": [10, 13], "embedding_length": 8}
    assert {n.split(".")[1] for n in entries if n.startswith("blk.")} == {"0", "1"}
