"""Edits that warn (a splat of the wrong width, writing over a file, a plan
that matches nothing), the two rename modes, and the progress plumbing's
rate: pilot tests pressing the real keys, and snapshots of the new dialogs."""

from __future__ import annotations

import os
import threading

import pytest

from irpa_core.output import apply
from irpa_core.plan import Plan
from irpa_core.write import Progress, WriteResult
from irpa_tui.app import IrpaApp
from irpa_tui.screens.browse import BrowseScreen
from irpa_tui.screens.dialogs import ConfirmDialog, RenameDialog, SplatDialog, WriteDialog
from irpa_tui.screens.progress import WriteScreen
from tests.tui.helpers import SIZE, fill, running, settle, sync, wait_until

# -- a splat whose width does not match the dtype ---------------------------


@sync
async def test_splat_warning_follows_the_rows_cast(demo_path):
    """The dialog checks the dtype the row is written with, as irpa convert
    does: an f32 row cast to bf16 takes bf16=1.0 without a warning, and an
    f32 value then warns about bf16."""
    async with running(demo_path) as pilot:
        app = pilot.app
        await pilot.press("down", "down", "c")  # blk.0.attn_norm.weight is f32
        await fill(pilot, "bf16")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.session.fate(2).cast == "bf16"
        await pilot.press("s", *"bf16=1.0")
        dlg = app.screen
        assert isinstance(dlg, SplatDialog)
        assert str(dlg.query_one("#warning").render()) == ""
        await pilot.press("ctrl+a", "ctrl+k", *"f32=1.0")
        assert "f32=1.0 onto bf16" in str(dlg.query_one("#warning").render())


@sync
async def test_splat_width_mismatch_warns_and_must_be_confirmed(demo_path):
    async with running(demo_path) as pilot:
        app = pilot.app
        await pilot.press("down", "down", "s", *"bf16=1.0")  # blk.0.attn_norm.weight is f32
        dlg = app.screen
        assert isinstance(dlg, SplatDialog)
        warning = str(dlg.query_one("#warning").render())
        assert "bf16=1.0 onto f32" in warning and "2-byte pattern on 4-byte elements" in warning
        assert not dlg.query_one("#ok").disabled  # allowed (the reference accepts it), but asked
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        assert app.screen is dlg and app.screen_stack[-2].session.fate(2).action == "keep"
        await pilot.press("ctrl+a", "ctrl+k", *"f32=1.0")
        assert str(dlg.query_one("#warning").render()) == ""
        await pilot.press("ctrl+a", "ctrl+k", *"i8=3", "enter", "y")
        await pilot.pause()
        assert isinstance(app.screen, BrowseScreen)
        f = app.screen.session.fate(2)
        assert (f.action, f.value) == ("splat", "i8=3")


# -- writing over an existing file ------------------------------------------


@sync
async def test_write_onto_an_existing_file_asks(demo_path, work_dir):
    out = os.path.join(work_dir, "exists.irpa")
    with open(out, "wb") as f:
        f.write(b"old")
    async with running(demo_path) as pilot:
        app = pilot.app
        await pilot.press("x", "w")
        await fill(pilot, out)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog) and "Replace" in str(app.screen.query_one(".title").render())
        await pilot.press("n")
        assert isinstance(app.screen, WriteDialog)  # back to choose another path
        with open(out, "rb") as f:
            assert f.read() == b"old"
        await pilot.press("enter", "y")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, WriteScreen)
        await wait_until(pilot, lambda: screen.state != "writing")
        assert screen.state == "done"
    assert os.path.getsize(out) > 3


# -- a plan whose edits match nothing ----------------------------------------


@pytest.mark.parametrize("answer", ["y", "n"])
def test_plan_that_matches_nothing_is_shown_and_asked(demo_path, answer):
    plan = Plan().exclude("blk.*").exclude("model.layers.*").rename("lm_head", "output")

    @sync
    async def run():
        async with running(demo_path, plan=plan) as pilot:
            app = pilot.app
            dlg = app.screen
            assert isinstance(dlg, ConfirmDialog)
            body = str(dlg.query_one(".body").render())
            assert "2 of the plan's 3 edits match no parameter" in body
            assert "exclude model.layers.*" in body and "rename lm_head -> output" in body
            assert "exclude blk.*" not in body
            await pilot.press(answer)
            await pilot.pause()
            browse = app.screen
            assert isinstance(browse, BrowseScreen)
            s = browse.session
            if answer == "y":
                assert s.plan == plan and s.summary().excluded == 36 and not s.dirty
            else:
                assert not s.plan.ops and s.summary().excluded == 0

    run()


@sync
async def test_plan_that_matches_everything_opens_without_asking(demo_path):
    async with running(demo_path, plan=Plan().exclude("blk.*")) as pilot:
        assert isinstance(pilot.app.screen, BrowseScreen) and pilot.app.screen.session.summary().excluded == 36


# -- the two rename modes -----------------------------------------------------


@sync
async def test_rename_this_row_and_the_detail_and_filter_follow(demo_path):
    async with running(demo_path) as pilot:
        app = pilot.app
        browse = app.screen
        await pilot.press("down", "r")  # token_embd.weight; no filter: this row is the default
        dlg = app.screen
        assert isinstance(dlg, RenameDialog) and not dlg.substitute
        assert "Rename token_embd.weight" in str(dlg.query_one("#rename-title").render())
        assert not dlg.query_one("#subst").display and dlg.query_one("#one").display
        await pilot.press("ctrl+a", "ctrl+k", *"embeddings", "enter")
        await pilot.pause()
        assert browse.session.fate(1).name == "embeddings"
        assert browse._detail_name == (1, "embeddings")  # the pane shows the new name at once
        await pilot.press("slash", *"embeddings", "enter")  # the filter finds the row by its new name
        assert list(browse.view.rows) == [1]


@sync
async def test_substitute_in_rows_in_view_with_regex_groups_and_collisions(demo_path):
    async with running(demo_path) as pilot:
        app = pilot.app
        browse = app.screen
        await pilot.press("slash", *"attn_q", "enter", "r")
        dlg = app.screen
        assert isinstance(dlg, RenameDialog) and dlg.substitute  # several rows in view: substitute
        assert "Substitute in the names of 4 rows in view" in str(dlg.query_one("#rename-title").render())
        await pilot.press(*r"re:^blk\.(\d+)\.attn_q", "tab", *r"layers.\1.q_proj")
        await pilot.pause()
        preview = str(dlg.query_one("#preview").render())
        assert "4 of 4 names change" in preview and "blk.2.attn_q.weight → layers.2.q_proj.weight" in preview
        # Every row onto one name: collisions are shown and refused.
        await pilot.press("ctrl+a", "ctrl+k", *"same")
        await pilot.pause()
        assert "collision" in str(dlg.query_one("#preview").render()) and dlg.query_one("#ok").disabled
        await pilot.press("ctrl+a", "ctrl+k", *r"layers.\1.q_proj", "enter")
        await pilot.pause()
        assert isinstance(app.screen, BrowseScreen)
        names = {browse.session.fate(i).name for i in browse.view.rows}
        assert names == {f"layers.{k}.q_proj.weight" for k in range(4)}
        assert len(browse.view.rows) == 4  # still in view: the filter matches old and new names


@sync
async def test_switching_modes_changes_what_the_dialog_shows(demo_path):
    async with running(demo_path) as pilot:
        app = pilot.app
        await pilot.press("down", "r")
        dlg = app.screen
        assert not dlg.substitute
        await pilot.press("ctrl+t")
        assert dlg.substitute and dlg.query_one("#subst").display and not dlg.query_one("#one").display
        assert dlg.query_one("#rename-box").has_class("-substitute")
        await pilot.press(*"blk.", "tab", *"L.")
        await pilot.pause()
        assert "36 of 41 names change" in str(dlg.query_one("#preview").render())
        await pilot.press("ctrl+t")
        assert not dlg.substitute and dlg.query_one("#name").value == "token_embd.weight"


# -- progress: at most ~20 UI updates per second ---------------------------


class _FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class _ManyEventsWriter:
    """A fake write of 200,000 progress events, one per 0.1 ms of fake time
    (20 fake seconds), as fast as the thread can report them."""

    def __init__(self, clock: _FakeClock, events: int = 200_000) -> None:
        self.clock, self.events = clock, events
        self.done = threading.Event()

    def __call__(self, targets, output, alignment=64, progress=None, cancel=None):
        n = len(targets)
        for k in range(self.events):
            self.clock.t += 1e-4
            progress(Progress(targets[k % n].name, k * n // self.events, n, k, self.events))
        self.done.set()
        return WriteResult(output, n, 4096, 0, self.clock.t)


@sync
async def test_progress_updates_are_coalesced_to_about_20_per_second(demo_path, work_dir):
    clock = _FakeClock()
    writer = _ManyEventsWriter(clock)
    async with running(demo_path) as pilot:
        app = pilot.app
        s = app.screen
        out = os.path.join(work_dir, "x.irpa")
        app.start_write(apply(s.session.plan, s.session.archive), out, writer=writer, clock=clock)
        ws = app.screen
        await wait_until(pilot, lambda: ws.state != "writing", timeout=60)
        assert ws.state == "done" and writer.done.is_set()
        seconds = clock.t  # 20 fake seconds of events
        assert 1 <= ws.ui_updates <= 20 * seconds + 1, ws.ui_updates
        assert ws.ui_updates >= 10 * seconds  # and it does keep the screen moving


# -- snapshots of the new dialogs --------------------------------------------


@pytest.mark.parametrize(
    "keys",
    [
        ["down", "down", "s", *"bf16=1.0"],
        ["down", "down", "s", *"bf16=1.0", "enter"],
        ["down", "r"],
        ["slash", *"attn_", "enter", "r", *r"re:blk\.(\d+)\.attn_", "tab", *r"L\1."],
        ["slash", *"attn_", "enter", "r", *r"re:\d+", "tab", *"N"],
    ],
    ids=["splat-warning", "splat-confirm", "rename-row", "rename-substitute", "rename-collision"],
)
def test_snapshot_new_dialogs(snap_compare, demo_path, keys):
    async def run(pilot):
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)

    assert snap_compare(IrpaApp([demo_path]), terminal_size=SIZE, run_before=run)


def test_snapshot_overwrite_question(snap_compare, demo_path, fixed_dir):
    out = os.path.join(fixed_dir, "exists.irpa")
    with open(out, "wb") as f:
        f.write(b"old")

    async def run(pilot):
        await settle(pilot)
        await pilot.press("w")
        await fill(pilot, out)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(IrpaApp([demo_path]), terminal_size=SIZE, run_before=run)


def test_snapshot_unmatched_plan_question(snap_compare, demo_path):
    plan = Plan().exclude("blk.*").exclude("model.layers.*").rename("lm_head", "output")
    assert snap_compare(IrpaApp([demo_path], plan=plan), terminal_size=SIZE, run_before=settle)
