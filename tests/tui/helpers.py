"""What the TUI tests (and the screenshot script) share: letting the app
settle, waiting for a condition, and starting the app on files.

Snapshot and pilot tests press the real keys; these only take the waiting
and the preamble out of each test.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

SIZE = (140, 40)
POLL = 0.01  # seconds between two looks at a condition
# On the demo: exclude token_embd, strip every attn_v, splat the f32 tensor
# blk.0.attn_norm with f32=2 (the marked table of the tests and of README's
# screenshot).
MARK_KEYS = ("down", "space", "slash", *"attn_v", "enter", "x", "slash", "ctrl+a", "ctrl+k", "escape")
# The cursor stays on its row when the filter is cleared: go to blk.0.attn_norm.
MARK_KEYS += ("home", "down", "down", "s", *"f32=2", "enter")


async def settle(pilot, timeout: float = 60.0) -> None:
    """Wait until the app is quiet: no worker running, no detail pane
    waiting out its debounce, and the pilot's idle check passed after both
    (pending messages handled). Stops cursor blink (a blinking cursor makes
    screenshots depend on timing)."""
    from textual.widgets import Input, TextArea
    from textual.worker import WorkerCancelled

    from irpa_tui.widgets.detail import DetailPane

    app = pilot.app
    for w in app.screen.query(Input):
        w.cursor_blink = False
    for t in app.screen.query(TextArea):
        t.cursor_blink = False

    def busy() -> bool:
        if any(w.is_running for w in app.workers):
            return True
        return any(p.debouncing for screen in app.screen_stack for p in screen.query(DetailPane))

    deadline = time.monotonic() + timeout
    while True:
        await pilot.pause()
        # A worker cancelled while waited for (the detail pane's statistics
        # of a row the cursor left, replaced by the next one's) is not a
        # failure: the loop looks again at what still runs.
        with contextlib.suppress(WorkerCancelled):
            await app.workers.wait_for_complete()
        await pilot.pause()
        if not busy():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the app is still busy after {timeout} s")
        await pilot.pause(POLL)


async def wait_until(pilot, predicate: Callable[[], object], timeout: float = 60.0, step: float = POLL) -> None:
    """Pause the pilot until ``predicate()`` is true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met after {timeout} s")
        await pilot.pause(step)


@asynccontextmanager
async def running(*paths: str, size: tuple[int, int] = SIZE, **app_kw: Any) -> AsyncIterator[Any]:
    """``IrpaApp(paths)`` running headless at ``size``, settled: yields the pilot."""
    from irpa_tui.app import IrpaApp

    app = IrpaApp(list(paths), **app_kw)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        yield pilot


async def fill(pilot, text: str) -> None:
    """Put ``text`` in the focused input as ctrl+u and typing it would leave
    it (the value, the cursor at its end, a Changed event): for values that
    only set up what a test checks, where pressing each key costs time and
    tests nothing more."""
    from textual.widgets import Input

    field = pilot.app.focused
    assert isinstance(field, Input), field
    field.value = text
    field.cursor_position = len(text)
    await pilot.pause()


def sync(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async pilot test with asyncio.run (no pytest-asyncio needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def screen_text(app: Any) -> str:
    """What the screen shows, as plain text (one line per row): for tests
    that check what a person reads, markup and escapes included."""
    return "\n".join("".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips())


async def open_write_dialog(pilot, path: str) -> Any:
    """``w``, the output path typed; the write dialog, settled (its check done)."""
    from irpa_tui.screens.dialogs import WriteDialog

    await pilot.press("w")
    await settle(pilot)
    dlg = pilot.app.screen
    assert isinstance(dlg, WriteDialog)
    await fill(pilot, path)
    await settle(pilot)
    return dlg


async def write_via_keys(pilot, path: str) -> Any:
    """``w``, the output path typed (the format follows its extension),
    enter, ``y`` if the file exists; waits for the write to end, checks it
    is done and returns the write screen."""
    from irpa_tui.screens.dialogs import WriteDialog
    from irpa_tui.screens.progress import WriteScreen

    await pilot.press("w")
    await settle(pilot)
    assert isinstance(pilot.app.screen, WriteDialog)
    await fill(pilot, path)
    await pilot.press("enter")
    await settle(pilot)
    if type(pilot.app.screen).__name__ == "ConfirmDialog":  # the file exists: replace it
        await pilot.press("y")
        await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, WriteScreen), screen_text(pilot.app)
    await wait_until(pilot, lambda: screen.state != "writing")
    assert screen.state == "done", screen.state
    return screen
