"""File content is data: the hostile corpus (markup, terminal control, NUL,
bidi override, a 10,000-character name, a 1 MB value, bytes that are not
UTF-8) in all three formats, on every screen that shows names or metadata.
No crash, nothing interpreted, the literal text visible, escapes escaped."""

import pytest

from irpa_tui.screens.browse import BrowseScreen
from tests.fixtures import make_hostile
from tests.tui.helpers import fill, running, screen_text, settle, sync, wait_until

FORMATS = ("safetensors", "gguf", "irpa")
SIZE = (160, 45)
# Tensor names reach the table, tree, detail pane, summary, heatmap and scan
# through the same code whatever the format (each reader's handling of
# them is checked on all three by test_cli_tables_escape_and_json_stays_exact):
# those screens are walked on one format each; metadata, which each format
# keeps its own way, on all three.


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_hostile(tmp_path_factory.mktemp("hostile"))


def clean(app) -> str:
    """The screen text, checked for anything a terminal would act on."""
    text = screen_text(app)
    for bad in ("\x1b", "\x00", "\u202e", "\x07"):
        assert bad not in text, repr(bad)
    assert app.is_running and app.return_code is None  # [@click=app.quit] was not made a link
    return text


def literal(text: str, *needles: str) -> None:
    for n in needles:
        assert n in text, n


async def _visit_rows(pilot, app):
    """Every row, with the detail pane showing it."""
    table = app.screen.table
    for _ in range(table.row_count):
        await pilot.press("down")
        await pilot.pause()
        clean(app)
    await settle(pilot)
    clean(app)


@pytest.mark.parametrize("fmt", ["safetensors"])
@sync
async def test_main_screen_rows_detail_tree_filter(corpus, fmt):
    async with running(str(corpus[fmt]), size=SIZE) as pilot:
        app = pilot.app
        assert isinstance(app.screen, BrowseScreen)
        text = clean(app)
        literal(text, "blk.0.[/INST].weight", "blk.1.[b]x[/b].weight", "[@click=app.quit]x[/]", "\\e[2J")
        await pilot.press("home")
        await _visit_rows(pilot, app)
        # The detail pane of the bidi row shows it escaped.
        await pilot.press("slash", *"evil", "enter")
        await settle(pilot)
        literal(clean(app), "\\u202eevil")
        await pilot.press("escape", "slash", *"re:\\[b\\]", "enter")
        await settle(pilot)
        assert [app.screen.view.names[i] for i in app.screen.view.rows] == ["blk.1.[b]x[/b].weight"]
        literal(clean(app), "[b]x[/b]")
        await pilot.press("escape", "t", "right", "down", "right", "left")
        await settle(pilot)
        clean(app)


@pytest.mark.parametrize("fmt", ["irpa"])
@sync
async def test_long_name_is_clipped_and_values_escaped(corpus, fmt):
    async with running(str(corpus[fmt]), size=SIZE) as pilot:
        app = pilot.app
        await pilot.press("slash", *"^LLLL", "enter")
        await settle(pilot)
        text = clean(app)
        assert "10,000" in text and "characters)" in text  # the detail pane says how long it was
        assert text.count("L" * 200) <= 2  # and does not fill the screen


@pytest.mark.parametrize("fmt", FORMATS)
@sync
async def test_metadata_screen_and_search(corpus, fmt):
    async with running(str(corpus[fmt]), size=SIZE) as pilot:
        app = pilot.app
        await pilot.press("m")
        await settle(pilot)
        text = clean(app)
        assert type(app.screen).__name__ == "MetadataScreen"
        if fmt != "safetensors":
            literal(text, "[b]name[/b]\\e[2J")
        literal(text, "(1,000,000 characters)") if fmt != "irpa" else None
        await pilot.press("slash", *"[/INST]", "enter")
        await settle(pilot)
        text = clean(app)
        literal(text, "[/INST]", "match 1 of")
        for _ in range(4):
            await pilot.press("n")
        await pilot.press("g", *"3", "enter", "end", "home")
        await settle(pilot)
        clean(app)
        if fmt == "gguf":
            await pilot.press("slash", *"utf8", "enter")
            await settle(pilot)
            literal(clean(app), "bad\\xff\\xfeutf8")
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, BrowseScreen)


@pytest.mark.parametrize("fmt", ["gguf"])
@sync
async def test_summary_heatmap_scan_help_dialogs(corpus, fmt):
    async with running(str(corpus[fmt]), size=SIZE) as pilot:
        app = pilot.app
        await pilot.press("i")
        await settle(pilot)
        literal(clean(app), "Model summary", "[/INST]")
        await pilot.press("escape", "slash", *"click", "enter", "h")
        await settle(pilot)
        assert type(app.screen).__name__ == "HeatmapScreen"
        literal(clean(app), "[@click=app.quit]x[/]")
        await pilot.press("plus", "m", "minus")
        await settle(pilot)
        clean(app)
        while not isinstance(app.screen, BrowseScreen):
            await pilot.press("escape")
            await settle(pilot)
        await pilot.press("escape", "S")
        await settle(pilot)
        text = clean(app)
        literal(text, "scanned", "nan")
        await pilot.press("question_mark")
        await settle(pilot)
        assert type(app.screen).__name__ == "HelpScreen"
        literal(clean(app), "irpa-tui keys")
        await pilot.press("escape")
        for keys in (("slash", *"\\u202e", "enter", "r"), ("s",), ("a",)):
            await pilot.press("escape", *keys)
            await settle(pilot)
            clean(app)
            await pilot.press("escape")
        await pilot.press("slash", *"nul", "enter", "r")
        await settle(pilot)
        literal(clean(app), "nul\\0byte")


@sync
async def test_error_screen_escapes_the_path(tmp_path):
    bad = tmp_path / "[b]x[@click=app.quit]\x1b[2J.gguf"  # no / in a file name
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 16)
    async with running(str(bad), size=SIZE) as pilot:
        text = clean(pilot.app)
        literal(text, "[b]x[@click=app.quit]\\e[2J.gguf", "Cannot open")


def test_cli_tables_escape_and_json_stays_exact(corpus, capsys):
    import json

    from irpa_core.cli import main

    for fmt, path in corpus.items():
        for argv in (["dump"], ["stats"], ["info"], ["stats", "--anomalies"]):
            assert main([*argv, str(path)]) == 0
            out = capsys.readouterr().out
            for bad in ("\x1b", "\x00", "\u202e", "\x07"):
                assert bad not in out, (fmt, argv, repr(bad))
            assert "[b]x[/b]" in out or argv == ["stats", "--anomalies"]
        assert main(["dump", "--json", str(path)]) == 0
        names = [e["name"] for e in json.loads(capsys.readouterr().out)["entries"]]
        assert "blk.5.\x1b[2J.weight" in names and "blk.7.nul\x00byte.weight" in names
        if fmt == "irpa":
            assert "bad\udcff\udcfeutf8___" in names  # bytes kept exactly (as \udcXX escapes in JSON)


@sync
async def test_write_progress_and_verify_screens(corpus, tmp_path):
    out = str(tmp_path / "hostile-out.irpa")
    async with running(str(corpus["safetensors"]), size=SIZE) as pilot:
        app = pilot.app
        await pilot.press("w")
        await settle(pilot)
        await fill(pilot, out)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        await wait_until(pilot, lambda: getattr(screen, "state", "") != "writing")
        assert screen.state == "done"
        # The log of written entries, escaped as every other screen escapes names.
        literal(clean(app), "[@click=app.quit]x[/]", "[2J")
        assert "\\e[2J" in screen_text(app) and "\\x1b" not in screen_text(app)
        await pilot.press("v")
        await settle(pilot)
        await wait_until(pilot, lambda: "OK" in screen_text(app) or "DIFFERENT" in screen_text(app))
        text = clean(app)
        literal(text, "[b]x[/b]")
        assert "\\e[2J" in screen_text(app) and "\\x1b" not in screen_text(app)


@pytest.mark.parametrize("fmt", FORMATS)
@sync
async def test_metadata_editing_shows_keys_and_values_as_data(corpus, fmt):
    """Edit, delete and add keys whose names and values are hostile: the
    editor and the marks show them literally, the 1 MB value opens in the
    editor."""
    async with running(str(corpus[fmt]), size=SIZE) as pilot:
        app = pilot.app
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        await pilot.press("slash", *"[/INST]", "enter")
        await settle(pilot)
        node = screen.model.row(screen.rows.cursor).node
        assert screen.model.editable(node), node.label
        await pilot.press("e")
        await settle(pilot)
        assert type(app.screen).__name__ == "MetadataDialog"
        literal(clean(app), "[/INST]")
        await pilot.press("escape", "d")
        await settle(pilot)
        assert node.status == "deleted"
        literal(clean(app), "[/INST]", "deleted")
        if fmt == "safetensors":  # the 1 MB value in the editor: the same editor for every format
            await pilot.press("slash", "ctrl+u", *"big", "enter")
            await settle(pilot)
            await pilot.press("e")
            await settle(pilot)
            editor = app.screen.query_one("#text")
            assert len(editor.text) == 1_000_000
            assert not editor.soft_wrap  # a 1 MB line scrolls sideways (wrapping it cost seconds a frame)
            await pilot.press("escape")
        await pilot.press("a")
        await settle(pilot)
        await pilot.press(*"[red]k[/red]", "tab")
        if fmt != "safetensors":
            await pilot.press("tab")  # past the type list
        await pilot.press(*"[b]v", "ctrl+s")
        await settle(pilot)
        literal(clean(app), "[red]k[/red]", '"[b]v"', "added")
