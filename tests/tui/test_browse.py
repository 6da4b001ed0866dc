"""TUI part 1: browse and inspect. Snapshots of each screen and pilot tests
that press the real keys."""

from pathlib import Path

from irpa_tui.app import IrpaApp
from irpa_tui.screens.browse import BrowseScreen
from irpa_tui.widgets.detail import DetailPane
from irpa_tui.widgets.param_table import ParamTable
from tests.tui.helpers import SIZE, running, settle, sync


def _app(path):
    return IrpaApp([path])


def test_snapshot_main(snap_compare, demo_path):
    assert snap_compare(_app(demo_path), terminal_size=SIZE, run_before=settle)


def test_snapshot_filter_in_use(snap_compare, demo_path):
    async def run(pilot):
        await pilot.press("slash", *"ffn_up")
        await settle(pilot)

    assert snap_compare(_app(demo_path), terminal_size=SIZE, run_before=run)


def test_snapshot_detail_with_stats(snap_compare, demo_path):
    async def run(pilot):
        await pilot.press("down", "down", "down", "down", "down", "down", "down", "down", "down", "down")
        await settle(pilot)

    assert snap_compare(_app(demo_path), terminal_size=SIZE, run_before=run)


def test_snapshot_tree(snap_compare, demo_path):
    async def run(pilot):
        await pilot.press("t", "down", "down", "down", "right")
        await settle(pilot)

    assert snap_compare(_app(demo_path), terminal_size=SIZE, run_before=run)


def test_snapshot_metadata(snap_compare, demo_path):
    async def run(pilot):
        await pilot.press("m")
        await settle(pilot)

    assert snap_compare(_app(demo_path), terminal_size=SIZE, run_before=run)


def test_snapshot_help(snap_compare, demo_path):
    async def run(pilot):
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(_app(demo_path), terminal_size=SIZE, run_before=run)


def test_snapshot_error(snap_compare, fixed_dir):
    import os

    bad = os.path.join(fixed_dir, "broken.gguf")
    with open(bad, "wb") as f:
        f.write(b"GGUF\x03\x00\x00\x00" + b"\xff" * 16)
    assert snap_compare(_app(bad), terminal_size=SIZE, run_before=settle)


@sync
async def test_filter_narrows_and_escape_clears(demo_path):
    async with running(demo_path) as pilot:
        app = pilot.app
        screen = app.screen
        assert isinstance(screen, BrowseScreen)
        names = lambda: [screen.view.names[i] for i in screen.view.rows]  # noqa: E731
        await pilot.press("slash", *"attn_q")
        assert names() == [f"blk.{i}.attn_q.weight" for i in range(4)]
        await pilot.press("backspace", *"k")
        assert names() == [f"blk.{i}.attn_k.weight" for i in range(4)]
        await pilot.press("ctrl+a", "ctrl+k", *"blk.?.ffn_*")  # glob
        assert len(names()) == 16 and all(".ffn_" in n for n in names())
        await pilot.press("ctrl+a", "ctrl+k", *"re:^blk\\.[13]\\.ffn_up")
        assert names() == ["blk.1.ffn_up.weight", "blk.3.ffn_up.weight"]
        await pilot.press("enter")
        assert app.focused is screen.query_one(ParamTable)
        assert "2 of 41 shown" in str(screen.query_one("#header").render())
        await pilot.press("slash", "escape")
        assert len(names()) == 41


@sync
async def test_stats_appear_for_highlighted_row(demo_path):
    async with running(demo_path) as pilot:
        app = pilot.app
        await pilot.press("down", "down", "down")  # blk.0.attn_q.weight
        await settle(pilot)
        pane = app.screen.query_one(DetailPane)
        assert pane.entry.name == "blk.0.attn_q.weight"
        st = pane.last_stats
        assert st is not None and st.exact and st.count == 256 * 256
        # Moving on quickly does not leave stale results behind.
        await pilot.press("down", "down", "down", "down", "down")
        await settle(pilot)
        assert pane.entry.name == "blk.0.ffn_gate.weight" and pane.last_stats.count == 512 * 256


@sync
async def test_sort_is_natural(work_dir):
    import os

    import numpy as np

    from tests.fixtures import make_safetensors

    p = make_safetensors(
        os.path.join(work_dir, "m.safetensors"), {f"layer.{i}.w": np.ones(2 + i, np.float32) for i in (10, 2, 1, 11, 3)}
    )
    async with running(str(p)) as pilot:
        app = pilot.app
        await pilot.press("n")
        v = app.screen.view
        assert [v.names[i] for i in v.rows] == [f"layer.{i}.w" for i in (1, 2, 3, 10, 11)]
        await pilot.press("z")
        assert next(v.names[i] for i in v.rows) == "layer.11.w"


@sync
async def test_tree_groups_and_sums(demo_path):
    async with running(demo_path) as pilot:
        app = pilot.app
        await pilot.press("t")
        rows = app.screen.view.tree_rows()
        blk = next(r for r in rows if r.key == "blk")
        layer0 = next(r for r in rows if r.key == "blk.0")
        assert blk.count == 36 and layer0.count == 9
        entries = app.screen.session.archive.entries
        assert layer0.size == sum(e.length for e in entries if e.name.startswith("blk.0."))


@sync
async def test_metadata_and_help_open_and_close(demo_path):
    async with running(demo_path) as pilot:
        app = pilot.app
        await pilot.press("m")
        assert type(app.screen).__name__ == "MetadataScreen"
        await pilot.press("escape", "question_mark")
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        assert isinstance(app.screen, BrowseScreen)
        await pilot.press("q")
        assert app.return_code is not None or not app.is_running


@sync
async def test_view_raw_entry_as_dtype(work_dir):
    import os

    import numpy as np

    from tests.fixtures import make_irpa_with_iree

    p = make_irpa_with_iree(os.path.join(work_dir, "raw.irpa"), "--data=r=64xi8")
    # Fill the raw entry with known f32 values.
    from irpa_core import open_archive

    e = open_archive(p).entries[0]
    blob = bytearray(Path(p).read_bytes())
    vals = np.arange(16, dtype=np.float32)
    blob[e.offset : e.offset + 64] = vals.tobytes()
    Path(p).write_bytes(bytes(blob))
    async with running(str(p)) as pilot:
        app = pilot.app
        pane = app.screen.query_one(DetailPane)
        assert pane.last_stats is None and "press a" in str(pane.query_one("#stats").render())
        await pilot.press("a", *"f32", "enter")
        await settle(pilot)
        assert pane.last_stats.count == 16 and pane.last_stats.max == 15.0 and pane.last_stats.dtype == "f32"
