"""WordPiece vocabularies (``tokenizer.ggml.model = bert``) as llama.cpp's
``llm_tokenizer_wpm``: the text is lower-cased and stripped of accents
when the metadata says, cut at whitespace and around punctuation and CJK
characters, and each word, with ``▁`` before it, is covered by the
longest tokens from the left; a word that cannot be covered becomes the
unknown token.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from .spm import SPACE, need, spm_piece
from .unicode import WHITESPACE, char_class
from .vocab import Vocab

_CACHE_LIMIT = 1 << 16


def setup(v: Vocab) -> None:
    """llama.cpp's defaults for a ``bert`` vocabulary."""
    v.bos_id, v.eos_id, v.unk_id, v.sep_id, v.pad_id = 101, None, 100, 102, 0
    v.add_bos, v.add_eos, v.add_sep = True, False, True
    v.clean_spaces = True
    v.add_space_prefix = v.flag("add_space_prefix", False)


def _is_chinese(c: int) -> bool:
    return (
        0x4E00 <= c <= 0x9FFF
        or 0x3400 <= c <= 0x4DBF
        or 0x20000 <= c <= 0x2A6DF
        or 0x2A700 <= c <= 0x2B73F
        or 0x2B740 <= c <= 0x2B81F
        or 0x2B920 <= c <= 0x2CEAF  # as llama.cpp (and HF's Rust code)
        or 0xF900 <= c <= 0xFAFF
        or 0x2F800 <= c <= 0x2FA1F
    )


class WPM:
    kind = "wpm"

    def __init__(self, vocab: Vocab):
        self.vocab = vocab
        self.ids = vocab.token_to_id
        self.lowercase = vocab.flag("normalizer.lowercase", True)
        self.strip_accents = vocab.flag("normalizer.strip_accents", self.lowercase)
        self.max_len = vocab.max_token_len
        self.cached = lru_cache(maxsize=_CACHE_LIMIT)(self.word)  # ids per word, remembered
        self._char: dict[str, tuple[str, int]] = {}

    def encode(self, pieces: list[str | int], out: list[int], add_special: bool) -> None:
        v = self.vocab
        if add_special:
            out.append(need(v, v.bos_id, "CLS (BOS)"))
        for p in pieces:
            if isinstance(p, int):
                out.append(p)
            else:
                self.tokenize(p, out)
        if add_special:
            out.append(need(v, v.sep_id, "SEP"))

    def _class(self, ch: str) -> tuple[str, int]:
        """(the character as it goes into a word, how: 0 joins, 1 cuts, 2 stands alone, 3 dropped)."""
        got = self._char.get(ch)
        if got is not None:
            return got
        key, c = ch, ord(ch)
        if self.strip_accents:
            ch = unicodedata.normalize("NFD", ch)[0]  # llama.cpp keeps the first character of the NFD
            c = ord(ch)
        cls = char_class(ch)
        if ch in WHITESPACE:
            res = (ch, 1)
        elif c == 0 or c == 0xFFFD or cls == "C" or (self.strip_accents and cls == "M"):
            res = (ch, 3)
        else:
            out = ch
            if self.lowercase:
                low = ch.lower()
                out = low[0] if low else ch  # the simple mapping (İ -> i)
            alone = cls == "P" or (c < 0x7F and cls == "S") or _is_chinese(c)
            res = (out, 2 if alone else 0)
        self._char[key] = res
        return res

    def words(self, text: str) -> list[str]:
        words: list[str] = []
        cur: list[str] = []
        for ch in text:
            s, how = self._class(ch)
            if how == 0:
                cur.append(s)
            elif how == 3:
                continue
            else:
                if cur:
                    words.append("".join(cur))
                    cur = []
                if how == 2:
                    words.append(s)
        if cur:
            words.append("".join(cur))
        return words

    def tokenize(self, text: str, out: list[int]) -> None:
        cached = self.cached
        for word in self.words(text):
            out.extend(cached(word))

    def word(self, word: str) -> list[int]:
        ids, longest = self.ids, self.max_len
        w = SPACE + word
        n = len(w)
        out: list[int] = []
        i = 0
        while i < n:
            for j in range(min(n, i + longest + 1), i, -1):
                t = ids.get(w[i:j])
                if t is not None:
                    out.append(t)
                    i = j
                    break
            else:
                out = []  # a word that cannot be covered: the unknown token
                break
        if not out:
            unk = self.vocab.unk_id
            return [unk] if unk is not None else []
        return out

    def piece_bytes(self, tid: int) -> bytes:
        return spm_piece(self.vocab, tid)
