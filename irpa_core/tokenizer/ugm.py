"""Unigram vocabularies (``tokenizer.ggml.model = t5``): not yet covered."""

from __future__ import annotations

from ..errors import TokenizerError
from .vocab import Vocab


def setup(v: Vocab) -> None:
    raise TokenizerError(v.path, "unsupported tokenizer type 't5' (Unigram) in this version")


class UGM:
    kind = "ugm"

    def __init__(self, vocab: Vocab):
        self.vocab = vocab
