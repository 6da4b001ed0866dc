"""Searching a vocabulary (``vocab_search``) and a chat template's preview
(``template_preview``), on the small chat GGUF of ``tests.fixtures``."""

from __future__ import annotations

import pytest

from irpa_core import open_archive
from irpa_core.chat_template import find, from_text
from irpa_core.template_preview import preview
from irpa_core.tokenizer import load_tokenizer
from irpa_core.vocab_search import index_vocabulary
from tests.fixtures import BROKEN_CHAT_TEMPLATE, make_chat_gguf


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    archive = open_archive(str(make_chat_gguf(tmp_path_factory.mktemp("chat") / "chat.gguf")))
    return archive, load_tokenizer(archive)


def test_search_text_regex_ids_and_types(chat):
    _, tok = chat
    index = index_vocabulary(tok)
    pieces = [tok.piece(i) for i in range(tok.n_vocab)]

    def ids(pred):
        return [i for i, p in enumerate(pieces) if pred(p)]

    assert index.search("capital").ids == ids(lambda p: "capital" in p.lower())
    assert index.search("Wh").ids == ids(lambda p: "Wh" in p)  # a capital: exact case
    assert index.search(" c").ids == ids(lambda p: "▁c" in p.lower())  # spaces as SentencePiece writes them
    assert index.search("/^▁[A-Z]/").ids == ids(lambda p: p.startswith("▁") and p[1:2].isupper())
    assert index.search("type:control").ids == [0, 1, 2, 4, 5]
    assert index.search("type:byte 0a").ids == ids(lambda p: p.startswith("<0x") and "0a" in p.lower())
    assert index.search("#300").jump == 300 and index.search(" 1,2 ").jump == 12
    assert index.search("").ids is None
    assert "ids are 0 to 374" in (index.search("375").error or "")
    assert "not a regular expression" in (index.search("/(/").error or "")
    assert "types are" in (index.search("type:nope").error or "")
    assert index.search("zzz").ids == []


def test_preview_renders_tokenizes_and_audits(chat):
    archive, tok = chat
    p = preview(find(archive), tok)
    assert p.prompt is not None and p.prompt.startswith("<bos><start_of_turn>user\nHello!<end_of_turn>\n")
    assert p.ids == tok.encode(p.prompt, add_special=False, parse_special=True)
    assert [f.check for f in p.findings] == ["bos"]  # the doubled BOS

    broken = preview(from_text(BROKEN_CHAT_TEMPLATE, "fix.jinja", archive), None, why_no_tokenizer="none here")
    assert broken.prompt is None and broken.error is not None and "fix.jinja: line 4, column 9" in broken.error
    assert broken.findings[0].severity == "error"

    unsafe = preview(from_text("{{ messages.__class__ }}", "x", archive), tok)
    assert unsafe.prompt is None and "unsafe, not rendered" in (unsafe.error or "")

    plain = preview(from_text("{{ messages[0]['content'] }}", "x", archive), None, why_no_tokenizer="no tokenizer")
    assert plain.prompt == "Hello!" and plain.ids is None and plain.note == "no tokenizer"
