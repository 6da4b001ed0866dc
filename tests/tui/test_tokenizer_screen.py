"""The tokenizer screen (``k``): the vocabulary table and its search, the
box that tokenizes as you type (the ids the engine's ``encode`` gives), the
chat template's prompt and audit, re-rendered after the template is fixed
in the metadata editor, and the fix written (read back with the gguf
package's GGUFReader). Real keys throughout."""

from __future__ import annotations

import os

from irpa_core import open_archive
from irpa_core.tokenizer import load_tokenizer
from irpa_tui.app import IrpaApp
from irpa_tui.screens.metadata import MetadataScreen
from irpa_tui.screens.tokenizer import TokenizerScreen
from tests.fixtures import BROKEN_CHAT_TEMPLATE, CHAT_TEMPLATE, make_chat_gguf, make_safetensors
from tests.tui.helpers import fill, running, screen_text, settle, sync, wait_until, write_via_keys


async def open_tokenizer(pilot) -> TokenizerScreen:
    """``k``, then wait for the tokenizer, the search index and the preview."""
    await pilot.press("k")
    screen = pilot.app.screen
    assert isinstance(screen, TokenizerScreen)
    await wait_until(pilot, lambda: screen.cache.done)
    await settle(pilot)
    return screen


def table_ids(screen: TokenizerScreen) -> list[int]:
    return list(range(screen.table.count)) if screen.rows is None else screen.rows


@sync
async def test_vocabulary_search_and_tokenize_as_you_type(tmp_path):
    path = str(make_chat_gguf(tmp_path / "chat.gguf"))
    tok = load_tokenizer(open_archive(path))
    async with running(path) as pilot:
        screen = await open_tokenizer(pilot)
        assert screen.table.count == tok.n_vocab
        assert "SentencePiece, 375 tokens; BOS 2 '<bos>'; EOS 1 '<eos>'" in screen_text(pilot.app)

        # typing in the box shows the engine's ids, key by key
        await pilot.press("t", *"Hello! How can")
        await settle(pilot)
        assert screen.ids == tok.encode("Hello! How can")
        text = screen_text(pilot.app)
        assert "4 tokens: 2 " in text or f"{len(screen.ids)} tokens: " + " ".join(map(str, screen.ids)) in text
        await pilot.press(*" I help")
        await settle(pilot)
        ids = tok.encode("Hello! How can I help")
        assert screen.ids == ids
        assert f"{len(ids)} tokens: " + " ".join(map(str, ids)) in screen_text(pilot.app)

        # the search: text (any case), /regex/, #id, a number, type:, errors
        await pilot.press("escape", "slash", *"capital")
        await settle(pilot)
        want = [i for i in range(tok.n_vocab) if "capital" in tok.piece(i).lower()]
        assert want and table_ids(screen) == want
        assert f"{len(want)} of 375" in screen_text(pilot.app)
        await fill(pilot, "/^▁c/")
        await settle(pilot)
        assert table_ids(screen) == [i for i in range(tok.n_vocab) if tok.piece(i).startswith("▁c")]
        await fill(pilot, "#300")
        await settle(pilot)
        assert screen.rows is None and screen.table.cursor_row == 300
        await pilot.press("enter")  # back to the table, on the row
        await settle(pilot)
        assert f"'{tok.piece(300)}'" in screen_text(pilot.app)
        await pilot.press("slash", "ctrl+u", *"270")
        await settle(pilot)
        assert screen.table.cursor_row == 270
        await fill(pilot, "type:control")
        await settle(pilot)
        assert table_ids(screen) == [0, 1, 2, 4, 5]
        await fill(pilot, "/(/")
        await settle(pilot)
        assert "not a regular expression" in screen_text(pilot.app)
        await fill(pilot, "zzz")
        await settle(pilot)
        assert screen.table.count == 0 and "no piece holds zzz" in screen_text(pilot.app)

        # escape: out of the box, then the search cleared, then back
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert screen.rows is None and screen.table.count == tok.n_vocab
        await pilot.press("end")
        await settle(pilot)
        assert screen.table.cursor_row == tok.n_vocab - 1
        await pilot.press("escape")
        await settle(pilot)
        assert type(pilot.app.screen).__name__ == "BrowseScreen"
        # the second time the tokenizer is there at once
        await pilot.press("k")
        assert pilot.app.screen.table.count == tok.n_vocab


@sync
async def test_fix_the_chat_template_check_it_and_write_it(tmp_path):
    import gguf

    path = str(make_chat_gguf(tmp_path / "broken.gguf", BROKEN_CHAT_TEMPLATE))
    tok = load_tokenizer(open_archive(path))
    async with running(path) as pilot:
        screen = await open_tokenizer(pilot)
        text = screen_text(pilot.app)
        assert "line 4, column 9" in text and "does not parse" in text, text

        # e: the metadata editor on the template; e again: its dialog
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(pilot.app.screen, MetadataScreen)
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("pagedown", "end", *" %}", "ctrl+s")  # the last line: "{% endif"
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert pilot.app.screen is screen
        await wait_until(pilot, lambda: screen.preview is not None and screen.preview.prompt is not None)
        await settle(pilot)
        p = screen.preview
        assert p.ids == tok.encode(p.prompt, add_special=False, parse_special=True)
        assert p.prompt.startswith("<bos><start_of_turn>user\nHello!<end_of_turn>\n")
        text = screen_text(pilot.app)
        assert "edited, not yet written" in text
        assert f"{len(p.ids)} tokens: " + " ".join(map(str, p.ids[:6])) in text
        assert "warning  bos" in text and "doubled BOS" in text and "does not parse" not in text

        # written: the file holds the fixed template
        await pilot.press("escape")
        await settle(pilot)
        out = str(tmp_path / "fixed.gguf")
        await write_via_keys(pilot, out)
    field = gguf.GGUFReader(out).get_field("tokenizer.chat_template")
    assert field is not None and field.contents() == CHAT_TEMPLATE


@sync
async def test_a_file_without_template_gets_one(tmp_path):
    path = str(make_chat_gguf(tmp_path / "plain.gguf", None))
    async with running(path) as pilot:
        screen = await open_tokenizer(pilot)
        assert "has no chat template" in screen_text(pilot.app)
        await pilot.press("e")
        await settle(pilot)
        assert "no key tokenizer.chat_template: a adds it" in screen_text(pilot.app)
        await pilot.press("a")
        await settle(pilot)
        await fill(pilot, "tokenizer.chat_template")
        await pilot.press("tab", "tab", *"{{ bos_token }}Hi!", "ctrl+s")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert screen.preview is not None and screen.preview.prompt == "<bos>Hi!"
        ids = screen.preview.ids
        assert ids == load_tokenizer(open_archive(path)).encode("<bos>Hi!", add_special=False)
        assert f"{len(ids)} tokens: " + " ".join(map(str, ids)) in screen_text(pilot.app)


@sync
async def test_no_tokenizer_says_why(work_dir, demo_path):
    import numpy as np

    st = str(make_safetensors("plain.safetensors", {"w": np.ones(4, np.float32)}))
    for path, why in ((demo_path, "no tokenizer: no 'tokenizer.ggml.model' key"), (st, "no tokenizer.json")):
        async with running(path) as pilot:
            screen = await open_tokenizer(pilot)
            assert screen.cache.error is not None and why in screen.cache.error
            title = " ".join(line.strip() for line in screen_text(pilot.app).splitlines()[:2])
            assert why in title and "Tokenizer" in title, title
            if path == st:  # the box and the search do nothing, and do not fail
                await pilot.press("t", *"hi", "escape", "slash", *"x")
                await settle(pilot)
                assert screen.table.count == 0


def test_snapshot_tokenizer_screen(snap_compare, fixed_dir):
    path = str(make_chat_gguf(os.path.join(fixed_dir, "chat.gguf")))

    async def run(pilot):
        await settle(pilot)
        await open_tokenizer(pilot)
        await pilot.press("t", *"Hello! What is")
        await pilot.press("escape", "slash", *" c", "enter")  # the search kept, the table focused
        await settle(pilot)

    assert snap_compare(IrpaApp([path]), terminal_size=(120, 36), run_before=run)
