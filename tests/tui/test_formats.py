"""Every format out of the TUI (issue 15): the write dialog's format choice
and its checks, metadata editing in the metadata screen, casting with `c`.
Pilot tests press the real keys; what is written is checked with the
oracles (the gguf package's reader, the safetensors package, IREE's
runtime), and against `irpa convert` replaying the plan saved in the TUI."""

from __future__ import annotations

import os

import gguf
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

from irpa_core.cli import main
from irpa_core.plan import Plan
from irpa_tui.app import IrpaApp
from irpa_tui.screens.browse import BrowseScreen
from irpa_tui.screens.dialogs import CastDialog, MetadataDialog
from irpa_tui.screens.metadata import MetadataScreen
from irpa_tui.screens.verify import VerifyScreen
from tests import oracle
from tests.fixtures import make_gguf, make_safetensors, quantized_bytes
from tests.oracle import gguf_kvs as kvs
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

CHAT = "{% for m in messages %}<|{{ m['role'] }}|>: {{ m['content'] }}\n{% endfor %}"
FIXED = "/tmp/irpa-tui-tests/formats"


def _make_model(path) -> str:
    rng = np.random.default_rng(0)
    make_gguf(
        path,
        {
            "token_embd.weight": rng.standard_normal((16, 32)).astype(np.float32),
            "blk.0.attn_q.weight": ("Q8_0", quantized_bytes("Q8_0", 4, 64)),
            "blk.0.attn_norm.weight": np.ones(32, np.float32),
            "blk.0.ffn_up.weight": rng.standard_normal((8, 32)).astype(np.float16),
            "output.weight": rng.standard_normal((16, 32)).astype(np.float32),
        },
        kv={
            "general.name": "tiny",
            "llama.context_length": 2048,
            "tokenizer.chat_template": CHAT,
            "tokenizer.ggml.tokens": ["<s>", "a", "b"],
        },
    )
    return str(path)


@pytest.fixture(scope="module")
def model():
    """A small GGUF with a chat template at a fixed path (paths show in snapshots)."""
    os.makedirs(FIXED, exist_ok=True)
    path = os.path.join(FIXED, "tiny.gguf")
    tmp = path + f".{os.getpid()}"
    _make_model(tmp)
    os.replace(tmp, path)
    return path


@pytest.fixture
def st_model(tmp_path):
    rng = np.random.default_rng(1)
    tensors = {
        "model.embed.weight": rng.standard_normal((16, 8)).astype(np.float32),
        "model.layers.0.weight": rng.standard_normal((8, 8)).astype(np.float32),
        "model.layers.0.bias": rng.standard_normal(8).astype(np.float32),
        "model.layers.0.ids": np.arange(8, dtype=np.int32),
        "model.layers.1.weight": rng.standard_normal((8, 8)).astype(np.float16),
    }
    path = make_safetensors(tmp_path / "model.safetensors", tensors, metadata={"format": "pt", "note": "x"})
    return str(path), tensors


def tensors(path) -> dict:
    return {t.name: (t.tensor_type, t.data.tobytes()) for t in gguf.GGUFReader(str(path)).tensors}


async def _verify_after_write(pilot) -> None:
    await pilot.press("v")
    await settle(pilot)
    vs = pilot.app.screen
    assert isinstance(vs, VerifyScreen)
    await wait_until(pilot, lambda: bool(vs.rows))
    assert all(r.ok for r in vs.rows), [(r.name, r.status, r.detail) for r in vs.rows if not r.ok]
    await pilot.press("escape")


async def _to_key(pilot, key: str) -> None:
    """Put the metadata screen's cursor on ``key`` (searching for it)."""
    screen = pilot.app.screen
    assert isinstance(screen, MetadataScreen)
    await pilot.press("slash", *key, "enter")
    await settle(pilot)
    line = screen.model.row(screen.rows.cursor)
    assert line.node.label == key and line.index is None, line


def _status(screen: MetadataScreen, key: str) -> str | None:
    for n in screen.model.target.children:
        if n.label == key:
            return n.status
    return None


# -- writing every format ------------------------------------------------------


@sync
async def test_write_gguf_keeps_every_key_and_verifies(model, work_dir):
    out = os.path.join(work_dir, "repro.gguf")
    async with running(model) as pilot:
        await pilot.press("slash", *"blk.0.", "enter", "x")  # strip blk.0.*: GGUF writes zeros
        await pilot.press("slash", "ctrl+a", "ctrl+k", "escape")
        dlg = await open_write_dialog(pilot, out)
        assert dlg.format == "gguf" and dlg.query_one("#fmt-gguf").value
        summary = str(dlg.query_one("#summary").render())
        size = dlg._current().size
        assert f"{size:,} bytes" in summary and "3 splats written as data" in summary and "of zeros" in summary
        await pilot.press("escape")
        ws = await write_via_keys(pilot, out)
        assert os.path.getsize(out) == size  # the size the dialog said
        assert ws.result.format == "gguf"
        await _verify_after_write(pilot)
    assert kvs(out) == kvs(model)  # every key/value and type, the chat template included
    src, got = tensors(model), tensors(out)
    assert set(got) == set(src)
    for name, (qtype, data) in got.items():
        assert qtype == src[name][0]
        assert data == (bytes(len(data)) if name.startswith("blk.0.") else src[name][1]), name


@sync
async def test_write_safetensors_keeps_metadata_and_verifies(st_model, work_dir):
    path, arrays = st_model
    out = os.path.join(work_dir, "out.safetensors")
    async with running(path) as pilot:
        await pilot.press("down", "space")  # exclude the second row
        excluded = pilot.app.screen.session.archive.entries[1].name
        await write_via_keys(pilot, out)
        await _verify_after_write(pilot)
    got = load_file(out)
    assert set(got) == set(arrays) - {excluded}
    for k, v in got.items():
        assert v.dtype == arrays[k].dtype and np.array_equal(v, arrays[k])
    with safe_open(out, "np") as f:
        assert f.metadata() == {"format": "pt", "note": "x"}


@sync
async def test_format_follows_the_extension_and_the_choice_changes_it(demo_path):
    async with running(demo_path) as pilot:
        await pilot.press("w")
        await settle(pilot)
        dlg = pilot.app.screen
        path = dlg.query_one("#path")
        assert dlg.format == "irpa" and path.value.endswith(".irpa")
        assert dlg.query_one("#align-box").display and dlg.query_one("#alignment").value == "64"
        await pilot.press("ctrl+u", *"/tmp/x.gguf")
        await settle(pilot)
        assert dlg.format == "gguf" and dlg.query_one("#alignment").value == "32"
        await pilot.press("tab", "right", "enter")  # the radio set (at gguf): choose safetensors
        await settle(pilot)
        assert dlg.format == "safetensors" and path.value == "/tmp/x.safetensors"
        assert not dlg.query_one("#align-box").display  # packed: no alignment to choose


@sync
async def test_a_refused_format_cannot_be_confirmed(demo_path, work_dir):
    out = os.path.join(work_dir, "demo.safetensors")
    async with running(demo_path) as pilot:
        await pilot.press("w")
        await settle(pilot)
        dlg = pilot.app.screen
        await fill(pilot, out)
        await pilot.press("enter")  # enter while checking: confirms only if it passes
        await settle(pilot)
        problem = str(dlg.query_one("#problem").render())
        # The engine's one line: the tensor, why, and the cast that fixes it.
        assert "output.weight" in problem and "Q8_0" in problem and "--cast=output.weight=f32" in problem
        assert dlg.query_one("#ok").disabled
        await pilot.press("enter")
        await settle(pilot)
        assert pilot.app.screen is dlg
        await pilot.press("escape")
        # Cast the Q8_0 tensor: now it can be written, dequantized.
        await pilot.press("slash", *"^output.weight", "enter", "c", *"f32", "enter")
        await settle(pilot)
        await pilot.press("slash", "ctrl+a", "ctrl+k", "escape")
        await write_via_keys(pilot, out)
        await _verify_after_write(pilot)
    with safe_open(out, "np") as f:  # (the demo's bf16 tensors are not numpy's: read this one)
        w = f.get_tensor("output.weight")
    assert w.dtype == np.float32 and w.shape == (1024, 256)


# -- metadata editing ------------------------------------------------------------


@sync
async def test_chat_template_edit_undo_redo_save_and_replay(model, work_dir):
    plan = os.path.join(work_dir, "template.plan.json")
    tui_out = os.path.join(work_dir, "tui.gguf")
    cli_out = os.path.join(work_dir, "cli.gguf")
    new_template = CHAT + "\n{{ bos_token }}"
    async with running(model) as pilot:
        app = pilot.app
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        await _to_key(pilot, "tokenizer.chat_template")
        await pilot.press("e")
        await settle(pilot)
        dlg = app.screen
        assert isinstance(dlg, MetadataDialog)
        assert dlg.query_one("#text").text == CHAT  # the multi-line editor holds it exactly
        await pilot.press("down", "end", "enter", *"{{ bos_token }}", "ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        assert _status(screen, "tokenizer.chat_template") == "edited"
        assert "edited" in screen_text(app) and "1 edited" in str(screen.query_one("#meta-title").render())
        session = screen.session
        assert session.metadata().edited.values["tokenizer.chat_template"] == new_template
        await pilot.press("u")  # undo, on the metadata screen
        await settle(pilot)
        assert _status(screen, "tokenizer.chat_template") == "" and not session.plan.ops
        await pilot.press("U")  # redo
        await settle(pilot)
        assert _status(screen, "tokenizer.chat_template") == "edited"
        await pilot.press("q")
        await settle(pilot)
        assert "1 metadata key" in str(app.screen.query_one("#plan-bar").render())
        await pilot.press("ctrl+s")
        await fill(pilot, plan)
        await pilot.press("enter")
        await settle(pilot)
        assert os.path.exists(plan) and not session.dirty
        await pilot.press("w")
        await settle(pilot)
        lines = str(app.screen.query_one("#plan-lines").render())
        assert "plan: 5 kept" in lines and "metadata edited: tokenizer.chat_template" in lines
        await pilot.press("escape")
        await write_via_keys(pilot, tui_out)
        await _verify_after_write(pilot)
    assert main(["convert", model, f"--plan={plan}", f"--output={cli_out}", "--quiet"]) == 0
    with open(tui_out, "rb") as a, open(cli_out, "rb") as b:
        assert a.read() == b.read()
    got, src = kvs(tui_out), kvs(model)
    assert got["tokenizer.chat_template"] == ([gguf.GGUFValueType.STRING], new_template)
    assert {k: v for k, v in got.items() if k != "tokenizer.chat_template"} == {
        k: v for k, v in src.items() if k != "tokenizer.chat_template"
    }
    # irpa-tui --plan replays it too: the edit shows in the metadata screen.
    async with running(model, plan=Plan.load(plan)) as pilot:
        await pilot.press("m")
        await settle(pilot)
        assert _status(pilot.app.screen, "tokenizer.chat_template") == "edited"
        assert pilot.app.screen.session.metadata().edited.values["tokenizer.chat_template"] == new_template


@sync
async def test_add_and_delete_keys(model, work_dir):
    out = os.path.join(work_dir, "keys.gguf")
    async with running(model) as pilot:
        app = pilot.app
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        await pilot.press("a")
        await settle(pilot)
        dlg = app.screen
        assert isinstance(dlg, MetadataDialog)
        await pilot.press(*"general.name")
        await settle(pilot)
        assert "exists" in str(dlg.query_one("#problem").render()) and dlg.query_one("#ok").disabled
        await pilot.press("ctrl+u", *"my.flag", "tab", "enter")  # the type list
        await settle(pilot)
        await pilot.press(*"bool", "enter")
        await settle(pilot)
        assert dlg.type_name == "bool"
        await pilot.press("tab", *"maybe")  # the one-line editor
        await settle(pilot)
        assert "not a bool" in str(dlg.query_one("#problem").render()) and dlg.query_one("#ok").disabled
        await pilot.press("ctrl+s")
        assert app.screen is dlg  # refused
        await pilot.press("ctrl+u", *"true", "enter")
        await settle(pilot)
        assert app.screen is screen and _status(screen, "my.flag") == "added"
        await _to_key(pilot, "general.name")
        await pilot.press("d")
        await settle(pilot)
        assert _status(screen, "general.name") == "deleted"
        assert "1 added, 1 deleted" in str(screen.query_one("#meta-title").render())
        # A number keeps its type and is checked with the engine's parsing.
        await _to_key(pilot, "llama.context_length")
        await pilot.press("e")
        await settle(pilot)
        dlg = app.screen
        await pilot.press("ctrl+u", *"-1")
        await settle(pilot)
        assert "u32" in str(dlg.query_one("#problem").render()) and dlg.query_one("#ok").disabled
        await pilot.press("ctrl+u", *"4096", "enter")
        await settle(pilot)
        assert _status(screen, "llama.context_length") == "edited"
        await pilot.press("q")
        await settle(pilot)
        assert "3 metadata keys" in str(app.screen.query_one("#plan-bar").render())
        await write_via_keys(pilot, out)
        await _verify_after_write(pilot)
    got, src = kvs(out), kvs(model)
    assert got["my.flag"] == ([gguf.GGUFValueType.BOOL], True)
    assert got["llama.context_length"] == ([gguf.GGUFValueType.UINT32], 4096)
    assert "general.name" not in got
    same = set(src) - {"general.name", "llama.context_length"}
    assert {k: got[k] for k in same} == {k: src[k] for k in same}


@sync
async def test_safetensors_metadata_keys_are_strings(st_model, work_dir):
    path, _ = st_model
    out = os.path.join(work_dir, "meta.safetensors")
    async with running(path) as pilot:
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        dlg = pilot.app.screen
        assert isinstance(dlg, MetadataDialog) and dlg.types == ("string",)
        await pilot.press(*"license", "tab", *"mit", "ctrl+s")
        await settle(pilot)
        await _to_key(pilot, "note")
        await pilot.press("d", "q")
        await settle(pilot)
        await write_via_keys(pilot, out)
    with safe_open(out, "np") as f:
        assert f.metadata() == {"format": "pt", "license": "mit"}


# -- casting ---------------------------------------------------------------------


@sync
async def test_cast_rows_in_view_bit_exact(st_model, work_dir):
    path, arrays = st_model
    out = os.path.join(work_dir, "cast.safetensors")
    async with running(path) as pilot:
        app = pilot.app
        await pilot.press("slash", *"layers.0.", "enter", "c")  # weight, bias (f32) and ids (i32)
        await settle(pilot)
        dlg = app.screen
        assert isinstance(dlg, CastDialog)
        await pilot.press(*"f16", "tab", "space")  # all rows in view
        await settle(pilot)
        info = str(dlg.query_one("#info").render())
        assert "2 of 3 rows cast to f16" in info and "1 stay as they are" in info
        await pilot.press("shift+tab", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, BrowseScreen)
        marks = [screen.marks(i)[0] for i in range(len(screen.session.archive))]
        names = [e.name for e in screen.session.archive.entries]
        assert {n: m for n, m in zip(names, marks) if m} == {
            "model.layers.0.weight": "⇒ f16",
            "model.layers.0.bias": "⇒ f16",
        }
        bar = str(screen.query_one("#plan-bar").render())
        assert "2 cast" in bar
        before = sum(a.nbytes for a in arrays.values())
        after = before - (arrays["model.layers.0.weight"].nbytes + arrays["model.layers.0.bias"].nbytes) // 2
        assert screen.session.summary().bytes_after == after
        # One row: a cast the engine refuses is named and cannot be confirmed.
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"layers.1.weight", "enter", "c")
        await settle(pilot)
        dlg = app.screen
        assert "Cast model.layers.1.weight" in screen_text(app)
        await pilot.press(*"i8")
        await settle(pilot)
        assert "model.layers.1.weight" in str(dlg.query_one("#problem").render()) and dlg.query_one("#ok").disabled
        await pilot.press("ctrl+a", "ctrl+k", *"f32", "enter")
        await settle(pilot)
        await pilot.press("slash", "ctrl+a", "ctrl+k", "escape")
        await write_via_keys(pilot, out)
        await _verify_after_write(pilot)
    got = load_file(out)
    for name in ("model.layers.0.weight", "model.layers.0.bias"):
        want = arrays[name].astype(np.float16)
        assert got[name].dtype == np.float16 and np.array_equal(got[name].view(np.uint16), want.view(np.uint16))
    want = arrays["model.layers.1.weight"].astype(np.float32)
    assert np.array_equal(got["model.layers.1.weight"].view(np.uint32), want.view(np.uint32))
    assert got["model.layers.0.ids"].dtype == np.int32 and np.array_equal(got["model.layers.0.ids"], np.arange(8))
    assert np.array_equal(got["model.embed.weight"], arrays["model.embed.weight"])


@sync
async def test_cast_to_irpa_checked_by_iree(demo_path, work_dir):
    import ml_dtypes

    from irpa_core import open_archive, read_bytes

    out = os.path.join(work_dir, "bf16.irpa")
    async with running(demo_path) as pilot:
        await pilot.press("down", "down", "c", *"bf16", "enter")  # blk.0.attn_norm.weight: f32 -> bf16
        await settle(pilot)
        await write_via_keys(pilot, out)
    src = open_archive(demo_path).by_name["blk.0.attn_norm.weight"]
    want = np.frombuffer(read_bytes(src), np.float32).astype(ml_dtypes.bfloat16).tobytes()
    assert oracle.load(out)["blk.0.attn_norm.weight"].data == want


# -- snapshots -------------------------------------------------------------------


@pytest.mark.parametrize(
    "keys",
    [
        ["slash", *"ffn_", "enter", "x", "w", "ctrl+u", *"/tmp/irpa-tui-tests/work/out.gguf"],
        ["w", "ctrl+u", *"/tmp/irpa-tui-tests/work/out.safetensors"],
        ["down", "down", "c", *"Q8_0"],
        ["down", "down", "c", *"i8"],
        ["slash", *"re:^(__|blk.0.attn_norm)", "enter", "c", *"f16", "tab", "space"],
    ],
    ids=["write-gguf", "write-safetensors-refused", "cast-row", "cast-row-refused", "cast-view"],
)
def test_snapshot_format_and_cast_dialogs(snap_compare, demo_path, keys):
    async def run(pilot):
        await settle(pilot)
        for k in keys:
            await pilot.press(k)
            if k in ("w", "c"):
                await settle(pilot)
        await settle(pilot)

    assert snap_compare(IrpaApp([demo_path]), terminal_size=SIZE, run_before=run)


async def _edit_chat_template(pilot) -> None:
    """Open the metadata screen, the chat template's editor, and add a line
    to the template (not yet set)."""
    await settle(pilot)
    await pilot.press("m")
    await settle(pilot)
    await pilot.press("slash", *"chat_template", "enter")
    await settle(pilot)
    await pilot.press("e")
    await settle(pilot)
    await pilot.press("down", "end", "enter", *"{{ bos_token }}")


async def _edits(pilot) -> None:
    """Edit the chat template, add a key, delete general.name."""
    await _edit_chat_template(pilot)
    await pilot.press("ctrl+s")
    await settle(pilot)
    await pilot.press("a")
    await settle(pilot)
    await pilot.press(*"general.license", "tab", "tab", *"Apache-2.0", "ctrl+s")
    await settle(pilot)
    await pilot.press("escape", "slash", *"general.name", "enter")
    await settle(pilot)
    await pilot.press("d", "escape")
    await settle(pilot)


def test_snapshot_metadata_with_edits(snap_compare, model):
    assert snap_compare(IrpaApp([model]), terminal_size=(120, 30), run_before=_edits)


def test_snapshot_metadata_editor(snap_compare, model):
    async def run(pilot):
        await _edit_chat_template(pilot)
        await settle(pilot)

    assert snap_compare(IrpaApp([model]), terminal_size=(120, 30), run_before=run)
