"""The TUI's write in a child process (``progress.write_in_child`` through
``JobRunner.run``): the written files against IREE's runtime and against
``irpa convert`` of the same plan, cancel (the child told to stop, or
killed) leaving no temporary and an existing output untouched, a remote
input, an input replaced since it was opened (written in this process from
the open file instead), and the engine's errors crossing back intact."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import gguf
import numpy as np
import pytest

from irpa_core import open_archive
from irpa_core.cli import main
from irpa_core.errors import ArchiveError, Cancelled, PlanError, WriteError
from irpa_core.output import build
from irpa_core.plan import Plan
from irpa_core.write import TMP_MARK
from irpa_tui.jobs import JobRunner, _error_payload, _rebuild
from irpa_tui.screens import progress as P
from irpa_tui.screens.browse import BrowseScreen
from irpa_tui.screens.progress import WriteScreen
from irpa_tui.widgets.fetch_line import FetchLine
from tests import oracle
from tests.httpserver import TestServer, serve
from tests.tui.helpers import running, screen_text, settle, sync, wait_until

# Every kind of target: copied, excluded, renamed, a splat (written as data
# outside irpa), a cast, and edited file metadata.
PLAN = (
    Plan()
    .exclude("token_embd.weight")
    .rename("blk.1.*", "layers.1.*")
    .splat("blk.0.attn_norm.weight", "f32=2")
    .cast("blk.0.attn_output.weight", "f32")
    .cast("output.weight", "f32")  # safetensors holds no Q8_0
    .set_metadata("general.name", "written by a child", "string")
)
FLOAT_TWO = np.float32(2).tobytes()


@pytest.fixture
def jobs(monkeypatch) -> list[str]:
    """The names of the functions ``JobRunner.run`` was given (the write
    screen gives it ``write_archive``; statistics jobs run there too)."""
    seen: list[str] = []
    real = JobRunner.run

    def spy(self, fn, *args, **kw):
        seen.append(fn.__name__)
        return real(self, fn, *args, **kw)

    monkeypatch.setattr(JobRunner, "run", spy)
    return seen


def _cli(src: str, out: Path, plan: Plan, tmp: Path) -> bytes:
    plan_file = tmp / "plan.json"
    plan.save(plan_file)
    assert main(["convert", f"--parameters={src}", f"--plan={plan_file}", f"--output={out}", "--quiet"]) == 0
    return out.read_bytes()


async def _opened(pilot) -> None:
    """Wait for a remote open (a worker) to bring the browser, settled."""
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, BrowseScreen), timeout=20)
    await settle(pilot)


async def _write(pilot, output, path: Path, alignment: int | None = None) -> WriteScreen:
    pilot.app.start_write(output, str(path), alignment)
    screen = pilot.app.screen
    assert isinstance(screen, WriteScreen)
    await wait_until(pilot, lambda: screen.state != "writing")
    return screen


@sync
async def test_child_writes_what_the_command_line_writes(demo_path, tmp_path: Path, jobs):
    async with running(demo_path) as pilot:
        app = pilot.app
        archive = app.screen.session.archive
        screens = {}
        for fmt in ("irpa", "gguf", "safetensors"):
            screens[fmt] = await _write(pilot, build(PLAN, archive, fmt), tmp_path / f"tui.{fmt}")
            assert screens[fmt].state == "done", screens[fmt].query_one("#write-title").render()
            assert "Written" in screen_text(app)
            # Every entry is in the log, as after a write in a thread.
            assert screens[fmt].query_one("#write-log").count == len(screens[fmt].targets)
            await pilot.press("enter")
    assert jobs.count("write_archive") == 3  # each in a child
    assert app.jobs.in_children  # a child could be made (not the in-thread fallback)

    for fmt in ("irpa", "gguf", "safetensors"):
        tui = (tmp_path / f"tui.{fmt}").read_bytes()
        assert tui == _cli(demo_path, tmp_path / f"cli.{fmt}", PLAN, tmp_path), fmt
        assert screens[fmt].result.bytes == len(tui)

    # IREE's runtime reads the irpa as the plan says; the gguf package, the gguf.
    src = oracle.load(demo_path)
    got = oracle.load(tmp_path / "tui.irpa")
    assert "token_embd.weight" not in got and "blk.1.attn_q.weight" not in got
    assert got["layers.1.attn_q.weight"].data == src["blk.1.attn_q.weight"].data
    assert got["blk.2.ffn_down.weight"].data == src["blk.2.ffn_down.weight"].data
    assert (got["blk.0.attn_norm.weight"].pattern, got["blk.0.attn_norm.weight"].length) == (FLOAT_TWO, 1024)
    cast = np.frombuffer(src["blk.0.attn_output.weight"].data, np.float16).astype(np.float32).tobytes()
    assert got["blk.0.attn_output.weight"].data == cast

    reader = gguf.GGUFReader(tmp_path / "tui.gguf")
    tensors = {t.name: t for t in reader.tensors}
    assert "token_embd.weight" not in tensors and "blk.1.attn_q.weight" not in tensors
    assert tensors["layers.1.attn_q.weight"].data.tobytes() == src["blk.1.attn_q.weight"].data
    assert tensors["blk.0.attn_norm.weight"].data.tobytes() == FLOAT_TWO * 256
    assert tensors["blk.0.attn_output.weight"].data.tobytes() == cast
    name = reader.fields["general.name"]
    assert bytes(name.parts[name.data[0]]).decode() == "written by a child"


@sync
@pytest.mark.parametrize("how", ["child-cleans-up", "child-killed", "child-dies"])
async def test_cancel_leaves_the_existing_output_and_no_temporary(
    http_server: TestServer, model: Path, tmp_path: Path, monkeypatch, jobs, how: str
):
    """A slow remote input keeps the child writing; escape + yes stops it.
    Told to stop, it removes its temporary itself; killed at once (no
    grace), it cannot, and the screen removes what it left; so too when
    the child dies on its own (killed from outside: the write failed)."""
    if how == "child-killed":
        monkeypatch.setattr(P, "GRACE", 0.0)
    url = serve(http_server, model)
    work = tmp_path / "work"  # beside the server's directory
    work.mkdir()
    out = work / "out.irpa"
    out.write_bytes(b"the user's earlier file")
    async with running(url) as pilot:
        await _opened(pilot)
        app = pilot.app
        http_server.delay = 0.05  # now slow: 16 KiB per 50 ms
        app.start_write(build(Plan(), app.screen.session.archive, "irpa"), str(out))
        screen = app.screen
        await wait_until(pilot, lambda: [p for p in os.listdir(work) if TMP_MARK in p])
        temp = next(p for p in os.listdir(work) if TMP_MARK in p)
        pid = int(temp.split(TMP_MARK)[1].split("-")[0])
        assert pid != os.getpid()  # the child's
        if how == "child-dies":
            os.kill(pid, signal.SIGKILL)
        else:
            await pilot.press("escape")
            await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "ConfirmDialog")
            await pilot.press("y")
        await wait_until(pilot, lambda: screen.state != "writing", timeout=P.GRACE + 3)
        title = str(screen.query_one("#write-title").render())
        if how == "child-dies":
            assert screen.state == "failed" and title.endswith("ended without a result (exit code -9)"), title
        else:
            assert screen.state == "cancelled" and "not written" in title
        http_server.delay = 0.0
    assert jobs.count("write_archive") == 1
    assert out.read_bytes() == b"the user's earlier file"
    assert os.listdir(work) == ["out.irpa"]


@sync
async def test_remote_input_written_by_the_child(http_server: TestServer, model: Path, tmp_path: Path, jobs):
    url = serve(http_server, model)
    plan = Plan().strip("*").keep("blk.0.*").rename("blk.0.*", "first.*")
    async with running(url) as pilot:
        await _opened(pilot)
        http_server.reset()
        screen = await _write(pilot, build(plan, pilot.app.screen.session.archive, "gguf"), tmp_path / "tui.gguf")
        assert screen.state == "done"
        fetched = http_server.bytes_sent()
        assert screen.result.fetched == fetched > 0
        await wait_until(pilot, lambda: screen.query_one(FetchLine).fetched.bytes >= fetched)  # its next poll
        assert screen.query_one(FetchLine).fetched.bytes == fetched  # relayed from the child
    assert jobs.count("write_archive") == 1
    assert (tmp_path / "tui.gguf").read_bytes() == _cli(url, tmp_path / "cli.gguf", plan, tmp_path)


@sync
async def test_input_replaced_since_it_was_opened(demo_path, tmp_path: Path, jobs):
    """The child would open the path and find another file: the write runs
    in this process on the file the session has open, as before."""
    src = tmp_path / "in.irpa"
    shutil.copy(demo_path, src)
    want = _cli(str(src), tmp_path / "cli.irpa", PLAN, tmp_path)
    async with running(str(src)) as pilot:
        archive = pilot.app.screen.session.archive
        other = tmp_path / "other.irpa"
        assert main(["convert", f"--parameters={demo_path}", "--strip", f"--output={other}", "--quiet"]) == 0
        os.replace(other, src)
        screen = await _write(pilot, build(PLAN, archive, "irpa"), tmp_path / "tui.irpa")
        assert screen.state == "done"
    assert jobs.count("write_archive") == 1
    assert (tmp_path / "tui.irpa").read_bytes() == want


@sync
async def test_error_in_the_child_is_one_line_and_nothing_written(demo_path, tmp_path: Path, jobs):
    out = tmp_path / "missing" / "out.gguf"
    async with running(demo_path) as pilot:
        screen = await _write(pilot, build(PLAN, pilot.app.screen.session.archive, "gguf"), out)
        assert screen.state == "failed"
        title = str(screen.query_one("#write-title").render())
        assert title == f"Failed: {out}: directory {out.parent} does not exist"
    assert jobs.count("write_archive") == 1
    assert not out.parent.exists()


@pytest.mark.parametrize(
    "error",
    [
        ArchiveError("in.gguf", 12, "file ends early"),
        WriteError("out.irpa", "no space left on the device; nothing was written"),
        PlanError("blk.0.w", "cannot be cast"),
        Cancelled("write"),
        FileNotFoundError(2, "No such file or directory", "x.irpa"),
    ],
)
def test_errors_cross_back_as_they_were(error: BaseException):
    import pickle

    got = _rebuild(pickle.loads(pickle.dumps(_error_payload(error))))
    assert type(got) is type(error) and str(got) == str(error) and vars(got) == vars(error)


def test_spare_child_writes_in_the_current_directory(demo_path, tmp_path: Path, monkeypatch):
    """The next job's child is started ahead, in whatever directory this
    process was in then; the job runs in the directory of its start."""
    import threading

    jobs = JobRunner()
    jobs.start()
    assert jobs.spare_ready(timeout=10)
    monkeypatch.chdir(tmp_path)
    events = []
    result = P.write_in_child(
        jobs, build(PLAN, open_archive(demo_path), "irpa"), "rel.irpa", None, events.append, threading.Event()
    )
    assert result.path == "rel.irpa" and events  # progress relayed (at most CHILD_RATE a second)
    assert (tmp_path / "rel.irpa").read_bytes() == _cli(demo_path, tmp_path / "cli.irpa", PLAN, tmp_path)
    assert jobs.spare_ready(timeout=10)  # and the next one is on its way
    jobs.close()


def test_close_waits_for_a_spare_being_started(monkeypatch):
    """The app exits right after a job while the next job's child is being
    started: ``close`` waits for it (the fork server's child would otherwise
    print a traceback as its parent went away) and lets it go."""
    import threading

    import irpa_tui.jobs as J

    closing = threading.Event()  # close() waits on the runner's condition
    discarded = threading.Event()
    made: list = []

    class Watched(threading.Condition):
        def wait_for(self, predicate, timeout=None):
            closing.set()
            return super().wait_for(predicate, timeout)

    class SlowChild:
        def __init__(self, ctx) -> None:
            closing.wait(5)  # still being started when close() begins to wait (never, without the fix)
            made.append(self)

        def discard(self) -> None:
            discarded.set()

    monkeypatch.setattr(J, "_Child", SlowChild)
    jobs = JobRunner()
    jobs._spare_state = Watched()
    jobs._context = object()  # a context, as start() sets it (not used by the stand-in)
    jobs._refill()
    jobs.close()
    assert made and not jobs._filling  # close returned after the start
    assert discarded.wait(5)  # and the starting thread let the child go
