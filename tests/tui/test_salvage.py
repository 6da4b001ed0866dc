"""The salvage view in the TUI: a cut-off archive opens with a banner and a
state column; ``state:partial`` filters; a partial tensor's pane says how
much is there; writing refuses as ``irpa convert`` does."""

import os

import pytest

from irpa_tui.app import IrpaApp
from irpa_tui.screens.browse import BrowseScreen
from irpa_tui.widgets.detail import DetailPane
from tests.tui.helpers import SIZE, open_write_dialog, running, screen_text, settle, sync, wait_until

CUT = 1_400_000  # the demo cut inside blk.0.ffn_up: what comes before it is whole, the rest missing


@pytest.fixture
def cut_path(demo_path, fixed_dir):
    """The demo archive cut off in its data, at a fixed path (the header shows it)."""
    path = os.path.join(fixed_dir, "cut.irpa")
    with open(demo_path, "rb") as f, open(path + ".part", "wb") as out:
        out.write(f.read(CUT))
    os.replace(path + ".part", path)
    return path


def test_snapshot_truncated(snap_compare, cut_path):
    assert snap_compare(IrpaApp([cut_path]), terminal_size=SIZE, run_before=settle)


@sync
async def test_filter_state_partial_and_refusals(cut_path, work_dir):
    async with running(cut_path) as pilot:
        screen = pilot.app.screen
        assert isinstance(screen, BrowseScreen)
        text = screen_text(pilot.app)
        assert "truncated: 1.3 MiB of 6.8 MiB present (19.6%); 10 of 41 entries complete" in text
        await pilot.press("slash", *"state:partial", "enter")
        assert [screen.view.names[i] for i in screen.view.rows] == ["blk.0.ffn_up.weight"]
        await settle(pilot)
        pane = pilot.app.screen.query_one(DetailPane)
        await wait_until(pilot, lambda: "is partial: only" in screen_text(pilot.app))
        assert pane.last_stats is None
        await pilot.press("slash", "ctrl+u", *"!state:complete", "enter")
        assert len(screen.view.rows) == 31
        dlg = await open_write_dialog(pilot, "out.irpa")
        (check,) = dlg.checks.values()  # the engine's refusal, as irpa convert says it, and the way here
        assert check.output is None and check.problem.startswith(
            "parameter 'blk.0.ffn_up.weight': partial, only 73.2 KiB of 256.0 KiB present"
        )
        assert check.problem.endswith("here: filter !state:complete, then e excludes them")
        assert dlg.query_one("#ok").disabled
        await pilot.press("escape")
        await settle(pilot)
        # e excludes every row in view: then the write goes ahead with the complete ones.
        await pilot.press("e")
        dlg = await open_write_dialog(pilot, "out.irpa")
        assert not dlg.query_one("#ok").disabled, screen_text(pilot.app)
