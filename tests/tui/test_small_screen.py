"""The app at 80x24: every screen's footer keys readable, every dialog's
title and buttons on screen, `?` and the palette on every screen; the
verify bar, the finished write and the write dialog's memory (issue 26)."""

import pytest

from irpa_core.output import parse_split_size
from irpa_core.write import WriteResult
from irpa_tui.app import IrpaApp
from irpa_tui.screens.dialogs import MetadataDialog, QuitDialog, WriteDialog
from irpa_tui.screens.dialogs.quit import quit_question
from irpa_tui.screens.dialogs.write import split_fields
from irpa_tui.screens.progress import WriteScreen, done_text
from irpa_tui.screens.verify import DETAIL, VerifyRow, VerifyScreen, column_widths, status_bar
from tests.tui.helpers import fill, running, screen_text, settle, sync, wait_until

SMALL = (80, 24)


def footer_problem(app) -> str | None:
    """Why the footer of the screen on top is not wholly readable: a key
    (shown) that runs under the palette's key or off the screen."""
    from textual.widgets import Footer

    footer = app.screen.query_one(Footer)
    keys = list(footer.query("FooterKey"))
    palette = [k for k in keys if k.has_class("-command-palette")]
    end = palette[0].region.x if palette else footer.region.right
    shown = [k for k in keys if k not in palette and k.display]
    if not shown:
        return "no key in the footer"
    for k in shown:
        if k.region.width == 0 or k.region.right > end:
            return f"{k.description!r} is cut ({k.region} beyond column {end})"
    return None


def on_screen(app, *widgets) -> bool:
    """Every widget is drawn whole inside the terminal."""
    screen = app.screen.region
    return all(w.region.area and screen.contains_region(w.region) for w in widgets)


def dialog_problem(app) -> str | None:
    dlg = app.screen
    title, ok, cancel = dlg.query_one(".title"), dlg.query_one("#ok"), dlg.query_one("#cancel")
    if not on_screen(app, title, ok, cancel):
        return f"{type(dlg).__name__}: title {title.region}, buttons {ok.region} {cancel.region}"
    return None


async def _help_and_palette(pilot, word: str) -> None:
    """``?`` lists the screen's keys; the palette offers them."""
    app, screen = pilot.app, pilot.app.screen
    titles = [c.title for c in app.get_system_commands(screen)]
    assert any(word in t for t in titles), titles
    await pilot.press("question_mark")
    await settle(pilot)
    assert type(app.screen).__name__ == "HelpScreen", type(app.screen)
    assert word.lower() in screen_text(app).lower()
    await pilot.press("escape")
    await settle(pilot)
    assert app.screen is screen


@sync
async def test_every_screen_at_80x24(demo_path, work_dir):
    """One run through every screen and dialog at 80x24, as a newcomer goes."""
    async with running(demo_path, size=SMALL) as pilot:
        app = pilot.app
        assert footer_problem(app) is None
        for keys in (["s"], ["c"], ["v"], ["D"], ["slash", "b", "enter", "r"]):  # (r: substitute in the rows in view)
            await pilot.press(*keys)
            await settle(pilot)
            assert dialog_problem(app) is None, keys
            await pilot.press("escape")
            await settle(pilot)
        await pilot.press("slash", "ctrl+a", "ctrl+k", "escape")

        # the metadata screen: its footer, ? and palette, and the editor dialog
        await pilot.press("m")
        await settle(pilot)
        assert footer_problem(app) is None
        assert all(f"{k} {what}" in screen_text(app) for k, what in (("d", "Delete"), ("u", "Undo"), ("?", "Help")))
        await _help_and_palette(pilot, "Redo")
        await pilot.press("end", "e")  # the demo's one key, "note": a string, the multi-line editor
        await settle(pilot)
        assert isinstance(app.screen, MetadataDialog)
        assert dialog_problem(app) is None
        await pilot.press("escape", "escape")
        await settle(pilot)

        # the summary and the heatmap
        await pilot.press("i")
        await settle(pilot)
        assert footer_problem(app) is None
        await _help_and_palette(pilot, "Back")
        await pilot.press("escape", "home", "down", "h")  # token_embd.weight
        await settle(pilot)
        heat = app.screen
        await wait_until(pilot, lambda: heat.view.heatmap is not None)
        assert footer_problem(app) is None
        (status,) = [line for line in screen_text(app).splitlines() if line.startswith(" cell rows")]
        assert status.rstrip().endswith(("cells", "the cell")), status  # whole: the keys are in the footer
        await _help_and_palette(pilot, "Zoom in")
        await pilot.press("escape")
        await settle(pilot)

        # the write dialog (a GGUF, split: its tallest form), the write, verify
        await pilot.press("home", "space", "w")  # an edit (excluding what a GGUF holds as its metadata anyway)
        await settle(pilot)
        await fill(pilot, "r.gguf")
        await settle(pilot)
        dlg = app.screen
        assert isinstance(dlg, WriteDialog)
        dlg.query_one("#split-tensors").value = "20"
        await settle(pilot)
        assert dialog_problem(app) is None
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, WriteScreen)
        await wait_until(pilot, lambda: screen.state != "writing")
        await settle(pilot)
        assert screen.state == "done"
        assert footer_problem(app) is None
        text = screen_text(app)
        assert all(k in text for k in ("v Verify", "o Open result", "enter Back")), text
        await _help_and_palette(pilot, "Verify")
        await pilot.press("v")
        await settle(pilot)
        vs = app.screen
        assert isinstance(vs, VerifyScreen)
        await wait_until(pilot, lambda: bool(vs.rows))
        await settle(pilot)
        assert footer_problem(app) is None
        assert "OK   [1] same: 40   [0] all: 40" in screen_text(app)
        await _help_and_palette(pilot, "Status")
        await pilot.press("escape", "enter")
        await settle(pilot)

        # the next w proposes the last write: path, format and split
        await pilot.press("w")
        await settle(pilot)
        dlg = app.screen
        assert isinstance(dlg, WriteDialog)
        assert dlg.query_one("#path").value == "r.gguf"
        assert dlg.format == "gguf" and dlg.query_one("#fmt-gguf").value
        assert dlg.query_one("#split-tensors").value == "20"
        await pilot.press("escape")
        await settle(pilot)

        # quit: the plan is what is unsaved, the output stays
        await pilot.press("q")
        await settle(pilot)
        assert isinstance(app.screen, QuitDialog)
        assert dialog_problem(app) is None
        text = screen_text(app)
        assert "r-00001-of-00002.gguf was written with these edits" in text and "plan" in text, text


@sync
async def test_tokenizer_screen_at_80x24(tmp_path):
    """The tokenizer screen: its footer, ? and the palette, the template's
    prompt and audit reached with c, the box and the search usable."""
    from irpa_tui.screens.tokenizer import TokenizerScreen
    from tests.fixtures import make_chat_gguf

    async with running(str(make_chat_gguf(tmp_path / "chat.gguf")), size=SMALL) as pilot:
        app = pilot.app
        await pilot.press("k")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TokenizerScreen)
        assert footer_problem(app) is None
        text = screen_text(app)
        assert all(k in text for k in ("/ Search", "t Tokenize", "e Edit template", "? Help")), text
        await _help_and_palette(pilot, "Edit template")
        await pilot.press("c")
        await settle(pilot)
        assert "audit: 1 warning" in screen_text(app)
        await pilot.press("t", *"Hello!")
        await settle(pilot)
        assert "3 tokens: 2 " in screen_text(app)
        await pilot.press("escape", "slash", *"#370", "enter")
        await settle(pilot)
        assert "370 " in screen_text(app) and footer_problem(app) is None


def test_split_fields_ask_for_the_same_split():
    from irpa_core.output import Split

    assert split_fields(None) == ("", "")
    assert split_fields(Split(max_tensors=20)) == ("", "20")
    for size, text in ((4 * 10**9, "4G"), (1500 * 10**6, "1500M"), (2000, "2K"), (1234, "1234")):
        assert split_fields(Split(max_size=size)) == (text, "")
        assert parse_split_size(text) == size


def test_quit_question_escapes_the_path():
    _, body = quit_question(1, "out/\x1b[2Jx\u202e.gguf", True)
    assert "\x1b" not in body.plain and "\u202e" not in body.plain
    assert "\\e[2J" in body.plain and "1 edit)" in body.plain


def test_quit_question_says_what_is_unsaved():
    q, body = quit_question(3, "out/r.gguf", True)
    assert "plan is not saved" in q and "out/r.gguf was written with these edits" in body.plain
    q, body = quit_question(3, "out/r.gguf", False)
    assert "not written" in q and "before the last edits" in body.plain
    q, body = quit_question(1, None, False)
    assert "not written or saved" in q and "1 edit)" in body.plain and "w writes" in body.plain


def test_verify_bar_keeps_keys_apart_from_counts():
    bar = status_bar(["same"], {"same": 14}).plain
    assert bar == "OK   [1] same: 14   [0] all: 14"
    bar = status_bar(["bytes differ", "same"], {"bytes differ": 2, "same": 14}).plain
    assert bar.startswith("DIFFERENT   [1] bytes differ: 2   [2] same: 14")


def test_verify_detail_keeps_room_beside_long_names():
    name = "encoder.layer.0.attention.output.LayerNorm.bias"
    rows = [VerifyRow(name, "values differ", "dtype f32 -> f16, length 1536 -> 768", None, None)]
    status, name_w = column_widths(rows, 72)  # the table's share of 120 columns
    assert status == len("values differ") + 2
    assert 72 - status - name_w - 2 >= DETAIL
    assert column_widths(rows, 200)[1] == len(name)  # room: the whole name


def test_finished_write_names_file_size_and_tensor_data():
    r = WriteResult("out.irpa", 14, 188_743_680, 182_243_328, 0.36)
    assert done_text(r, 0.36).plain == "Done: 14 entries in 0.36 s;  file 180.0 MiB, of which tensor data 173.8 MiB"


@pytest.mark.parametrize(
    "keys", [["m"], ["w", "ctrl+u", *"/tmp/irpa-tui-tests/work/small-dialog.gguf"]], ids=["metadata", "write"]
)
def test_snapshot_small(snap_compare, demo_path, fixed_dir, keys):
    async def run(pilot):
        await settle(pilot)
        await pilot.press(*keys[:1])
        await settle(pilot)
        await pilot.press(*keys[1:])
        await settle(pilot)

    assert snap_compare(IrpaApp([demo_path]), terminal_size=SMALL, run_before=run)


def test_snapshot_small_write_done(snap_compare, demo_path, fixed_dir):
    async def run(pilot):
        from tests.tui.helpers import write_via_keys

        await settle(pilot)
        screen = await write_via_keys(pilot, "/tmp/irpa-tui-tests/work/small.irpa")
        screen.started, screen.clock = 0.0, lambda: 0.5  # the timings of the picture
        r = screen.result
        screen._finish("done", WriteResult(screen.output, r.entries, r.bytes, r.data_bytes, 0.5))
        await settle(pilot)

    assert snap_compare(IrpaApp([demo_path]), terminal_size=SMALL, run_before=run)
