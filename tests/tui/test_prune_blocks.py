"""Keeping only some blocks from the TUI (issue 25): ``K`` on a block group
of the tree opens the keep-blocks dialog with that block, the plan bar says
what goes, ``u`` undoes it, and the written GGUF has the block count and
the dense names (read with the gguf package's reader)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from textual.widgets import Input

from irpa_tui.app import IrpaApp
from irpa_tui.screens.dialogs import BlocksDialog
from tests.fixtures import make_gguf, make_safetensors
from tests.oracle import gguf_kvs, gguf_tensors
from tests.tui.helpers import (
    SIZE,
    fill,
    open_write_dialog,
    running,
    screen_text,
    settle,
    sync,
    wait_until,
    write_via_keys,
)

BLOCKS = 3


@pytest.fixture
def gguf_model(work_dir) -> str:
    tensors = {"token_embd.weight": np.zeros((4, 8), np.float32)}
    for b in range(BLOCKS):
        tensors[f"blk.{b}.attn_q.weight"] = np.full(8, b, np.float32)
        tensors[f"blk.{b}.ffn_norm.weight"] = np.full(8, 10 + b, np.float32)
    tensors["output_norm.weight"] = np.ones(8, np.float32)
    return str(make_gguf(Path(work_dir) / "m.gguf", tensors, {"llama.block_count": BLOCKS}))


async def _keep_dialog(pilot, group: str, tree: bool = True) -> BlocksDialog:
    """(``t``,) the cursor onto the block group ``group`` (``blk.2``), ``K``."""
    if tree:
        await pilot.press("t")
        await settle(pilot)
    table, view = pilot.app.screen.table, pilot.app.screen.view
    await pilot.press("home")
    for _ in range(10):
        row = table.group_at_cursor()
        if row is not None and row.key == group:
            break
        if row is not None and group.startswith(row.key + ".") and row.key in view.collapsed:
            await pilot.press("right")  # open the group on the way
        await pilot.press("down")
    await pilot.press("B")
    await settle(pilot)
    dlg = pilot.app.screen
    assert isinstance(dlg, BlocksDialog)
    return dlg


@sync
async def test_keep_blocks_writes_a_renumbered_gguf(gguf_model):
    async with running(gguf_model) as pilot:
        dlg = await _keep_dialog(pilot, "blk.2")
        box = dlg.query_one("#blocks", Input)
        assert box.value == "2"  # keep only this block, by default
        await pilot.press("ctrl+u", *"0,9")
        assert "block 9 is past the last block" in str(dlg.query_one("#problem").render())
        await pilot.press("backspace", "2")
        assert "keeps 2 of 3 blocks, removes 1; renumbered 2→1" in str(dlg.query_one("#preview").render())
        await pilot.press("enter")
        await settle(pilot)
        session = pilot.app.screen.session
        assert [op.to_json() for op in session.plan.ops] == [{"op": "prune_blocks", "name": "blk.", "value": "1"}]
        assert "blk.N: blocks 1 removed" in screen_text(pilot.app)
        # Undo, then keep only block 2 with the default as it is.
        await pilot.press("u")
        await settle(pilot)
        assert not session.plan.ops and "blocks 1 removed" not in screen_text(pilot.app)
        dlg = await _keep_dialog(pilot, "blk.2", tree=False)
        assert dlg.query_one("#blocks", Input).value == "2"
        await pilot.press("enter")
        await settle(pilot)
        assert session.plan.pruned == {"blk.": frozenset({0, 1})}
        await pilot.press("u", "U")  # redo: the same op again
        await settle(pilot)
        ws = await write_via_keys(pilot, "out.gguf")
        assert ws.state == "done"
    kvs, tensors = gguf_kvs("out.gguf"), gguf_tensors("out.gguf")
    assert kvs["llama.block_count"][1] == 1
    assert list(tensors) == ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_norm.weight", "output_norm.weight"]
    assert tensors["blk.0.attn_q.weight"][2] == np.full(8, 2, np.float32).tobytes()  # source block 2


def test_snapshot_keep_blocks_dialog(snap_compare, work_dir, gguf_model):
    """The keep-blocks dialog over the tree: the list typed, the preview."""

    async def run(pilot):
        await settle(pilot)
        await _keep_dialog(pilot, "blk.1")
        await fill(pilot, "0,2")
        await settle(pilot)

    assert snap_compare(IrpaApp([gguf_model]), terminal_size=SIZE, run_before=run)


@sync
async def test_keep_blocks_of_a_checkpoint_writes_its_config(work_dir):
    """Hugging Face names: the config.json beside the output follows; the
    write dialog refuses the input's directory (its config.json would have
    to change) before anything is written."""
    Path("in").mkdir()
    Path("out").mkdir()
    tensors = {}
    for b in range(BLOCKS):  # two a block: each block is a group of the tree
        tensors[f"model.layers.{b}.mlp.up_proj.weight"] = np.full((2, 2), b, np.float32)
        tensors[f"model.layers.{b}.input_layernorm.weight"] = np.ones(2, np.float32)
    make_safetensors(Path("in/model.safetensors"), tensors)
    Path("in/config.json").write_text(json.dumps({"num_hidden_layers": BLOCKS, "hidden_size": 2}))
    async with running("in/model.safetensors") as pilot:
        await _keep_dialog(pilot, "model.layers.1")
        await pilot.press("enter")
        await settle(pilot)
        dlg = await open_write_dialog(pilot, "in/small.safetensors")
        assert "a different config.json is already there" in str(dlg.query_one("#problem").render())
        await fill(pilot, "out/small.safetensors")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        ws = pilot.app.screen
        await wait_until(pilot, lambda: ws.state != "writing")
        assert ws.state == "done"
    assert sorted(os.listdir("in")) == ["config.json", "model.safetensors"]
    assert json.loads(Path("out/config.json").read_text()) == {"num_hidden_layers": 1, "hidden_size": 2}
    with safe_open("out/small.safetensors", "np") as f:
        assert sorted(f.keys()) == ["model.layers.0.input_layernorm.weight", "model.layers.0.mlp.up_proj.weight"]
        assert f.get_tensor("model.layers.0.mlp.up_proj.weight")[0, 0] == 1
