"""The compare screen: ``--diff A B`` and ``D`` from the browse screen, its
sorts, the ``verdict:`` filter, the pair's pane, the per-layer chart and the
full-screen difference map, pressing the real keys."""

import numpy as np

from irpa_tui.app import IrpaApp
from irpa_tui.screens import compare
from irpa_tui.screens.browse import BrowseScreen
from irpa_tui.screens.compare import CompareScreen, CompareTable
from irpa_tui.screens.compare_heatmap import DifferenceScreen
from irpa_tui.screens.dialogs.compare import CompareDialog
from irpa_tui.widgets.heatmap import HeatmapView
from tests.fixtures import make_safetensors
from tests.tui.helpers import fill, running, screen_text, settle, sync, wait_until

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


async def _pane_done(pilot) -> None:
    """The report shown and the first row's pane complete (its exact
    statistics and its |A-B| map: they start once the cursor rests)."""
    app = pilot.app
    await wait_until(pilot, lambda: _ready(app))
    screen = app.screen
    await wait_until(pilot, lambda: "exact" in _pane(screen) and screen.query_one(HeatmapView).heatmap is not None)
    await settle(pilot)


def test_snapshot_compare(snap_compare, converted):
    st, g = converted
    assert snap_compare(IrpaApp([], diff=(str(st), str(g))), terminal_size=SIZE, run_before=_pane_done)


@sync
async def test_from_browse_pick_sort_filter_pane_chart_and_map(converted, monkeypatch):
    st, _ = converted
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
        await pilot.press("slash", *"verdict:r")
        assert {screen.view[i].verdict for i in range(len(screen.view))} == {"requantized-exact"}
        await fill(pilot, "verdict:req ffn")
        assert {screen.view[i].verdict for i in range(len(screen.view))} == {"requantized-exact"}
        assert len(screen.view) == 5  # ffn_down, ffn_gate x 2, ffn_up of block 0
        await fill(pilot, "verdict:zz")
        assert "starts none of" in str(screen.query_one("#cmp-filter-msg").content)
        await fill(pilot, "verdict:trans")
        await pilot.press("enter")
        assert len(screen.view) == 1
        # The pane: metrics, transform, worst elements, both sides' statistics, the map
        # (computed once the cursor rests).
        await wait_until(pilot, lambda: "exact" in _pane(screen) and screen.query_one(HeatmapView).heatmap is not None)
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
        await settle(pilot)
        text = screen_text(app)
        assert "block" in text and "ffn_up" in text and "5.1e-01" in text
        await pilot.press("l", "escape")
        assert isinstance(app.screen, BrowseScreen)


@sync
async def test_hostile_names_show_literally_and_a_title_click_sorts_at_80x24(tmp_path):
    """Names from files as data; at 80x24 the pane gives way to the table
    (p brings it back) and the footer fits."""
    from tests.tui.test_small_screen import footer_problem

    hostile = ("[bold]x[/]\x1b[31m", "blk.1.[b]y[/b].weight\u202e")
    a = make_safetensors(tmp_path / "a.safetensors", {n: np.ones((4, 8), np.float32) for n in hostile})
    b = make_safetensors(tmp_path / "b.safetensors", {n: np.full((4, 8), 1.5, np.float32) for n in hostile})
    async with running(size=(80, 24), diff=(str(a), str(b))) as pilot:
        app = pilot.app
        await wait_until(pilot, lambda: _ready(app))
        await settle(pilot)
        screen = app.screen
        assert footer_problem(app) is None and not screen.query_one("#cmp-side").display
        text = screen_text(app)
        assert "[bold]x[/]\\e[31m" in text and "blk.1.[b]y[/b].weight\\u202e" in text
        for bad in ("\x1b", "\u202e"):
            assert bad not in text
        await pilot.press("slash")
        await fill(pilot, "[[]/b]")  # a glob of the literal text
        assert len(screen.view) == 1
        await pilot.press("escape")
        await pilot.click("#cmp-table", offset=(18 + 4, 0))  # the name column's title
        assert screen.view.sort == "name"
        await pilot.press("p")
        await settle(pilot)
        assert screen.query_one("#cmp-side").display and "\x1b" not in screen_text(app)
        await pilot.press("question_mark")
        assert "compare keys" in screen_text(app)


@sync
async def test_the_pane_waits_for_the_cursor_to_rest(converted, monkeypatch):
    """Moving over many rows starts the pane's statistics and |A-B| map
    for the row the cursor stops on, not for each row passed."""
    st, g = converted
    started = []
    real = CompareScreen._pane_jobs

    def spy(self, r, *args):
        started.append(r)
        return real(self, r, *args)

    monkeypatch.setattr(CompareScreen, "_pane_jobs", spy)
    monkeypatch.setattr(compare, "PANE_DELAY", 0.5)  # a loaded machine's key presses stay within it
    async with running(diff=(str(st), str(g)), size=SIZE) as pilot:
        app = pilot.app
        await wait_until(pilot, lambda: _ready(app) and started)  # the first row's pane
        screen = app.screen
        table = screen.query_one(CompareTable)
        for _ in range(8):  # a held key: the rows pass quicker than the pane's delay (pressed on a
            table.action_cursor(1)  # loaded machine, keys can be further apart than any delay)
        await wait_until(pilot, lambda: screen._current is screen.view[8] and started[-1] is screen._current)
        assert len(started) == 2, [r.a for r in started]
