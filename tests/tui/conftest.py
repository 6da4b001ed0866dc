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
    idle: Textual's ``_wait`` samples CPU time every 20 ms and calls 20 ms
    with under 1 ms of CPU idle, about 80 ms a key. Here it samples every
    2 ms and calls a sample with under 0.5 ms of CPU idle: the same rule (CPU
    well below wall time: a quarter at most, while drawing or handling a key
    is all of it). The waiting loop itself costs about 0.14 ms of CPU a
    sample (median, measured on an idle app), so a threshold of a twentieth
    (0.1 ms) passed only one idle sample in eight and a key waited for 10 to
    200 idle samples (up to the 1 s limit) instead of one or two."""
    from textual import _wait

    # (a private module: if a Textual release renames these, the tests only get slower)
    monkeypatch.setattr(_wait, "SLEEP_GRANULARITY", 1 / 500, raising=False)
    monkeypatch.setattr(_wait, "SLEEP_IDLE", 1 / 500 / 4, raising=False)


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


@pytest.fixture(autouse=True)
def typing_without_idle_waits(monkeypatch):
    """A pilot's ``press`` waits for the app to look idle after every key (two
    CPU-sampling waits and the animator, Textual's ``App._press_keys``): about
    40 ms a key here, most of it drawing the screen again. Characters typed
    into an input (a single printable key while an ``Input`` or ``TextArea``
    has the focus) are sent one after the other as a quick typist's would be,
    and the app is waited for once after them, before the next other key (a
    binding, enter, escape...) and at the end: every key is still delivered,
    in order, to the same widget, and every other key is pressed as before."""
    import unicodedata

    from textual import events
    from textual.app import App
    from textual.widgets import Input, TextArea

    try:  # Textual's private helpers: if a release renames them, keys are pressed as Textual does
        from textual._wait import wait_for_idle
        from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key
    except ImportError:
        return
    original = getattr(App, "_press_keys", None)
    if original is None:
        return

    async def press_keys(self, keys):
        async def idle() -> None:
            await wait_for_idle(0)
            await self._animator.wait_until_complete()
            await wait_for_idle(0)

        driver = self._driver
        assert driver is not None
        typed = False  # characters sent and not yet waited for
        for key in keys:
            text = len(key) == 1 and key.isprintable() and isinstance(self.focused, (Input, TextArea))
            if not text or key.startswith("wait:"):
                if typed:
                    await idle()
                    typed = False
                await original(self, [key])
                continue
            name = key if key.isalnum() else _character_to_key(key)
            original_key = REPLACED_KEYS.get(name, name)
            try:
                char: str | None = unicodedata.lookup(_get_unicode_name_from_key(original_key))
            except KeyError:
                char = name if len(name) == 1 else None
            event = events.Key(name, char)
            event.set_sender(self)
            driver.send_message(event)
            typed = True
        if typed:
            await idle()

    monkeypatch.setattr(App, "_press_keys", press_keys)
