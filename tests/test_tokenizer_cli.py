"""``irpa tokenize`` and ``irpa tokens`` on a small SentencePiece vocabulary."""

from __future__ import annotations

import io
import json
import sys

import pytest

from irpa_core.cli import main
from tests.test_tokenizer import B, spm_vocab


@pytest.fixture(scope="module")
def vocab(tmp_path_factory) -> str:
    return spm_vocab(tmp_path_factory.mktemp("cli"))


def run_json(capsys, *argv) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_tokenize_json(vocab, capsys):
    doc = run_json(capsys, "tokenize", vocab, "hello", "world", "--json")
    assert doc["pieces"] == ["<s>", "▁hello", "▁world"]
    assert doc["ids"][0] == 1 and len(doc["ids"]) == 3
    doc = run_json(capsys, "tokenize", vocab, "<start_of_turn>hello", "--json", "--no-bos", "--no-special")
    assert 1 not in doc["ids"] and 3 not in doc["ids"]


def test_tokenize_reads_standard_input_exactly(vocab, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"hello\n")))
    doc = run_json(capsys, "tokenize", vocab, "-", "--json")
    assert doc["pieces"][-1] == "<0x0A>"  # the newline is kept
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a\xffb")))
    assert main(["tokenize", vocab, "-"]) == 1
    assert "standard input is not valid UTF-8 (byte 1: 0xff)" in capsys.readouterr().err


def test_tokenize_human_output_escapes_pieces(vocab, capsys):
    assert main(["tokenize", vocab, "hé\n"]) == 0
    out = capsys.readouterr().out
    assert "'▁hello'" not in out and f"{B(0x0A)}  '<0x0A>'" in out and out.endswith("6 tokens\n")


def test_tokens_filters(vocab, capsys):
    doc = run_json(capsys, "tokens", vocab, "--find", " wor", "--json")
    assert [t["piece"] for t in doc["tokens"]] == ["▁wor", "▁world"]
    assert doc["kind"] == "spm" and doc["tokens"][0]["type"] == "normal" and doc["tokens"][0]["score"] == -11.0
    doc = run_json(capsys, "tokens", vocab, "--type", "control", "--json")
    assert [t["piece"] for t in doc["tokens"]] == ["<s>", "</s>", "<start_of_turn>"]
    doc = run_json(capsys, "tokens", vocab, "--id", "3-4", "--json")
    assert [(t["id"], t["type"]) for t in doc["tokens"]] == [(3, "control"), (4, "user-defined")]
    assert main(["tokens", vocab, "--id", str(B(0x0A))]) == 0
    out = capsys.readouterr().out
    assert "byte" in out and "'<0x0A>'" in out and "BOS 1 '<s>'" in out


def test_tokens_bad_flags_are_one_line_errors(vocab, capsys):
    assert main(["tokens", vocab, "--id", "5-1"]) == 1
    assert main(["tokens", vocab, "--type", "weird"]) == 1
    err = capsys.readouterr().err
    assert err.count("irpa: error:") == 2 and "--type=weird: expected one of" in err
