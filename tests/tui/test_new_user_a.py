"""What a new user tripped on (issue 26, part a), in the TUI: the exit
status after the error screen, opening a Hugging Face model directory."""

from pathlib import Path

from irpa_tui.app import FAILED, IrpaApp
from irpa_tui.screens.browse import BrowseScreen
from irpa_tui.screens.info import ErrorScreen
from tests.tui.helpers import SIZE, sync, wait_until


def _bad_inputs(tmp: Path) -> list[Path]:
    text = tmp / "notes.gguf"
    text.write_text("not a model\n")
    empty = tmp / "empty.safetensors"
    empty.write_bytes(b"")
    folder = tmp / "folder"
    folder.mkdir()
    return [tmp / "missing" / "model.gguf", folder, text, empty]


async def _quit(path: str, shows: type) -> int | None:
    """Open ``path``, wait for the screen ``shows``, press q: the return code."""
    app = IrpaApp([path])
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, shows))
        await pilot.press("q")
        await wait_until(pilot, lambda: app.return_code is not None)
    return app.return_code


@sync
async def test_quitting_the_error_screen_exits_1(tmp_path, demo_path):
    """Every input that cannot be opened: the error screen, then q exits 1
    (as the CLI does); a file that opened still quits with 0."""
    for bad in _bad_inputs(tmp_path):
        assert await _quit(str(bad), ErrorScreen) == FAILED, bad
    assert await _quit(demo_path, BrowseScreen) == 0


@sync
async def test_a_model_directory_opens(tmp_path):
    """A small Hugging Face model's directory (one model.safetensors beside
    its config) opens in the browser, titled with the directory's name."""
    import numpy as np

    from tests.fixtures import make_safetensors

    d = tmp_path / "tiny-model"
    d.mkdir()
    make_safetensors(d / "model.safetensors", {"w": np.ones((2, 3), np.float32)})
    (d / "config.json").write_text("{}")
    app = IrpaApp([str(d)])
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, (BrowseScreen, ErrorScreen)))
        assert isinstance(app.screen, BrowseScreen)
        assert app.session is not None and [e.name for e in app.session.archive.entries] == ["w"]
        assert app.screen.title_text == "tiny-model"
