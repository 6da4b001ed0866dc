"""The ``Tokenizer`` every vocabulary gives, and the error it raises.

A GGUF vocabulary tokenizes as llama.cpp's ``llama_tokenize`` does
(``src/llama-vocab.cpp``): special tokens are cut out of the text first
(``special.partition``), each piece of text between them goes through the
vocabulary's model (``spm``, ``bpe``, ``wpm``, ``ugm``, ``rwkv``), and BOS/EOS are
added as the metadata says. ``hf.HFTokenizer`` wraps a ``tokenizer.json``
with the same interface.
"""

from __future__ import annotations

import re

from ..errors import TokenizerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .vocab import Vocab

__all__ = ["Tokenizer", "TokenizerError", "clean_spaces"]  # TokenizerError: irpa_core.errors, re-exported


class Tokenizer:
    """Text to token ids and back, for one vocabulary.

    ``kind``: ``"spm"``, ``"bpe"``, ``"wpm"``, ``"ugm"``, ``"rwkv"`` (from
    GGUF metadata) or ``"hf"`` (a ``tokenizer.json``). ``encode`` gives the ids
    llama.cpp's ``llama_tokenize(text, add_special, parse_special)`` gives.
    """

    kind: str
    n_vocab: int
    bos_id: int | None
    eos_id: int | None
    eot_id: int | None
    pad_id: int | None
    unk_id: int | None
    add_bos: bool
    add_eos: bool
    path: str

    def __init__(self, vocab: Vocab, model) -> None:
        self.vocab = vocab
        self._model = model
        self.kind = model.kind
        self.path = vocab.path
        self.n_vocab = len(vocab.tokens)
        self.bos_id, self.eos_id, self.eot_id = vocab.bos_id, vocab.eos_id, vocab.eot_id
        self.pad_id, self.unk_id = vocab.pad_id, vocab.unk_id
        self.add_bos, self.add_eos = vocab.add_bos, vocab.add_eos

    @property
    def pre(self) -> str:
        """The pre-tokenizer (BPE: ``tokenizer.ggml.pre``; else '')."""
        return getattr(self._model, "pre", "")

    def encode(self, text: str, *, add_special: bool = True, parse_special: bool = True) -> list[int]:
        """Token ids of ``text``. ``add_special``: BOS/EOS (WordPiece:
        CLS/SEP) as the metadata says; ``parse_special``: control tokens
        written in the text (``<start_of_turn>``) become their ids (user
        defined tokens always do, as in llama.cpp)."""
        from .special import partition

        out: list[int] = []
        pieces = partition(self.vocab, text, parse_special) if text else []
        self._model.encode(pieces, out, add_special)
        return out

    def piece(self, token_id: int) -> str:
        """The vocabulary string of ``token_id`` as stored (a ``surrogateescape``
        character stands for each byte that is not UTF-8)."""
        return self.vocab.tokens[self._check(token_id)]

    def token_id(self, piece: str) -> int | None:
        """The id of the vocabulary string ``piece`` (the last one, if the
        vocabulary repeats it, as llama.cpp), or None."""
        return self.vocab.token_to_id.get(piece)

    def token_type(self, token_id: int) -> int:
        """The token's type as the file stores it: 1 normal, 2 unknown,
        3 control, 4 user-defined, 5 unused, 6 byte (0: undefined)."""
        return self.vocab.type_of(self._check(token_id))

    def score(self, token_id: int) -> float | None:
        """The token's score (``tokenizer.ggml.scores``), None without scores."""
        scores = self.vocab.scores
        return None if scores is None else scores[self._check(token_id)]

    def merge_rank(self, token_id: int) -> int | None:
        """BPE: the rank of the merge that makes this token (None for
        tokens no merge makes, and for other kinds)."""
        ranks = getattr(self._model, "merge_rank_of", None)
        return None if ranks is None else ranks(self._check(token_id))

    def decode(self, ids: list[int]) -> str:
        """The text of ``ids`` as llama.cpp's ``llama_detokenize`` gives it
        with special tokens rendered (bytes that are not UTF-8 become U+FFFD)."""
        parts = [self._model.piece_bytes(self._check(i)) for i in ids]
        if self.vocab.add_space_prefix and parts and parts[0].startswith(b" "):
            parts[0] = parts[0][1:]  # the space the encoder put before the text
        data = b"".join(parts)
        if self.vocab.clean_spaces:
            data = clean_spaces(data)
        return data.decode("utf-8", "replace")

    def _check(self, token_id: int) -> int:
        if not 0 <= token_id < self.n_vocab:
            raise TokenizerError(self.path, f"token id {token_id} is outside the vocabulary (0..{self.n_vocab - 1})")
        return token_id


def clean_spaces(data: bytes) -> bytes:
    """llama.cpp's ``clean_up_tokenization_spaces``: no space before
    ``?!.,``, none around a lone apostrophe, none before ``'s 'm 're 've``."""
    data = re.sub(rb" ([?!.,])", rb"\1", data)
    data = re.sub(rb" ' ", rb"'", data)
    return re.sub(rb" '(s|m|re|ve)", rb"'\1", data)
