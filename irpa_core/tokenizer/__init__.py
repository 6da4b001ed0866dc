"""Tokenizing as llama.cpp does, from a file's own metadata.

    load_tokenizer(archive) -> Tokenizer     # GGUF tokenizer.ggml.*, or tokenizer.json beside safetensors
    Tokenizer.encode(text, add_special=True, parse_special=True) -> list[int]
    Tokenizer.piece(id), token_id(piece), token_type(id), score(id), decode(ids)

GGUF vocabularies covered: ``llama`` (SentencePiece merges by score),
``gpt2`` (byte-level BPE, with the pre-tokenizer ``tokenizer.ggml.pre``
names, all llama.cpp knows; and ``gemma4``, ``whitespace``), ``bert`` (WordPiece), ``t5`` (Unigram), ``rwkv``. Others
(``plamo2``, ``hybriddna``) are refused by name. Imported only by the
commands that tokenize.
"""

from __future__ import annotations

from ..errors import TokenizerError
from .attrs import TYPE_NAMES
from .core import Tokenizer
from .load import load_tokenizer

__all__ = ["TYPE_NAMES", "Tokenizer", "TokenizerError", "load_tokenizer"]
