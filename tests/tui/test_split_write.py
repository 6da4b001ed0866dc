"""Split GGUF output from the TUI (issue 15): the write dialog's split
fields (shown for GGUF only, the command line's syntax and reasons), the
write through the progress screen (the shard being written, cancel leaving
no shard, the shards named when done, verify and open from the first
shard), and asking before existing shard files are replaced. What is
written is checked with the gguf package's reader."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from irpa_core.output import Split, build
from irpa_core.plan import Plan
from irpa_core.write import TMP_MARK, write_split
from irpa_tui.app import IrpaApp
from irpa_tui.screens import progress as P
from irpa_tui.screens.browse import BrowseScreen
from irpa_tui.screens.dialogs import WriteDialog
from irpa_tui.screens.progress import WriteScreen
from irpa_tui.screens.verify import VerifyScreen
from tests.fixtures import make_gguf, quantized_bytes
from tests.httpserver import TestServer, serve
from tests.oracle import gguf_kvs, gguf_tensors
from tests.tui.helpers import SIZE, fill, open_write_dialog, running, screen_text, settle, sync, wait_until

RNG = np.random.default_rng(3)
TENSORS = {
    "token_embd.weight": RNG.standard_normal((16, 32)).astype(np.float32),
    "blk.0.attn_q.weight": ("Q8_0", quantized_bytes("Q8_0", 4, 64)),
    "blk.0.attn_norm.weight": np.ones(32, np.float32),
    "blk.0.ffn_up.weight": RNG.standard_normal((8, 32)).astype(np.float16),
    "blk.1.attn_q.weight": ("Q4_K", quantized_bytes("Q4_K", 2, 256)),
    "output.weight": RNG.standard_normal((16, 32)).astype(np.float32),
}
KV = {"general.name": "split from the tui", "llama.context_length": 2048, "tokenizer.ggml.tokens": ["<s>", "a", "b"]}
SPLIT_KEYS = ("split.no", "split.count", "split.tensors.count")


@pytest.fixture
def gguf_model(work_dir) -> str:
    return str(make_gguf(Path(work_dir) / "m.gguf", TENSORS, KV))


def shards(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{i:05d}-of-{n:05d}.gguf" for i in range(1, n + 1)]


async def _to(pilot, dlg: WriteDialog, field: str) -> None:
    """Tab from the path to a split field (path, format, alignment, size, tensors)."""
    assert pilot.app.focused is dlg.query_one("#path")
    await pilot.press(*["tab"] * {"split-size": 3, "split-tensors": 4}[field])
    assert pilot.app.focused is dlg.query_one(f"#{field}"), pilot.app.focused


def _problem(dlg: WriteDialog) -> str:
    return str(dlg.query_one("#problem").render())


@sync
async def test_write_split_gguf_with_the_keys(gguf_model, work_dir):
    """Three tensors a shard: two shards, every key/value in the first, the
    split keys in each, every tensor's bytes; an existing shard name is
    asked about; progress named the shards; verify and open from the first."""
    names = shards("out", 2)
    Path(names[1]).write_bytes(b"an earlier shard")
    async with running(gguf_model) as pilot:
        dlg = await open_write_dialog(pilot, "out.gguf")
        assert dlg.query_one("#split-box").display  # GGUF: the split fields are offered
        await _to(pilot, dlg, "split-tensors")
        await pilot.press("3")
        await settle(pilot)
        summary = str(dlg.query_one("#summary").render())
        assert "6 tensors in 2 shards" in summary and f"written as {names[0]} to -00002-of-00002.gguf" in summary
        size = dlg._current().size
        assert "1 of the 2 shard files exist" in _problem(dlg)
        await pilot.press("enter")
        await settle(pilot)
        assert type(pilot.app.screen).__name__ == "ConfirmDialog"
        assert "Replace existing shard files?" in screen_text(pilot.app) and names[1] in screen_text(pilot.app)
        await pilot.press("y")
        await settle(pilot)
        ws = pilot.app.screen
        assert isinstance(ws, WriteScreen)
        await wait_until(pilot, lambda: ws.state != "writing")
        assert ws.state == "done", ws.query_one("#write-title").render()
        title = str(ws.query_one("#write-title").render())
        assert title.startswith("Written 2 shards") and all(n in title for n in names), title
        assert ws.result.shards and sum(r.bytes for r in ws.result.shards) == size  # the size the dialog said
        # The screen tells the app (a message): what verify offers next.
        await wait_until(pilot, lambda: pilot.app.last_written == names[0])
        await pilot.press("v")
        await settle(pilot)
        vs = pilot.app.screen
        assert isinstance(vs, VerifyScreen)
        await wait_until(pilot, lambda: bool(vs.rows))
        assert len(vs.rows) == len(TENSORS) and all(r.ok for r in vs.rows), [(r.name, r.detail) for r in vs.rows]
        await pilot.press("escape", "o")
        await settle(pilot)
        browse = pilot.app.screen
        assert isinstance(browse, BrowseScreen)
        assert [f.path for f in browse.session.archive.files] == names  # the first shard found the other
    assert sorted(p for p in os.listdir(work_dir) if p != "m.gguf") == names  # no temporary left
    source_kvs, source_tensors = gguf_kvs(gguf_model), gguf_tensors(gguf_model)
    merged: dict = {}
    for no, path in enumerate(names):
        got = gguf_kvs(path)
        split = {k: got[k][1] for k in SPLIT_KEYS}
        assert split == {"split.no": no, "split.count": 2, "split.tensors.count": len(TENSORS)}, path
        others = {k: v for k, v in got.items() if k not in SPLIT_KEYS}
        assert others == (source_kvs if no == 0 else {}), path  # every key/value and type, in the first
        part = gguf_tensors(path)
        assert len(part) == 3
        merged.update(part)
    assert merged == source_tensors  # every tensor's type, dims and bytes, in order


@sync
async def test_invalid_split_is_an_inline_error_and_writes_nothing(gguf_model, work_dir):
    async with running(gguf_model) as pilot:
        dlg = await open_write_dialog(pilot, "bad.gguf")
        await _to(pilot, dlg, "split-size")
        for text, reason in [
            ("4X", "split: bytes per shard '4X': expected a positive number of bytes, optionally with K, M or G"),
            ("0", "split: bytes per shard '0': expected a positive number of bytes"),
            ("1.5G", "split: bytes per shard '1.5G': expected a positive number of bytes, optionally with K, M"),
        ]:
            await pilot.press("ctrl+u", *text)
            await settle(pilot)
            assert _problem(dlg).startswith(reason)
            assert dlg.query_one("#ok").disabled
        await pilot.press("enter")  # refused
        await settle(pilot)
        assert pilot.app.screen is dlg
        await pilot.press("ctrl+u", *"1M", "tab", "2")  # both: gguf-split takes one
        await settle(pilot)
        assert "give one of them, not both" in _problem(dlg) and dlg.query_one("#ok").disabled
        await pilot.press("ctrl+u")  # the size alone
        await settle(pilot)
        assert not dlg.query_one("#ok").disabled and "1 shard" in str(dlg.query_one("#summary").render())
        await pilot.press("shift+tab", "ctrl+u", "tab", "0")
        await settle(pilot)
        assert _problem(dlg) == "split: tensors per shard '0': expected a positive number of tensors"
        await pilot.press("enter")
        await settle(pilot)
        assert pilot.app.screen is dlg
        # Another format has no split: the fields go, and so does their error.
        await pilot.press("shift+tab", "shift+tab", "shift+tab", "left", "enter")
        await settle(pilot)
        assert dlg.format == "irpa" and not dlg.query_one("#split-box").display
        assert not dlg.query_one("#ok").disabled and "split" not in _problem(dlg)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(pilot.app.screen, BrowseScreen)
    assert os.listdir(work_dir) == ["m.gguf"]


@sync
async def test_cancel_in_the_second_shard_leaves_no_shard(gguf_model, work_dir):
    """The engine's write_split (in a thread), held at the first event of
    the second shard until the cancel: the screen says the shard, the first
    shard is complete as a temporary; escape + yes leaves no file."""
    reached = threading.Event()

    def held(out, output, split, *, progress, cancel):
        def report(ev):
            progress(ev)
            if ev.shard == 1 and not reached.is_set():
                reached.set()
                assert cancel.wait(10)

        return write_split(out, output, split, progress=report, cancel=cancel)

    t = iter(range(0, 10**6, 2))  # every event shown (two seconds of fake time apart)
    async with running(gguf_model) as pilot:
        app = pilot.app
        s = app.screen
        out = build(Plan(), s.session.archive, "gguf")
        app.start_write(out, "c.gguf", None, split=Split(max_tensors=2), writer=held, clock=lambda: float(next(t)))
        ws = app.screen
        await wait_until(pilot, reached.is_set)
        await wait_until(pilot, lambda: "shard 2 of 3" in screen_text(app))
        assert "Writing shard 2 of 3: c-00002-of-00003.gguf" in screen_text(app)
        assert len([p for p in os.listdir(work_dir) if TMP_MARK in p]) == 2  # shard 1 done, shard 2 begun
        await pilot.press("escape")  # (no settle: it waits for the write, which waits for the cancel)
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmDialog")
        await pilot.press("y")
        await wait_until(pilot, lambda: ws.state != "writing")
        assert ws.state == "cancelled"
        assert "no shard of c.gguf was written (plan kept)" in str(ws.query_one("#write-title").render())
        await pilot.press("enter")
        assert app.screen is s
    assert os.listdir(work_dir) == ["m.gguf"]


@sync
@pytest.mark.parametrize("how", ["child-cleans-up", "child-killed"])
async def test_cancel_in_the_child_leaves_no_shard(
    http_server: TestServer, model: Path, tmp_path: Path, monkeypatch, how: str
):
    """The write in its child process from a slow remote input: told to
    stop, the child removes its temporaries; killed at once (no grace), the
    screen removes every shard's temporary it left."""
    if how == "child-killed":
        monkeypatch.setattr(P, "GRACE", 0.0)
    url = serve(http_server, model)
    work = tmp_path / "work"
    work.mkdir()
    async with running(url) as pilot:
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, BrowseScreen), timeout=20)
        await settle(pilot)
        app = pilot.app
        http_server.delay = 0.05  # now slow: 16 KiB per 50 ms
        out = build(Plan(), app.screen.session.archive, "gguf")
        app.start_write(out, str(work / "s.gguf"), None, split=Split(max_tensors=4))
        screen = app.screen
        await wait_until(pilot, lambda: [p for p in os.listdir(work) if TMP_MARK in p])
        temp = next(p for p in os.listdir(work) if TMP_MARK in p)
        assert temp.startswith(".s-00001-of-00003.gguf") and int(temp.split(TMP_MARK)[1].split("-")[0]) != os.getpid()
        await pilot.press("escape")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "ConfirmDialog")
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.state != "writing", timeout=P.GRACE + 3)
        assert screen.state == "cancelled"
        http_server.delay = 0.0
    assert os.listdir(work) == []


def test_snapshot_write_dialog_split(snap_compare, demo_path):
    """The GGUF write dialog with a split size typed: the fields, the shard
    count and the names in the summary."""

    async def run(pilot):
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
        await fill(pilot, "/tmp/irpa-tui-tests/work/split.gguf")
        await pilot.press("tab", "tab", "tab", *"2M")
        await settle(pilot)

    assert snap_compare(IrpaApp([demo_path]), terminal_size=SIZE, run_before=run)
