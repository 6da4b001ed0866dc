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


@sync
async def test_the_chat_template_recipe_on_a_model_without_one(tmp_path):
    """README's recipe where the model has no template: the search's
    "no match" says how to add the key, and escape, a adds it. Whole f32
    values read as whole numbers there (1000000.0, not 1e+06)."""
    import numpy as np
    from gguf import GGUFValueType

    from irpa_tui.screens.dialogs import MetadataDialog
    from irpa_tui.screens.metadata import MetadataScreen
    from tests.fixtures import make_gguf
    from tests.tui.helpers import fill, screen_text, settle

    path = make_gguf(
        tmp_path / "bare.gguf",
        {"w": np.ones(4, np.float32)},
        kv={"llama.rope.freq_base": (1e6, GGUFValueType.FLOAT32), "x.shift": (-1000.0, GGUFValueType.FLOAT32)},
    )
    app = IrpaApp([str(path)])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MetadataScreen)
        text = screen_text(app)
        assert "1000000.0" in text and "-1000.0" in text and "e+0" not in text
        await pilot.press("slash")
        await fill(pilot, "chat_template")
        await pilot.press("enter")
        # On one line at 80 columns, once the message is laid out.
        await wait_until(pilot, lambda: "no match for chat_template: esc, a adds a key" in screen_text(app), timeout=10)
        await pilot.press("escape", "a")
        await settle(pilot)
        assert isinstance(app.screen, MetadataDialog)
        await fill(pilot, "tokenizer.chat_template")
        await pilot.press("tab", "tab", *"{{ x }}", "ctrl+s")  # the type stays string
        await settle(pilot)
        assert app.screen is screen
        assert screen.session.metadata().edited.values["tokenizer.chat_template"] == "{{ x }}"
