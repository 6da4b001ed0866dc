"""What a new user tripped on (issue 26, part b): the scan's flags say why
in the detail pane; the histogram draws no dips the data does not have;
the header's figures follow the filter; the tree's dtype mixes line up, a
group's pane shows its totals, and a column of names is shortened alike."""

import io

import numpy as np
import pytest
from rich.console import Console

from irpa_core import dtypes, open_archive
from irpa_core import scan as SC
from irpa_core.model import DATA, Archive, Entry, SourceFile
from irpa_core.stats import compute_stats
from irpa_tui.browse_text import header_text, totals
from irpa_tui.view import TableView
from irpa_tui.widgets.detail import DetailPane
from irpa_tui.widgets.param_table import column_level, fit_name, name_widths
from irpa_tui.widgets.stats_text import histogram_axis, histogram_text, per_column
from tests.fixtures import make_safetensors
from tests.tui.helpers import running, screen_text, settle, sync, wait_until


def plain(renderable, width: int = 400) -> str:
    con = Console(file=io.StringIO(), width=width, color_system=None)
    con.print(renderable)
    return con.file.getvalue()  # type: ignore[attr-defined]


# -- the histogram --------------------------------------------------------


@pytest.fixture(scope="module")
def ramp(tmp_path_factory):
    """The exact statistics of the integers 0..511: 64 bins of 8 each."""
    path = make_safetensors(tmp_path_factory.mktemp("ramp") / "r.safetensors", {"r": np.arange(512, dtype=np.int32)})
    st = compute_stats(open_archive(str(path)).entries[0])
    assert st.hist_counts == [8] * 64
    return st


@pytest.mark.parametrize("width", [7, 16, 20, 30, 33, 50, 63, 64, 65, 100])
def test_equal_bins_draw_flat_at_any_width(ramp, width):
    lines = histogram_text(ramp.hist_counts, width=width).plain.split("\n")
    cols = -(-64 // per_column(64, width))
    assert {len(line) for line in lines} == {cols} and cols <= width
    assert set("".join(lines)) == {"█"}  # no column lower than another
    axis = histogram_axis(ramp, cols).plain.split("\n")[0]
    assert len(axis) == cols and axis[0] == "└" and axis[-1] == "┘"


def test_merged_columns_keep_the_shape():
    counts = [0] * 32 + [8] * 32  # a step: it stays a step, in the middle
    line = histogram_text(counts, width=20, height=1).plain
    assert per_column(64, 20) == 4 and line == " " * 8 + "█" * 8
    assert histogram_text(counts, width=64, height=1).plain == " " * 32 + "█" * 32


# -- the header ---------------------------------------------------------------


def _archive() -> Archive:
    f32, q4 = dtypes.by_name("f32"), dtypes.by_name("Q4_K")
    ents = [
        Entry(name=f"blk.{i}.{n}", kind=DATA, length=size, file="/m/a.gguf", offset=0, dtype=d)
        for n, size, d in (("q", 1000, q4), ("norm", 4000, f32))
        for i in range(3)
    ]
    return Archive((SourceFile("/m/a.gguf", "gguf", 0),), tuple(ents))


def test_header_says_the_size_and_dtypes_of_the_rows_shown():
    a = _archive()
    view = TableView(a)
    whole = header_text("a.gguf", a, view, totals(a).dtypes, None, 200).plain
    assert "6 parameters  14.6 KiB  f32 11.7 KiB  Q4_K 2.9 KiB" in whole
    view.set_filter("dtype:q4_k")
    text = header_text("a.gguf", a, view, totals(a).dtypes, None, 200, totals(a, view.rows)).plain
    assert "3 of 6 shown  2.9 KiB of 14.6 KiB  shown: Q4_K 2.9 KiB" in text
    assert "f32" not in text


# -- names --------------------------------------------------------------------


def test_one_shortening_for_the_whole_column():
    names = ["encoder.layer.0.attention.output.LayerNorm.bias", "encoder.layer.0.attention.output.LayerNorm.weight"]
    widths = np.array([name_widths(n, 8) for n in names])
    level = column_level(widths, 47)
    assert [fit_name(n, 47, level).rstrip() for n in names] == [
        "e.layer.0.attention.output.LayerNorm.bias",
        "e.layer.0.attention.output.LayerNorm.weight",
    ]
    # A name that fits at no level is cut in the middle; it does not shorten the others further.
    names.append("x" * 80)
    widths = np.array([name_widths(n, 8) for n in names])
    assert column_level(widths, 47) == level
    assert fit_name(names[-1], 47, level).count("…") == 1


# -- the scan's reasons, the columns, the tree --------------------------------


@sync
async def test_scan_reasons_columns_and_group_pane(tmp_path):
    rng = np.random.default_rng(2)
    t = {}
    for i in range(12):
        # Names as long as gemma's: the scan's columns must still find room.
        t[f"blk.{i}.post_attention_norm.weight"] = (rng.standard_normal((16, 16)) * 0.02).astype(np.float32)
        t[f"blk.{i}.attn_q.bias"] = (rng.standard_normal(16) * 0.02).astype(np.float16)
    t["blk.2.post_attention_norm.weight"] *= 500
    t["zero"] = np.zeros((4, 4), np.float32)
    p = make_safetensors(tmp_path / "s.safetensors", t)
    a = open_archive(str(p))
    expected = SC.anomalies(a.entries, {i: SC.Row.of(compute_stats(e)) for i, e in enumerate(a.entries)})
    outlier = [e.name for e in a.entries].index("blk.2.post_attention_norm.weight")
    assert [f.kind for f in expected[outlier]] == ["std"]

    async with running(str(p), size=(120, 35)) as pilot:
        screen = pilot.app.screen
        pane = screen.query_one(DetailPane)
        await pilot.press("S")
        await wait_until(pilot, lambda: screen._scan is None)
        await settle(pilot)
        head = screen_text(pilot.app).split("\n")[1]
        assert all(c in head for c in ("std", "absmax", "zeros%", "flags")), head  # beside the pane
        await pilot.press("slash", *"flag:std", "enter")
        await settle(pilot)
        assert pane.entry is not None and pane.entry.name == "blk.2.post_attention_norm.weight"
        said = plain(pane.query_one("#flags").content)
        assert "Flagged by the scan" in said and expected[outlier][0].text in said  # the engine's sentence
        await pilot.press("escape", "t")
        await settle(pilot)
        lines = screen_text(pilot.app).split("\n")
        nine = next(line for line in lines if "▸ 9 " in line)
        ten = next(line for line in lines if "▸ 10 " in line)
        assert nine.index("f16×1") == ten.index("f16×1")  # the mixes line up
        table = screen.table
        table.cursor = next(k for k, r in enumerate(screen.view.tree_rows()) if r.key == "blk.2")
        await settle(pilot)
        said = plain(pane.query_one("#info").content)
        assert "blk.2" in said and "parameters  2" in said and "flagged     1  std×1" in said
        assert "No parameter selected" not in said and "Statistics" not in screen_text(pilot.app)
