"""Deterministic fixtures for the TUI tests: the seeded demo archive at a
fixed path (so paths shown on screen do not change between runs)."""

import os
import shutil
import tempfile

import pytest

from irpa_core.demo import make_demo

FIXED = "/tmp/irpa-tui-tests"


@pytest.fixture(scope="session")
def demo_path():
    """The demo is deterministic: reuse it when a complete one is there, else
    build it in a private directory and move the file into place with one
    atomic rename, so that test runs side by side (xdist workers, another
    checkout's suite) never see it missing or half written."""
    d = os.path.join(FIXED, "demo")
    path = os.path.join(d, "demo.irpa")
    try:
        import irpa_core.demo
        from irpa_core import open_archive

        newer = os.path.getmtime(path) >= os.path.getmtime(irpa_core.demo.__file__)
        if newer and len(open_archive(path)) == 41:
            return path
    except Exception:
        pass
    os.makedirs(d, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=FIXED)
    try:
        os.replace(make_demo(tmp), path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


@pytest.fixture
def fixed_dir():
    """A fixed directory, for the few snapshots that show a path on screen."""
    d = os.path.join(FIXED, "work")
    os.makedirs(d, exist_ok=True)
    return d


@pytest.fixture
def work_dir(tmp_path, monkeypatch):
    """The test's own directory, made the working directory and named
    relatively: the paths the tests type into dialogs stay short (each key a
    pilot presses costs about 80 ms, and a tmp_path is 80 characters)."""
    monkeypatch.chdir(tmp_path)
    return "."


@pytest.fixture(autouse=True)
def fresh_stats_cache():
    """Each app starts with an empty statistics cache, as a new process does
    (else a snapshot would say "cached" depending on the order of tests)."""
    from irpa_tui.stats_cache import CACHE

    CACHE.clear()
    yield


@pytest.fixture(autouse=True)
def quick_idle_checks(monkeypatch):
    """A pilot waits, after each key it presses, until the process looks
    idle, sampling CPU time every 20 ms (Textual's ``_wait``): about 80 ms a
    key here, most of a TUI test's time. Sampling every 5 ms keeps the same
    rule (CPU time well below wall time) and waits a quarter as long."""
    from textual import _wait

    # (a private module: if a Textual release renames these, the tests only get slower)
    monkeypatch.setattr(_wait, "SLEEP_GRANULARITY", 1 / 500, raising=False)
    monkeypatch.setattr(_wait, "SLEEP_IDLE", 1 / 500 / 20, raising=False)


@pytest.fixture(autouse=True)
def no_animations(monkeypatch):
    """Apps start with ``TEXTUAL_ANIMATIONS=none``: a pilot waits for every
    animation (a scroll, a fade) after each key, and the tests look only at
    where they end. A fifth of the TUI tests' time."""
    from textual import constants

    monkeypatch.setattr(constants, "TEXTUAL_ANIMATIONS", "none")


@pytest.fixture(autouse=True)
def short_debounce(monkeypatch):
    """The detail pane waits 0.12 s for the cursor to rest before its
    statistics pass; tests wait for the pass itself (``settle``), so a
    shorter rest only takes the waiting out."""
    from irpa_tui.widgets import detail

    monkeypatch.setattr(detail, "DEBOUNCE", 0.02)


@pytest.fixture
def snap_compare(snap_compare):
    """The plugin's ``snap_compare`` without toasts: a toast lives a few
    seconds, so whether it is still on screen when the picture is taken
    depends on how fast the keys before it were handled (and a toast over a
    screen under a dialog is not even cleared with the others). A test of
    what a toast says passes ``toasts=True``."""

    def compare(app, *, terminal_size=(80, 24), run_before=None, toasts: bool = False) -> bool:
        if not toasts:
            app.notify = lambda *args, **kwargs: None
        return snap_compare(app, terminal_size=terminal_size, run_before=run_before)

    return compare
