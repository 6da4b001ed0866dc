"""The verify screen, with every status present; a raw side read as the
other side's dtype in the compare screen's pane (``--diff``)."""

import os
from pathlib import Path

import numpy as np

from irpa_core import open_archive
from irpa_core.cli import main
from irpa_core.output import apply
from irpa_core.plan import Plan
from irpa_core.verify import compare_targets
from irpa_tui.app import IrpaApp
from irpa_tui.screens.compare import CompareScreen
from irpa_tui.screens.verify import VerifyScreen, rows_from_verify
from irpa_tui.widgets.lines import LineList
from tests.fixtures import make_irpa_with_iree, make_safetensors
from tests.tui.helpers import running, settle, sync

SIZE = (140, 30)


def _pane_text(vs) -> str:
    """The side pane as plain text (it holds a rich Group)."""
    import io

    from rich.console import Console

    console = Console(width=100, file=io.StringIO(), record=True)
    console.print(vs.query_one("#verify-detail").content)
    return console.export_text()


def _compare_pane_text(cs) -> str:
    import io

    from rich.console import Console

    console = Console(width=100, file=io.StringIO(), record=True)
    console.print(cs.query_one("#cmp-detail-more").content)
    return console.export_text()


def _fixture(d):
    rng = np.random.default_rng(0)
    src = make_safetensors(
        os.path.join(d, "src.safetensors"), {k: rng.standard_normal(16).astype(np.float32) for k in "abcdefg"}
    )
    out = os.path.join(d, "out.irpa")
    assert (
        main(
            [
                "convert",
                f"--parameters={src}",
                f"--output={out}",
                "--quiet",
                "--exclude=a",
                "--exclude=g",
                "--rename=d=dd",
                "--splat=b=f32=2",
            ]
        )
        == 0
    )
    blob = bytearray(Path(out).read_bytes())
    e = open_archive(out).by_name["e"]
    blob[e.offset] ^= 0xFF  # bytes differ
    Path(out).write_bytes(bytes(blob))
    extra = make_irpa_with_iree(os.path.join(d, "extra.irpa"), "--data=g=8xf32")  # length differs
    expected = apply(Plan().splat("b", "f32=1").splat("c"), open_archive(src))
    return expected, open_archive(out, extra)


def test_snapshot_verify_every_status(snap_compare, demo_path, work_dir):
    expected, output = _fixture(work_dir)

    async def run(pilot):
        await settle(pilot)
        pilot.app.push_screen(
            VerifyScreen(
                "Verify out.irpa against its sources",
                lambda progress, cancel: rows_from_verify(
                    compare_targets(expected, output, progress=progress), expected, output
                ),
            )
        )
        await settle(pilot)

    assert snap_compare(IrpaApp([demo_path]), terminal_size=SIZE, run_before=run)


@sync
async def test_statuses_and_filter_keys(demo_path, work_dir):
    expected, output = _fixture(work_dir)
    async with running(demo_path, size=SIZE) as pilot:
        app = pilot.app
        app.push_screen(
            VerifyScreen(
                "v",
                lambda p, c: rows_from_verify(
                    compare_targets(expected, output, progress=p, cancel=c), expected, output
                ),
            )
        )
        await settle(pilot)
        vs = app.screen
        st = {r.name: r.status for r in vs.rows}
        assert st == {
            "a": "missing",
            "b": "pattern differs",
            "c": "kind differs",
            "d": "missing",
            "e": "bytes differ",
            "f": "same",
            "g": "length differs",
            "dd": "extra",
        }
        assert [r.status for r in vs.rows].index("same") == 7  # problems first
        by = {r.name: r for r in vs.rows}
        # A planned splat is compared as its pattern, not as the source data it replaces.
        assert by["b"].a.kind == "splat" and by["b"].a.pattern == bytes.fromhex("0000803f")
        assert by["c"].a.kind == "splat" and by["c"].difference.elements == 16
        e = by["e"].difference
        assert (e.bytes, e.elements, e.element, e.index) == (1, 1, 0, (0,))
        vs.query_one(LineList).cursor_row = [r.name for r in vs.rows].index("e")
        await settle(pilot)
        pane = _pane_text(vs)
        assert "first at element 0 [0]" in pane and "expected" in pane and "written" in pane
        assert "exact" in pane  # statistics of both sides, computed in a worker
        k = vs.statuses.index("missing") + 1
        await pilot.press(str(k))
        assert vs.query_one(LineList).count == 2
        await pilot.press("0")
        assert vs.query_one(LineList).count == 8


@sync
async def test_diff_pane_reads_a_raw_side_as_the_other_sides_dtype(work_dir):
    """A reference-tool archive records no dtype: side B is read as A's."""
    from tests import oracle

    x = np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8)
    a = make_safetensors(os.path.join(work_dir, "a.safetensors"), {"w": x})
    raw = os.path.join(work_dir, "raw.irpa")
    oracle.run_tool("iree-convert-parameters", f"--parameters={a}", f"--output={raw}")
    blob = bytearray(Path(raw).read_bytes())
    blob[oracle.load(raw)["w"].offset + 4 * 9 + 3] ^= 0x40  # element 9 = [1, 1]
    Path(raw).write_bytes(bytes(blob))
    async with running(size=SIZE, diff=(str(a), raw)) as pilot:
        cs = pilot.app.screen
        assert isinstance(cs, CompareScreen)
        await settle(pilot)
        (row,) = cs.view.all
        assert row.verdict == "differs" and row.pair.worst.index_a == (1, 1) and row.pair.worst.flat_b == 9
        pane = _compare_pane_text(cs)
        assert "? (read as f32)" in pane and " A " in pane and " B " in pane
        assert "?" not in pane.split("statistics")[1]  # both sides' statistics are known


@sync
async def test_a_comparison_that_fails_says_so_on_its_summary_line(demo_path):
    """The comparison's error (the engine's one-line sentence, escaped: it
    names files and tensors) replaces the progress line on the summary,
    with FAILED before it."""
    from irpa_core.errors import IrpaError
    from irpa_tui.widgets.job_progress import JobProgress

    def compute(progress, cancel):
        raise IrpaError("out.irpa: cannot read 'x\x1b[31m': it went away")

    async with running(demo_path, size=SIZE) as pilot:
        screen = VerifyScreen("Verify out.irpa", compute)
        pilot.app.push_screen(screen)
        await settle(pilot)
        summary = str(screen.query_one("#verify-summary").content)
        assert summary == "FAILED out.irpa: cannot read 'x\\e[31m': it went away"  # a name in it escaped
        assert not screen.query_one(JobProgress).display
