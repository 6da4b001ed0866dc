"""The TUI on remote archives, against the tests' HTTP server (127.0.0.1):
opening behind the loading screen, fetch counts, statistics of one tensor, a
reproducer written from the TUI (checked with IREE's runtime and the
server's byte counters), cancel during the open and during a write, errors,
the ask above ``fetching.ASK_ABOVE``, and a snapshot of the loading screen."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Input

from irpa_core import open_archive
from irpa_core import stats as S
from irpa_core.display import human
from irpa_core.plan import Plan
from irpa_core.verify import verify
from irpa_core.write import TMP_MARK
from irpa_tui import fetching
from irpa_tui.app import CANCELLED, FAILED, IrpaApp
from irpa_tui.fetching import Fetched, FetchMeter
from irpa_tui.screens.browse import BrowseScreen
from irpa_tui.screens.dialogs import ConfirmDialog, WriteDialog
from irpa_tui.screens.heatmap import HeatmapScreen
from irpa_tui.screens.info import ErrorScreen
from irpa_tui.screens.loading import LoadingScreen
from irpa_tui.screens.progress import WriteScreen
from irpa_tui.widgets.detail import DetailPane
from irpa_tui.widgets.fetch_line import FetchLine
from tests import oracle
from tests.httpserver import TestServer, serve
from tests.test_remote_archives import header_size, kept_bytes
from tests.tui.helpers import SIZE, fill, screen_text, settle, sync, wait_until

MiB = 1 << 20


def _pane(app) -> DetailPane:
    return app.screen.query_one(DetailPane)


async def _filter(pilot, text: str) -> None:
    await pilot.press("slash")
    await fill(pilot, text)
    await pilot.press("enter")


async def _open(pilot) -> None:
    """Wait for the remote open (a worker) to bring the browser, settled."""
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, BrowseScreen), timeout=20)
    await settle(pilot)


@sync
async def test_remote_reproducer_from_the_tui(http_server: TestServer, model: Path, tmp_path: Path, monkeypatch):
    url = serve(http_server, model)
    cli = open_archive(url)  # what the command line fetches to open it
    cli_open = cli.sources[0].bytes_fetched
    cli.close()
    http_server.reset()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # a remote input's default output goes here
    app = IrpaApp([url])
    async with app.run_test(size=SIZE) as pilot:
        await _open(pilot)
        # Opening fetched the header (at most a block more), as the CLI's open does.
        header = header_size(model)
        assert app.open_fetched is not None and app.open_fetched.bytes == cli_open
        assert header <= cli_open <= header + MiB
        assert "fetched" in screen_text(app).splitlines()[0]  # the header line counts it

        # Statistics of one tensor fetch about that tensor (a small one is read whole: exact).
        await settle(pilot)
        http_server.reset()
        name = "blk.1.ffn_up.weight"
        await _filter(pilot, f"^{name}")
        await wait_until(pilot, lambda: _pane(app).last_stats is not None and _pane(app).last_stats.exact)
        await settle(pilot)
        e = app.screen.session.archive.by_name[name]
        assert _pane(app).last_stats == S.compute_stats(open_archive(model).by_name[name])
        assert http_server.bytes_sent() <= e.length + 2 * MiB  # block rounding at each end

        # Strip all but blk.0.*, write from the TUI to the default path.
        await _filter(pilot, "!^blk.0.")
        await pilot.press("x")
        await pilot.press("slash", "ctrl+a", "ctrl+k", "escape")
        await settle(pilot)
        http_server.reset()
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, WriteDialog))
        out = work / "model.stripped.irpa"
        assert app.screen.query_one("#path", Input).value == str(out)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, WriteScreen) and app.screen.state != "writing")
        screen = app.screen
        assert screen.state == "done", screen.result
        line = screen.query_one(FetchLine)
        await wait_until(pilot, lambda: line.fetched.bytes >= screen.result.fetched)  # its next poll
        kept = kept_bytes(model, "blk.0.")
        # The write fetched the kept tensors and nothing else; the screen says so.
        assert screen.result.fetched == kept == http_server.bytes_sent()
        assert line.fetched == Fetched(kept, screen.result.requests)
        assert "this write: fetched" in screen_text(app)

    # Checked against the local file: by IREE's runtime, and by verify with the CLI's plan.
    loaded = oracle.load(out)
    data = model.read_bytes()
    for en in open_archive(model).entries:
        ref = loaded[en.name]
        if en.name.startswith("blk.0."):
            assert ref.data == data[en.start : en.start + en.length]
        else:
            assert ref.kind == "splat"
    plan = Plan.from_reference_flags(strip=True, keep=["blk.0.*"])
    assert verify(open_archive(model), plan, open_archive(out)).ok
    assert sorted(os.listdir(work)) == ["model.stripped.irpa"]


@sync
async def test_escape_cancels_a_slow_open(http_server: TestServer, model: Path):
    url = serve(http_server, model)
    http_server.delay = 0.25  # 16 KiB per 250 ms: the 2.8 MB header would take 45 s
    app = IrpaApp([url])
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LoadingScreen))
        loading = app.screen
        await wait_until(pilot, lambda: loading.meter.total().bytes > 0 and "model.gguf" in screen_text(app))
        assert "fetched" in screen_text(app)
        pressed = time.monotonic()
        await pilot.press("escape")
        assert "cancelling" in screen_text(app)
        await wait_until(pilot, lambda: app.return_code is not None, timeout=15)
        assert time.monotonic() - pressed < 10  # within a second or so; generous on a busy machine
    assert app.return_code == CANCELLED


@sync
async def test_escape_cancels_a_slow_write(http_server: TestServer, model: Path, tmp_path: Path):
    url = serve(http_server, model)
    out = tmp_path / "repro.irpa"
    app = IrpaApp([url])
    async with app.run_test(size=SIZE) as pilot:
        await _open(pilot)
        http_server.delay = 0.25  # now slow: the write fetches 16 KiB per 250 ms (minutes in all)
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, WriteDialog))
        await fill(pilot, str(out))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, WriteScreen))
        screen = app.screen
        await wait_until(pilot, lambda: screen.query_one(FetchLine).fetched.bytes > 0)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        pressed = time.monotonic()
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.state != "writing", timeout=15)
        assert screen.state == "cancelled" and time.monotonic() - pressed < 10
        assert not out.exists() and not [p for p in tmp_path.iterdir() if TMP_MARK in p.name]
        await pilot.press("enter")  # responsive: back to the table
        assert isinstance(app.screen, BrowseScreen)
        http_server.delay = 0.0


@sync
async def test_diff_of_a_remote_file_and_its_local_copy(http_server: TestServer, model: Path):
    from irpa_tui.screens.compare import CompareScreen

    url = serve(http_server, model)
    app = IrpaApp([], diff=(url, str(model)))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.report, timeout=20)
        screen = app.screen
        report = screen.report
        assert report.ok and not report.only_a and not report.only_b
        assert {p.verdict for p in report.pairs} == {"identical"}
        assert screen.title_text.startswith("Compare A model.gguf -> B model.gguf")
        # Every tensor compared: fetched, but for the block the open had read already.
        await wait_until(pilot, lambda: screen.query_one(FetchLine).fetched.bytes >= kept_bytes(model, "") - MiB)


_QUIT_WHILE_READING = """
import asyncio, sys, time
from irpa_tui.app import IrpaApp
from irpa_tui.screens.browse import BrowseScreen
from tests.tui.helpers import settle, wait_until

async def main():
    app = IrpaApp([sys.argv[1]])
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, BrowseScreen), timeout=20)
        await settle(pilot)
        print("ready", flush=True)
        sys.stdin.readline()  # the test slows the server down, then answers
        await pilot.press("end")  # a row whose preview and estimate start fetching, slowly
        await wait_until(pilot, lambda: any(w.is_running for w in app.workers))
        print("quitting", flush=True)
        await pilot.press("q")

if __name__ == "__main__":
    asyncio.run(main())
    print("exited", time.monotonic(), flush=True)
"""


def test_quit_while_a_remote_read_is_in_flight_exits_at_once(http_server: TestServer, model: Path):
    """Python waits for worker threads at exit: the app stops their remote
    reads (and the background job) when it exits."""
    import subprocess
    import sys

    url = serve(http_server, model)
    root = Path(__file__).parents[2]
    p = subprocess.Popen(
        [sys.executable, "-c", _QUIT_WHILE_READING, url],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdin is not None and p.stdout is not None
    watchdog = threading.Timer(180, p.kill)  # a hung child fails the test, never the run
    watchdog.start()
    try:
        line = p.stdout.readline()
        assert line.startswith("ready"), line
        http_server.delay = 1.0  # 16 KiB a second: a 1 MiB block takes a minute
        p.stdin.write("slow\n")
        p.stdin.flush()
        line = p.stdout.readline()
        assert line.startswith("quitting"), line
        quit_at = time.monotonic()
        rest = p.communicate(timeout=90)[0]
        took = time.monotonic() - quit_at
    finally:
        watchdog.cancel()
        http_server.delay = 0.0
    assert p.returncode == 0 and "exited" in rest
    # A read in flight stops within its 1 s poll, not after the block's minute
    # (generous: the child's exit and interpreter shutdown on a busy machine).
    assert took < 20, took


@pytest.mark.parametrize("case", ["401", "404"])
@sync
async def test_http_errors_show_the_error_screen(hub_env: TestServer, model: Path, case: str):
    ts = hub_env
    shutil.copy(model, ts.add_repo("org/m") / "model.gguf")
    if case == "401":
        ts.token = "sekrit"
        spec, message = "hf://org/m/model.gguf", "HTTP 401 Unauthorized: the repository is private or gated"
    else:
        spec, message = "hf://org/m/nope.gguf", "HTTP 404 Not Found: no such file in the repository"
    app = IrpaApp([spec])
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorScreen), timeout=10)
        assert app.screen.message.startswith(f"{spec}: {message}")
        assert "\n" not in app.screen.message
        await pilot.press("q")
    assert app.return_code == FAILED  # nothing was opened: as the CLI, 1


@sync
async def test_big_remote_tensors_ask_before_fetching(http_server: TestServer, model: Path, monkeypatch):
    """Above the limit (lowered here to 1 MiB), the exact pass waits for F,
    the heatmap and the scan ask, each saying how much they would fetch."""
    monkeypatch.setattr(fetching, "ASK_ABOVE", 1 * MiB)
    url = serve(http_server, model)
    app = IrpaApp([url])
    async with app.run_test(size=SIZE) as pilot:
        await _open(pilot)
        await _filter(pilot, "^token_embd")  # Q8_0 8192 x 512: 4.4 MB
        await settle(pilot)
        pane = _pane(app)
        assert pane.last_stats is not None and not pane.last_stats.exact
        size = human(app.screen.session.archive.by_name["token_embd.weight"].length)
        head = pane._stats_renderable(pane.last_stats).renderables[0]
        assert f"the exact pass would fetch {size}: F fetches it" in head.plain
        before = http_server.bytes_sent()
        await pilot.press("F")
        await wait_until(pilot, lambda: pane.last_stats is not None and pane.last_stats.exact, timeout=20)
        e = app.screen.session.archive.by_name["token_embd.weight"]
        assert pane.last_stats == S.compute_stats(open_archive(model).by_name["token_embd.weight"])
        assert e.length <= http_server.bytes_sent() - before <= e.length + 2 * MiB  # fetched in the child
        await settle(pilot)
        assert "fetched" in screen_text(app).splitlines()[0]

        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert f"fetches {size}" in " ".join(screen_text(app).split())
        await pilot.press("n")  # no: back to the table, nothing fetched
        await wait_until(pilot, lambda: isinstance(app.screen, BrowseScreen))

        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, HeatmapScreen))
        heat = app.screen
        await wait_until(pilot, lambda: heat.view.heatmap is not None, timeout=20)
        assert "this heatmap: fetched" in screen_text(app)
        await pilot.press("escape")

        await wait_until(pilot, lambda: isinstance(app.screen, BrowseScreen))
        await pilot.press("S")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "The scan reads every tensor" in screen_text(app)
        await pilot.press("n")


def test_remote_source_crosses_to_a_child_without_a_probe(http_server: TestServer, model: Path) -> None:
    """A background job on a remote entry reads its ranges only (no new
    probe of the file), and reports what it fetched."""
    from irpa_tui.jobs import JobRunner

    url = serve(http_server, model)
    archive = open_archive(url)
    e = archive.by_name["blk.2.ffn_up.weight"]
    http_server.reset()
    jobs = JobRunner(remote=True)
    before = jobs.fetched()
    st = jobs.run(S.compute_stats, e, sources=[e.source])
    assert st == S.compute_stats(open_archive(model).by_name[e.name])
    sent = http_server.bytes_sent()
    assert e.length <= sent <= e.length + 2 * MiB
    assert all(h.range is not None and not h.range.startswith("bytes=0-") for h in http_server.hits)
    got = jobs.fetched()
    jobs.close()
    assert got[0] - before[0] == sent and got[1] - before[1] == http_server.requests


# -- the loading screen's snapshot -------------------------------------------------------


class _Source:
    """What the loading screen reads of the file being opened."""

    remote = True
    name = "hf://unsloth/gemma-3-270m-it-GGUF/gemma-3-270m-it-Q8_0.gguf"
    size = 291_545_184
    bytes_fetched = 12_582_912
    requests = 4


class _LoadingApp(App):
    CSS_PATH = str(Path(__file__).parents[2] / "irpa_tui" / "app.tcss")

    def on_mount(self) -> None:
        import threading

        meter = FetchMeter([_Source()])  # type: ignore[list-item]
        times = iter([100.0])
        self.push_screen(LoadingScreen([_Source.name], meter, threading.Event(), clock=lambda: next(times, 102.5)))


def _loading_shown(pilot):
    return wait_until(pilot, lambda: isinstance(pilot.app.screen, LoadingScreen) and pilot.app.screen.is_mounted)


def test_snapshot_loading_screen(snap_compare) -> None:
    assert snap_compare(_LoadingApp(), terminal_size=SIZE, run_before=_loading_shown)
