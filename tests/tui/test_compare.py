"""The compare screen: ``--diff A B`` and ``D`` from the browse screen, its
sorts, the ``verdict:`` filter, the pair's pane, the per-layer chart and the
full-screen difference map, pressing the real keys."""

import os

import numpy as np

from irpa_tui.app import IrpaApp
from irpa_tui.screens.browse import BrowseScreen
from irpa_tui.screens.compare import CompareScreen
from irpa_tui.screens.compare_heatmap import DifferenceScreen
from irpa_tui.screens.dialogs.compare import CompareDialog
from irpa_tui.widgets.heatmap import HeatmapView
from tests.fixtures import make_hostile, make_safetensors
from tests.tui.helpers import running, screen_text, settle, sync, wait_until

SIZE = (140, 40)


def _ready(app) -> bool:
    return isinstance(app.screen, CompareScreen) and app.screen.view is not None


def _pane(screen) -> str:
    import io

    from rich.console import Console

    console = Console(width=100, file=io.StringIO(), record=True)
    console.print(screen.query_one("#cmp-detail").content)
    console.print(screen.query_one("#cmp-detail-more").content)
    return console.export_text()


def test_snapshot_compare(snap_compare, converted):
    st, g = converted
    assert snap_compare(IrpaApp([], diff=(str(st), str(g))), terminal_size=SIZE, run_before=settle)


@sync
async def test_from_browse_pick_sort_filter_pane_chart_and_map(converted, monkeypatch):
    st, g = converted
    monkeypatch.chdir(st.parent)
    async with running("model.safetensors", size=SIZE) as pilot:
        app = pilot.app
        assert isinstance(app.screen, BrowseScreen)
        await pilot.press("D")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareDialog))
        dlg = app.screen
        await pilot.press("ctrl+u", *"nope")
        assert "nope: no such file or directory" in str(dlg.query_one("#problem").content)
        await pilot.press("ctrl+u", *"m.")
        await wait_until(pilot, lambda: "m.gguf" in str(dlg.query_one("#listing").content))
        await pilot.press("tab")  # the one name that starts so
        assert dlg.query_one("#path").value == "m.gguf"
        await pilot.press("enter")
        await wait_until(pilot, lambda: _ready(app))
        screen = app.screen
        await settle(pilot)
        assert screen.title_text.startswith("Compare A model.safetensors -> B m.gguf")
        # Problems first: the scaled tensor, then the one left out.
        assert [screen.view[i].verdict for i in range(2)] == ["transform", "only-in-a"]
        assert len(screen.view) == 21
        await pilot.press("e")  # rel rmse, largest first: the identical ones last, the unpaired after them
        assert screen.view.sort == "rel_rmse" and screen.view[0].b == "blk.1.ffn_up.weight"
        assert screen.view[len(screen.view) - 1].verdict == "only-in-a"
        await pilot.press("n")
        assert screen.view[0].b == "blk.0.attn_k.weight"
        # The filter: verdict: by prefix, with the name terms.
        await pilot.press("slash", *"verdict:req ffn")
        assert {screen.view[i].verdict for i in range(len(screen.view))} == {"requantized-exact"}
        assert len(screen.view) == 5  # ffn_down, ffn_gate x 2, ffn_up of block 0
        await pilot.press("ctrl+u", *"verdict:zz")
        assert "starts none of" in str(screen.query_one("#cmp-filter-msg").content)
        await pilot.press("ctrl+u", *"verdict:trans", "enter")
        assert len(screen.view) == 1
        # The pane: metrics, transform, worst elements, both sides' statistics, the map.
        await settle(pilot)
        pane = _pane(screen)
        assert "scaled by a constant" in pane and "worst |A-B|" in pane and "statistics" in pane
        assert "exact" in pane and "rel rmse" in pane
        assert screen.query_one(HeatmapView).heatmap is not None
        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(app.screen, DifferenceScreen))
        await settle(pilot)
        assert app.screen.view.heatmap is not None and "worst" in screen_text(app)
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("escape")  # clears the filter
        assert len(screen.view) == 21
        await pilot.press("l")
        assert screen.query_one("#cmp-main").has_class("-chart")
        text = screen_text(app)
        assert "block" in text and "ffn_up" in text and "5.1e-01" in text
        await pilot.press("l", "escape")
        assert isinstance(app.screen, BrowseScreen)


@sync
async def test_header_click_sorts_and_escape_stops_a_comparison(converted):
    st, g = converted
    async with running(size=SIZE, diff=(str(st), str(g))) as pilot:
        app = pilot.app
        await wait_until(pilot, lambda: _ready(app))
        screen = app.screen
        x = 18 + 4  # the name column's title (after the verdict's 18 columns)
        await pilot.click("#cmp-table", offset=(x, 0))
        assert screen.view.sort == "name"
        await pilot.press("question_mark")
        assert "compare keys" in screen_text(app) and "verdict" in screen_text(app)


@sync
async def test_hostile_names_show_literally(tmp_path):
    corpus = make_hostile(tmp_path)
    hostile = "[bold]x[/]\x1b[31m"
    a = make_safetensors(tmp_path / "a.safetensors", {hostile: np.ones((4, 8), np.float32)})
    b = make_safetensors(tmp_path / "b.safetensors", {hostile: np.full((4, 8), 1.5, np.float32)})
    async with running(size=SIZE, diff=(str(a), str(b))) as pilot:
        app = pilot.app
        await wait_until(pilot, lambda: _ready(app))
        await settle(pilot)
        text = screen_text(app)
        assert "[bold]x[/]\\e[31m" in text and "\x1b" not in text
    async with running(size=SIZE, diff=(str(corpus["safetensors"]), str(corpus["safetensors"]))) as pilot:
        app = pilot.app
        await wait_until(pilot, lambda: _ready(app))
        await settle(pilot)
        text = screen_text(app)
        for bad in ("\x1b", "\x00", "\u202e", "\x07"):
            assert bad not in text
        assert "blk.1.[b]x[/b].weight" in text and app.is_running
        await pilot.press("slash", *"[/b]")
        assert len(app.screen.view) >= 1 and os.sep  # a name term matches the literal text
