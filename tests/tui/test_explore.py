"""Exploring in the TUI: layout at three sizes, the filter bar, the tree,
statistics you can rely on (cache, exactness, integer bins, escape order),
metadata search and go-to, the summary, the heatmap and the scan.
Snapshots of each new screen and of the main screen at 80x24, 100x30 and
200x50; pilot tests that press the real keys."""

import os

import numpy as np
import pytest

from irpa_core import heatmap as H
from irpa_core.plan import Op
from irpa_tui.app import IrpaApp
from irpa_tui.screens.browse import BrowseScreen
from irpa_tui.stats_cache import CACHE
from irpa_tui.widgets.detail import DetailPane
from irpa_tui.widgets.heatmap import rich_color
from irpa_tui.widgets.param_table import ParamTable
from tests.fixtures import make_model_gguf, make_safetensors
from tests.tui.helpers import running, screen_text, settle, sync, wait_until

SIZES = [(80, 24), (100, 30), (200, 50)]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small gemma-like GGUF at a fixed path (paths show in snapshots)."""
    d = "/tmp/irpa-tui-tests/explore"
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "gemma-like.gguf")
    if not os.path.exists(path):
        tmp = path + f".{os.getpid()}"
        make_model_gguf(tmp, vocab=4096, blocks=4, width=64)
        os.replace(tmp, path)
    return path


# -- snapshots ----------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_main_sizes(snap_compare, demo_path, size):
    async def run(pilot):
        await pilot.press("down", "down", "down")
        await settle(pilot)

    assert snap_compare(IrpaApp([demo_path]), terminal_size=size, run_before=run)


def _rename_and_splat(screen) -> None:
    """Rename every attn_q to layers.N, splat one of them: two edits on a row."""
    screen.session.add(
        Op("rename", "blk.*.attn_q.weight", new="layers.*.attn_q.weight"),
        Op("splat", "blk.0.attn_q.weight", value="bf16=1"),
    )
    screen._edited()


def test_snapshot_marks_renamed_and_splatted_wide(snap_compare, demo_path):
    async def run(pilot):
        _rename_and_splat(pilot.app.screen)
        await pilot.press("down", "down", "down")
        await settle(pilot)

    assert snap_compare(IrpaApp([demo_path]), terminal_size=(200, 50), run_before=run)


def test_snapshot_narrow_with_pane_below(snap_compare, demo_path):
    async def run(pilot):
        await pilot.press("down", "down", "down")  # tall enough: the pane goes below
        await settle(pilot)

    assert snap_compare(IrpaApp([demo_path]), terminal_size=(80, 40), run_before=run)


def test_snapshot_filter_error_inline(snap_compare, demo_path):
    async def run(pilot):
        await pilot.press("slash", *"re:blk.(")
        await settle(pilot)

    assert snap_compare(IrpaApp([demo_path]), terminal_size=(120, 30), run_before=run)


def test_snapshot_summary(snap_compare, model):
    async def run(pilot):
        await pilot.press("i")
        await settle(pilot)

    assert snap_compare(IrpaApp([model]), terminal_size=(120, 40), run_before=run)


def test_snapshot_heatmap(snap_compare, demo_path):
    async def run(pilot):
        await pilot.press("down", "down", "down", "h")  # blk.0.attn_q
        await settle(pilot)
        await pilot.press("right", "right", "down")
        await settle(pilot)

    assert snap_compare(IrpaApp([demo_path]), terminal_size=(100, 30), run_before=run)


def test_snapshot_metadata_search(snap_compare, model):
    async def run(pilot):
        await pilot.press("m", "slash", *"[/INST]", "enter")
        await settle(pilot)

    assert snap_compare(IrpaApp([model]), terminal_size=(120, 30), run_before=run)


def test_snapshot_scan(snap_compare, demo_path):
    async def run(pilot):
        await pilot.press("S")
        await wait_until(pilot, lambda: "scanned" in str(pilot.app.screen.query_one("#plan-bar").render()))
        await pilot.press("o", "o", "o", "o")  # file -> name -> size -> dtype -> std
        await settle(pilot)

    assert snap_compare(IrpaApp([demo_path]), terminal_size=(160, 40), run_before=run)


def test_snapshot_tree_by_size_with_dtype_mix(snap_compare, demo_path):
    async def run(pilot):
        await pilot.press("t", "z", "down", "right")
        await settle(pilot)

    assert snap_compare(IrpaApp([demo_path]), terminal_size=(140, 40), run_before=run)


# -- layout -------------------------------------------------------------------


@sync
async def test_layout_name_first_and_pane_placement(demo_path):
    async with running(demo_path, size=(80, 24)) as pilot:
        screen = pilot.app.screen
        assert not screen.query_one(DetailPane).display  # small: hidden
        text = screen_text(pilot.app)
        assert "blk.0.attn_output.weight" in text and "dtype" in text and "size" in text
        await pilot.press("p")
        await settle(pilot)
        assert screen.query_one(DetailPane).display and screen.query_one("#main").has_class("-below")
    async with running(demo_path, size=(100, 30)) as pilot:
        screen = pilot.app.screen
        assert screen.query_one(DetailPane).display and not screen.query_one("#main").has_class("-below")
        text = screen_text(pilot.app)
        for word in ("blk.0.attn_output.weight", "shape", "size", "kind", "256x256"):
            assert word in text, word
        assert screen.query_one(DetailPane).size.width <= 50
        await pilot.press("p")
        assert not screen.query_one(DetailPane).display


def test_long_dotted_names_keep_their_block_number_and_end():
    from irpa_core.display import escape
    from irpa_tui.widgets.param_table import fit_name

    name = "encoder.layer.0.attention.output.LayerNorm.bias"
    assert fit_name(name, 60) == name + " " * 13
    assert fit_name(name, 27) == "e.l.0.a.o.LayerNorm.bias   "
    assert fit_name("model.layers.12.self_attn.q_proj.weight", 30) == "m.l.12.self_attn.q_proj.weight"
    assert fit_name(name, 12) == "e.l.0…m.bias"  # still too long: cut in the middle
    assert fit_name("a" * 30, 10) == "aaaa…aaaaa"
    # An escaped control character is never shortened out of sight.
    assert fit_name(escape("blk.0.\x1b[2J.attention.output.weight"), 24) == "b.0.\\e[2J.…output.weight"


@sync
async def test_bert_names_at_100_columns_stay_apart(tmp_path):
    # A real BERT checkpoint's names are 40-50 characters: at 100 columns
    # every row must still say which tensor it is.
    names = [f"encoder.layer.{i}.attention.output.{p}" for i in (0, 1) for p in ("LayerNorm.bias", "dense.weight")]
    tensors = {n: np.zeros((4, 3), np.float32) for n in names}
    p = make_safetensors(
        tmp_path / "bert.safetensors", {"embeddings.word_embeddings.weight": np.zeros((512, 384)), **tensors}
    )
    async with running(str(p), size=(100, 30)) as pilot:
        lines = screen_text(pilot.app).splitlines()
        rows = [line.split("│")[0].split()[0] for line in lines[2:7]]
        assert rows[0] == "e.word_embeddings.weight", rows
        assert len(set(rows[1:])) == 4 and all(r.endswith(("LayerNorm.bias", "dense.weight")) for r in rows[1:]), rows
        assert rows[1].startswith("e.l.0.") and rows[4].startswith("e.l.1."), rows


@sync
async def test_marks_show_every_edit(demo_path):
    async with running(demo_path, size=(200, 50)) as pilot:
        screen = pilot.app.screen
        _rename_and_splat(screen)
        await settle(pilot)
        mark, style = screen.marks(screen.view.names.index("blk.0.attn_q.weight"))
        assert mark == "◆ bf16=1 → layers.0.attn_q.weight" and style == "splat"
        assert "◆ bf16=1 → layers.0.attn_q.weight" in screen_text(pilot.app)  # not cut
        # The new name is found by the filter.
        await pilot.press("slash", *"layers.3", "enter")
        assert [screen.view.names[i] for i in screen.view.rows] == ["blk.3.attn_q.weight"]


# -- filter -------------------------------------------------------------------


@sync
async def test_bad_filter_is_explained_inline_not_in_toasts(demo_path):
    async with running(demo_path) as pilot:
        screen = pilot.app.screen
        await pilot.press("slash", *"re:blk.[(", "backspace", "backspace")
        await settle(pilot)
        assert not list(pilot.app._notifications)
        await pilot.press(*"(")
        msg = str(screen.query_one("#filter-msg").render())
        assert "bad regular expression" in msg and screen.query_one("#filter").has_class("-invalid")
        assert len(screen.view.rows) == 4 * 9  # the last good filter (re:blk.) still applies
        await pilot.press("ctrl+a", "ctrl+k", *"BLK.1.ATTN dtype:BF16")
        assert [screen.view.names[i] for i in screen.view.rows] == [f"blk.1.attn_{x}.weight" for x in "qkv"]
        assert not screen.query_one("#filter").has_class("-invalid")


# -- tree -----------------------------------------------------------------------


@sync
async def test_tree_follows_the_sort_and_arrows_open_and_close(demo_path):
    async with running(demo_path) as pilot:
        screen = pilot.app.screen
        await pilot.press("t", "z")
        rows = screen.view.tree_rows()
        top = [r for r in rows if r.depth == 0]
        assert top[0].key == "blk"  # the biggest group first
        from collections import Counter

        want = Counter(e.dtype_name for e in screen.session.archive.entries if e.name.startswith("blk."))
        assert dict(top[0].dtypes) == dict(want) and top[0].mix.startswith(f"{top[0].dtypes[0][0]}×")
        table = screen.query_one(ParamTable)
        await pilot.press("home", "down")  # blk.0? the biggest block first
        first_block = rows[1]
        assert first_block.index is None and first_block.key in screen.view.collapsed
        await pilot.press("right")
        rows = screen.view.tree_rows()
        children = rows[2 : 2 + first_block.count]
        sizes = [screen.session.archive.entries[r.index].length for r in children]
        assert sizes == sorted(sizes, reverse=True)  # children by size too
        await pilot.press("right")  # on an open group: to its first child
        assert table.cursor == 2
        await pilot.press("left")  # on a leaf: to its group
        assert table.cursor == 1
        await pilot.press("left")  # on an open group: close it
        assert first_block.key in screen.view.collapsed


# -- statistics -------------------------------------------------------------------


@sync
async def test_exact_stats_are_cached_and_escape_clears_the_filter_first(tmp_path, monkeypatch):
    CACHE.clear()
    rng = np.random.default_rng(1)
    p = make_safetensors(
        tmp_path / "m.safetensors",
        {"big": rng.standard_normal((800, 1000)).astype(np.float32), "ids": rng.integers(0, 50, 3000)},
    )
    async with running(str(p)) as pilot:
        screen = pilot.app.screen
        pane = screen.query_one(DetailPane)
        table = screen.query_one(ParamTable)

        async def go(name):
            table.cursor = screen.view.rows.index(screen.view.names.index(name))
            await pilot.pause()

        await go("big")
        await wait_until(pilot, lambda: pane.last_stats is not None and pane.last_stats.exact)
        first = pane.last_stats
        await go("ids")
        await settle(pilot)
        assert pane.last_stats.integer and pane.last_stats.percentiles_exact
        assert all(e == int(e) for e in pane.last_stats.hist_edges)
        await go("big")  # back: the cached exact result, at once
        assert pane.last_stats is first
        await pilot.pause()
        assert "(cached)" in screen_text(pilot.app)
        # A filter and a running pass: escape clears the filter first. The
        # pass (a child process) is replaced by one that runs until cancelled.
        import time as _time

        from irpa_core.errors import Cancelled

        def endless(fn, *args, progress=None, cancel=None, **kw):
            while not cancel.is_set():
                progress(1, 2)
                _time.sleep(0.02)
            raise Cancelled("test")

        monkeypatch.setattr(pane.jobs, "run", endless)  # the app's runner, which the pane was given
        CACHE.clear()
        await go("ids")
        await pilot.press("slash", *"big", "enter")
        await wait_until(pilot, lambda: pane.running, timeout=5)
        await pilot.press("escape")
        assert not screen.view.filtered and pane.running
        await pilot.press("escape")
        await wait_until(pilot, lambda: not pane.running)
        await pilot.pause()
        assert "pass cancelled" in " ".join(screen_text(pilot.app).split())
        # A redraw (here a resize; the filter bar closing is another) keeps the note.
        await pilot.resize_terminal(150, 46)
        await settle(pilot)
        assert "pass cancelled" in " ".join(screen_text(pilot.app).split())


# -- metadata, summary, heatmap, scan ----------------------------------------------


@sync
async def test_metadata_goto_and_search_in_the_vocabulary(model):
    async with running(model, size=(120, 30)) as pilot:
        await pilot.press("m")
        screen = pilot.app.screen
        m = screen.model
        tokens = next(n for n in m.roots[0].children if n.label == "tokenizer.ggml.tokens")
        screen.rows.go(m.row_of(tokens))
        await pilot.press("g", *"4095", "enter")
        line = m.row(screen.rows.cursor)
        assert line.node is tokens and line.index == 4095
        await pilot.press("slash", *"tok100", "enter")
        await wait_until(pilot, lambda: bool(screen.matches))
        assert len(screen.matches) == 11  # tok100 and tok1000..tok1009 (the vocabulary ends at tok4079)
        assert m.row(screen.rows.cursor).index == tokens.items.index("tok100")
        await pilot.press("n")
        assert m.row(screen.rows.cursor).index == tokens.items.index("tok1000")
        text = screen_text(pilot.app)
        assert "match 2 of" in text


@sync
async def test_summary_screen(model):
    async with running(model, size=(120, 40)) as pilot:
        await pilot.press("i")
        text = screen_text(pilot.app)
        for want in ("gemma3", "GGUF key gemma3.block_count", "bits per weight", "4,096"):
            assert want in text, want
        # irpa check's findings (this gemma-like model lacks gemma3's q/k and post norms)
        assert "missing tensor 'blk.0.attn_q_norm.weight' (and in blocks 1..3)" in text
        await pilot.press("end")  # the layer groups, below (the scroll may animate: wait for it)
        await wait_until(pilot, lambda: "Q4_K x2, Q6_K x2" in screen_text(pilot.app), timeout=10)


@sync
async def test_heatmap_zoom_and_mode(demo_path):
    async with running(demo_path, size=(100, 30)) as pilot:
        await pilot.press("down", "down", "h")  # blk.0.attn_norm is 1-D: refused with a note
        assert isinstance(pilot.app.screen, BrowseScreen)
        await pilot.press("down", "h")  # blk.0.attn_q
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.view.heatmap is not None)
        hm = screen.view.heatmap
        assert hm.shape == (256, 256) and hm.region == H.Region(0, 256, 0, 256)
        await pilot.press("plus")
        await wait_until(pilot, lambda: screen.view.heatmap is not hm)
        zoomed = screen.view.heatmap
        assert zoomed.region.rows < 256 and zoomed.region.cols < 256
        await pilot.press("m")
        await wait_until(pilot, lambda: screen.view.heatmap.mode == H.ABSMAX)
        assert screen.view.heatmap.region == zoomed.region
        await pilot.press("minus")
        await wait_until(pilot, lambda: screen.view.heatmap.region == H.Region(0, 256, 0, 256))


def test_colours_truecolor_and_256():
    true = rich_color((12, 200, 33), True)
    assert true.triplet is not None and tuple(true.triplet) == (12, 200, 33)
    fallback = rich_color((12, 200, 33), False)
    assert fallback.number is not None and 16 <= fallback.number < 256


@sync
async def test_scan_adds_columns_sorts_and_flags(tmp_path):
    rng = np.random.default_rng(2)
    t = {f"blk.{i}.w": (rng.standard_normal((16, 16)) * 0.02).astype(np.float32) for i in range(5)}
    t["blk.2.w"] *= 500
    t["zero"] = np.zeros((4, 4), np.float32)
    t["nan"] = np.array([1.0, np.nan], np.float32)
    p = make_safetensors(tmp_path / "s.safetensors", t)
    async with running(str(p), size=(160, 30)) as pilot:
        screen = pilot.app.screen
        await pilot.press("S")
        await wait_until(pilot, lambda: "scanned" in str(screen.query_one("#plan-bar").render()))
        assert len(screen.view.scan) == 7
        text = screen_text(pilot.app)
        assert "absmax" in text and "zeros%" in text and "flags" in text
        assert screen.view.flags[screen.view.names.index("blk.2.w")] == ("std",)
        await pilot.press("slash", *"flag:any", "enter")
        assert sorted(screen.view.names[i] for i in screen.view.rows) == ["blk.2.w", "nan", "zero"]
        await pilot.press("escape")
        screen.action_sort("std")
        assert screen.view.names[screen.view.rows[0]] == "blk.2.w"
        screen.action_sort("nonfinite")
        assert screen.view.names[screen.view.rows[0]] == "nan"
