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


@sync
async def test_quitting_the_error_screen_exits_1(tmp_path, demo_path):
    """Every input that cannot be opened: the error screen, then q exits 1
    (as the CLI does); a file that opened still quits with 0."""
    for bad in _bad_inputs(tmp_path):
        app = IrpaApp([str(bad)])
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ErrorScreen))
            await pilot.press("q")
            await wait_until(pilot, lambda: app.return_code is not None)
        assert app.return_code == FAILED, bad
    app = IrpaApp([demo_path])
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, BrowseScreen))
        await pilot.press("q")
        await wait_until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0
