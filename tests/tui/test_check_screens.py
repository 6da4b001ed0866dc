"""``irpa check`` in the TUI: the summary's findings (the summary snapshot
of test_explore shows a gemma-like model's), and the write dialog's warning
before writing a GGUF llama.cpp would refuse (the naive cut)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from irpa_core import open_archive
from irpa_core.check import check_archive
from irpa_tui.app import IrpaApp
from irpa_tui.screens.summary import check_rows
from tests.fixtures import check_model, make_gguf
from tests.tui.helpers import fill, running, settle, sync, wait_until

SIZE = (120, 40)


@pytest.fixture(scope="module")
def gemma3():
    """A tiny consistent gemma3 GGUF at a fixed path (paths show in snapshots)."""
    d = "/tmp/irpa-tui-tests/check"
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "gemma3.gguf")
    tmp = path + f".{os.getpid()}"
    make_gguf(tmp, *check_model("gemma3"), arch="gemma3")
    os.replace(tmp, path)
    return path


def test_summary_rows_say_consistent_or_name_the_findings(gemma3, tmp_path):
    rows = check_rows(check_archive(open_archive(gemma3)))
    assert len(rows) == 1 and rows[0][1].plain.startswith("ok: consistent as a gemma3 model")
    t, kv = check_model("gemma3")
    del t["output_norm.weight"]
    rows = check_rows(check_archive(open_archive(make_gguf(tmp_path / "x.gguf", t, kv, arch="gemma3"))))
    assert [r[1].plain for r in rows][1:] == ["missing tensor 'output_norm.weight': a gemma3 model requires it"]


def test_snapshot_write_dialog_warns_of_the_naive_cut(snap_compare, gemma3):
    async def run(pilot):
        await settle(pilot)
        # exclude blocks 1.. and write: as irpa (no GGUF keys a runtime reads), no warning
        await pilot.press("slash", *"blk.1", "enter", "e", "slash", "ctrl+a", "ctrl+k", "escape")
        await pilot.press("w", "ctrl+u", *"/tmp/irpa-tui-tests/check/cut.irpa")
        await settle(pilot)
        warning = pilot.app.screen.query_one("#warning")
        assert "missing tensor" not in str(warning.render())
        await pilot.press("ctrl+u", *"/tmp/irpa-tui-tests/check/cut.gguf")
        await settle(pilot)
        await wait_until(pilot, lambda: "missing tensor" in str(warning.render()))
        assert "missing tensor 'blk.1.attn_norm.weight'" in str(warning.render())

    assert snap_compare(IrpaApp([gemma3]), terminal_size=SIZE, run_before=run)


@sync
async def test_write_dialog_warnings_show_names_from_the_file_escaped(tmp_path):
    t, kv = check_model("llama")
    t["blk.0.\x1b[31mred\u202e.weight"] = np.zeros(2, np.float32)
    p = make_gguf(tmp_path / "h.gguf", t, kv)
    async with running(str(p), size=SIZE) as pilot:
        await pilot.press("w")
        await settle(pilot)
        await fill(pilot, str(tmp_path / "out.gguf"))
        warning = pilot.app.screen.query_one("#warning")
        await wait_until(pilot, lambda: "is not one a llama model has" in str(warning.render()))
        shown = str(warning.render())  # (the screen's strips would drop control characters anyway)
        assert "\\e[31mred\\u202e" in shown and "\x1b" not in shown and "\u202e" not in shown
