"""TUI part 2: marks, dialogs, undo/redo, write, plan replay, cancel.
Pilot tests press the real keys; results are checked on disk with IREE's
runtime (tests.oracle), never with our own reader alone."""

import os
import threading

import pytest

from irpa_core import open_archive, read_bytes
from irpa_core.cli import main
from irpa_core.output import apply
from irpa_core.plan import Op
from irpa_core.write import Progress, WriteResult
from irpa_tui.app import IrpaApp
from irpa_tui.screens.browse import BrowseScreen
from irpa_tui.screens.dialogs import RenameDialog, SplatDialog
from tests import oracle
from tests.tui.helpers import MARK_KEYS, SIZE, fill, running, settle, sync, wait_until, write_via_keys


@sync
async def test_filter_strip_write_and_check_with_iree(demo_path, work_dir):
    out = os.path.join(work_dir, "stripped.irpa")
    async with running(demo_path) as pilot:
        app = pilot.app
        await pilot.press("slash", *"ffn_", "enter", "x")  # strip every ffn_ tensor
        await pilot.press("slash", "ctrl+a", "ctrl+k", "escape")
        await pilot.press("home", "down", "space")  # exclude token_embd.weight (the cursor stayed on its row)
        s = app.screen.session.summary()
        assert (s.splatted, s.excluded) == (16 + 1, 1)  # + the demo's own splat
        await write_via_keys(pilot, out)
    src = {e.name: e for e in open_archive(demo_path)}
    got = oracle.load(out)
    assert set(got) == set(src) - {"token_embd.weight"}
    for name, r in got.items():
        e = src[name]
        if ".ffn_" in name:
            assert r.kind == "splat" and r.pattern == b"\0" and r.length == e.length
        elif e.kind == "splat":
            assert r.kind == "splat" and r.pattern == e.pattern
        else:
            assert r.kind == "data" and r.data == read_bytes(e), name


@sync
async def test_rename_collision_cannot_be_confirmed(demo_path):
    async with running(demo_path) as pilot:
        app = pilot.app
        await pilot.press("down", "r")  # token_embd.weight
        dlg = app.screen
        assert isinstance(dlg, RenameDialog)
        await pilot.press("ctrl+a", "ctrl+k", *"output.weight")
        assert "already" in str(dlg.query_one("#problem").render())
        assert dlg.query_one("#ok").disabled
        await pilot.press("enter")
        assert app.screen is dlg  # refused
        await pilot.press(*"2")
        assert not dlg.query_one("#ok").disabled
        await pilot.press("enter")
        assert isinstance(app.screen, BrowseScreen)
        assert app.screen.session.fate(1).name == "output.weight2"


@sync
async def test_bulk_rename_by_substitution_with_preview(demo_path):
    async with running(demo_path) as pilot:
        app = pilot.app
        await pilot.press("slash", *"blk.", "enter", "r")
        dlg = app.screen
        assert dlg.substitute  # a filter shows many rows: substitute is the default
        await pilot.press(*"blk.", "tab", *"layers.")  # "replace", then "with"
        await pilot.pause()
        preview = str(dlg.query_one("#preview").render())
        assert "36 of 36 names change" in preview and "layers.0.attn_norm.weight" in preview
        await pilot.press("enter")
        await pilot.pause()
        names = {f.name for f in app.screen.session.fates}
        assert "layers.3.ffn_up.weight" in names and not any(n.startswith("blk.") for n in names)


@sync
async def test_splat_invalid_value_then_valid(demo_path):
    async with running(demo_path) as pilot:
        app = pilot.app
        await pilot.press("down", "down", "s")  # blk.0.attn_norm.weight, f32 x 256
        dlg = app.screen
        assert isinstance(dlg, SplatDialog)
        await pilot.press(*"f32=abc")
        assert "not a number" in str(dlg.query_one("#problem").render()) and dlg.query_one("#ok").disabled
        await pilot.press("ctrl+a", "ctrl+k", *"x128=00")
        assert "exactly 32 hex digits" in str(dlg.query_one("#problem").render())
        await pilot.press("ctrl+a", "ctrl+k", *"f32=1.5", "enter")
        assert isinstance(app.screen, BrowseScreen)
        f = app.screen.session.fate(2)
        assert (f.action, f.value) == ("splat", "f32=1.5")
        # undo / redo
        await pilot.press("u")
        assert app.screen.session.fate(2).action == "keep"
        await pilot.press("U")
        assert app.screen.session.fate(2).value == "f32=1.5"


@sync
async def test_plan_saved_in_tui_replays_byte_identical(demo_path, work_dir):
    plan = os.path.join(work_dir, "edit.plan.json")
    tui_out = os.path.join(work_dir, "tui.irpa")
    cli_out = os.path.join(work_dir, "cli.irpa")
    async with running(demo_path) as pilot:
        app = pilot.app
        await pilot.press("x", "slash", *"attn_q", "enter", "K", "space")
        await pilot.press("ctrl+s")
        await fill(pilot, plan)
        await pilot.press("enter")
        await settle(pilot)
        assert os.path.exists(plan) and not app.screen.session.dirty
        await write_via_keys(pilot, tui_out)
    assert main(["convert", f"--parameters={demo_path}", f"--plan={plan}", f"--output={cli_out}", "--quiet"]) == 0
    with open(tui_out, "rb") as a, open(cli_out, "rb") as b:
        assert a.read() == b.read()
    got = oracle.load(tui_out)
    assert got["blk.1.attn_q.weight"].kind == "data" and got["blk.1.attn_k.weight"].kind == "splat"
    assert "blk.0.attn_q.weight" not in got  # space excluded the first in view


@sync
async def test_start_with_plan_flag(demo_path, work_dir):
    from irpa_core.plan import Plan

    p = os.path.join(work_dir, "p.json")
    Plan().exclude("blk.*").save(p)
    async with running(demo_path, plan=Plan.load(p)) as pilot:
        assert pilot.app.screen.session.summary().excluded == 36


class _SlowWriter:
    """A writer that reports progress then waits to be released or cancelled."""

    def __init__(self):
        self.release = threading.Event()

    def __call__(self, targets, output, alignment=64, progress=None, cancel=None):
        from irpa_core.errors import Cancelled

        total = sum(t.length for t in targets if t.kind == "data")
        done = 0
        for i, t in enumerate(targets[:12]):
            progress(Progress(t.name, i, len(targets), done, total))
            done += t.length if t.kind == "data" else 0
        while not self.release.wait(0.02):
            if cancel.is_set():
                raise Cancelled("write")
        return WriteResult(output, len(targets), 4096, total, 1.0)


def _fake_clock():
    t = iter(range(0, 10**6, 2))
    return lambda: float(next(t))


def test_snapshot_progress_mid_write(snap_compare, demo_path, fixed_dir):
    writer = _SlowWriter()

    async def run(pilot):
        await settle(pilot)
        s = pilot.app.screen
        targets = apply(s.session.plan.add(Op("strip", "*.ffn_*")), s.session.archive)
        pilot.app.start_write(targets, "/tmp/irpa-tui-tests/work/out.irpa", writer=writer, clock=_fake_clock())
        await wait_until(pilot, lambda: pilot.app.screen.ui_updates == 12)  # the writer's 12 events shown

    try:
        assert snap_compare(IrpaApp([demo_path]), terminal_size=SIZE, run_before=run)
    finally:
        writer.release.set()


def test_snapshot_marked_table(snap_compare, demo_path):
    async def run(pilot):
        await settle(pilot)
        await pilot.press(*MARK_KEYS, "r", "ctrl+a", "ctrl+k", *"norm0", "enter")
        await settle(pilot)

    assert snap_compare(IrpaApp([demo_path]), terminal_size=SIZE, run_before=run)


@pytest.mark.parametrize(
    "keys",
    [
        ["s"],
        ["s", *"f32=abc"],
        ["r"],
        ["r", "ctrl+a", "ctrl+k", *"output.weight"],
        ["w"],
        ["w", "ctrl+u", *"/nonexistent/dir/out.irpa"],
        ["w", "tab", "tab", "ctrl+a", "ctrl+k", *"48"],
    ],
    ids=["splat", "splat-error", "rename", "rename-error", "write", "write-error", "write-alignment-error"],
)
def test_snapshot_dialogs(snap_compare, demo_path, keys):
    async def run(pilot):
        await settle(pilot)
        await pilot.press("down", "down", *keys[:1])
        await settle(pilot)
        await pilot.press(*keys[1:])
        await settle(pilot)

    assert snap_compare(IrpaApp([demo_path]), terminal_size=SIZE, run_before=run)


def test_snapshot_summary_and_verify(snap_compare, demo_path, fixed_dir):
    async def run(pilot):
        await settle(pilot)
        await pilot.press("slash", *"ffn_down", "enter", "x")
        await write_via_keys(pilot, "/tmp/irpa-tui-tests/work/summary.irpa")
        screen = pilot.app.screen
        screen.started = 0.0
        screen.clock = lambda: 0.5
        screen._finish(
            "done",
            WriteResult(screen.output, screen.result.entries, screen.result.bytes, screen.result.data_bytes, 0.5),
        )
        await settle(pilot)

    assert snap_compare(IrpaApp([demo_path]), terminal_size=SIZE, run_before=run)


@sync
async def test_verify_after_write_and_open(demo_path, work_dir):
    out = os.path.join(work_dir, "v.irpa")
    async with running(demo_path) as pilot:
        app = pilot.app
        await pilot.press("slash", *"attn", "enter", "x")
        await write_via_keys(pilot, out)
        await pilot.press("v")
        await settle(pilot)
        vs = app.screen
        assert type(vs).__name__ == "VerifyScreen"
        assert len(vs.rows) == 41 and all(r.status == "same" for r in vs.rows)
        await pilot.press("escape", "o")
        await settle(pilot)
        assert isinstance(app.screen, BrowseScreen) and app.screen.session.archive.files[0].path == out


@sync
async def test_cancel_leaves_no_file(demo_path, work_dir, monkeypatch):
    """The real writer, held after its first progress event (small chunks),
    cancelled with escape + confirm: no file, no temporary."""
    import irpa_core.write as W

    monkeypatch.setattr(W, "WINDOW", 16 << 10)
    out = os.path.join(work_dir, "cancelled.irpa")

    def slow_writer(targets, output, **kw):
        # After its first progress event the write waits for the cancel, so
        # it cannot end before the test presses the keys, however slow.
        report, cancel = kw["progress"], kw["cancel"]

        def progress(ev):
            report(ev)
            cancel.wait(60)

        kw["progress"] = progress
        return W.write_archive(targets, output, **kw)

    async with running(demo_path) as pilot:
        app = pilot.app
        s = app.screen
        app.start_write(apply(s.session.plan, s.session.archive), out, writer=slow_writer)
        ws = app.screen
        await wait_until(pilot, lambda: ws.ui_updates > 0)
        assert ws.state == "writing" and [p for p in os.listdir(work_dir) if ".irpa-tmp-" in p]
        await pilot.press("escape")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "ConfirmDialog")
        await pilot.press("y")
        await wait_until(pilot, lambda: ws.state != "writing")
        assert ws.state == "cancelled"
        assert "not written" in str(ws.query_one("#write-title").render())
        await pilot.press("enter")
        assert isinstance(app.screen, BrowseScreen) and app.screen.session.plan is s.session.plan
    assert not os.path.exists(out)
    assert not [p for p in os.listdir(work_dir) if ".irpa-tmp-" in p]


@sync
async def test_failed_write_shows_reason_and_keeps_plan(demo_path):
    async with running(demo_path) as pilot:
        app = pilot.app
        await pilot.press("x")
        s = app.screen
        plan = s.session.plan
        # /sys exists but refuses new files, even to root: the write fails.
        app.start_write(apply(plan, s.session.archive), "/sys/irpa-test.irpa")
        ws = app.screen
        await wait_until(pilot, lambda: ws.state != "writing")
        assert ws.state == "failed"
        assert "cannot create a file in /sys" in str(ws.query_one("#write-title").render())
        await pilot.press("enter")
        assert app.screen is s and s.session.plan is plan
    assert not os.path.exists("/sys/irpa-test.irpa")


@sync
async def test_quit_with_unsaved_edits_asks(demo_path):
    async with running(demo_path) as pilot:
        app = pilot.app
        await pilot.press("space", "q")
        assert type(app.screen).__name__ == "QuitDialog"
        await pilot.press("n")
        assert isinstance(app.screen, BrowseScreen)


@sync
async def test_verify_key_checks_an_archive_on_disk(demo_path, work_dir):
    out = os.path.join(work_dir, "by-cli.irpa")
    assert (
        main(["convert", f"--parameters={demo_path}", "--strip", "--keep=blk.0.*", f"--output={out}", "--quiet"]) == 0
    )
    async with running(demo_path) as pilot:
        app = pilot.app
        # The plan in the TUI: strip all, keep blk.0.* (same as the CLI line).
        await pilot.press("x", "slash", *"blk.0.", "enter", "K", "slash", "ctrl+a", "ctrl+k", "escape")
        await pilot.press("v")
        await fill(pilot, out)
        await pilot.press("enter")
        await settle(pilot)
        vs = app.screen
        assert type(vs).__name__ == "VerifyScreen"
        assert len(vs.rows) == 41 and all(r.status == "same" for r in vs.rows)
        await pilot.press("escape", "u", "v")  # undo the keep: now it differs
        await fill(pilot, out)
        await pilot.press("enter")
        await settle(pilot)
        assert {r.status for r in app.screen.rows} == {"same", "kind differs"}
