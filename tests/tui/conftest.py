"""Deterministic fixtures for the TUI tests: the seeded demo archive at a
fixed path (so paths shown on screen do not change between runs)."""

import os
import shutil

import pytest

from irpa_core.demo import make_demo

FIXED = "/tmp/irpa-tui-tests"


@pytest.fixture(scope="session")
def demo_path():
    d = os.path.join(FIXED, "demo")
    shutil.rmtree(d, ignore_errors=True)
    return str(make_demo(d))


@pytest.fixture
def fixed_dir():
    """A fixed directory, for the few snapshots that show a path on screen."""
    d = os.path.join(FIXED, "work")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def work_dir(tmp_path):
    return str(tmp_path)


async def settle(pilot, delay: float = 0.3):
    """Let debounce timers fire and every worker finish; stop cursor blink
    (a blinking cursor makes screenshots depend on timing)."""
    from textual.widgets import Input
    for w in pilot.app.screen.query(Input):
        w.cursor_blink = False
    await pilot.pause(delay)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def sync(fn):
    """Run an async pilot test with asyncio.run (no pytest-asyncio needed)."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))
    return wrapper
