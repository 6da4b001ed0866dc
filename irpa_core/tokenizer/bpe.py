"""Byte-level BPE vocabularies (``tokenizer.ggml.model = gpt2``, and
``gemma4``) as llama.cpp's ``llm_tokenizer_bpe``: the text is split into
words by the pre-tokenizer that ``tokenizer.ggml.pre`` names
(``pretok``), each word's UTF-8 bytes become the GPT-2 byte characters,
and the pair of neighbouring symbols with the lowest merge rank is merged
until none is left. Each word's ids are remembered: text repeats words.
"""

from __future__ import annotations

import re
from functools import lru_cache
from heapq import heappop, heappush

from ..errors import TokenizerError
from .attrs import A_BYTE, A_CONTROL, A_NORMAL, A_UNKNOWN, A_USER_DEFINED
from .pretok import PATTERNS, PRE, Splitter
from .spm import SPACE, need
from .unicode import WHITESPACE
from .vocab import Vocab

_CACHE_LIMIT = 1 << 17
_WS_RUN = "[" + "".join(sorted(WHITESPACE)).replace("\\", "") + "]+"


def _lower(text: str) -> str:
    # llama.cpp's unicode_tolower: one character to one (İ -> i)
    return "".join(c.lower()[:1] or c for c in text) if not text.isascii() else text.lower()


def _byte_chars() -> list[str]:
    """GPT-2's printable character for each byte (``bytes_to_unicode``)."""
    keep = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in keep}
    n = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return [table[b] for b in range(256)]


BYTE_CHARS = _byte_chars()
# latin-1 character (one per byte) -> GPT-2 character, for str.translate
_TO_GPT2 = dict(enumerate(BYTE_CHARS))
_FROM_GPT2 = {c: b for b, c in enumerate(BYTE_CHARS)}


def setup(v: Vocab) -> str:
    """llama.cpp's defaults for a BPE vocabulary; returns the pre-tokenizer name."""
    pre = "gemma4" if v.model == "gemma4" else v.pre or "default"
    if v.model == "whitespace" and not v.pre:
        pre = "whitespace"
    spec = PRE.get(pre)
    if spec is None:
        raise TokenizerError(v.path, f"unknown BPE pre-tokenizer '{pre}' ({KEY_PRE})")
    v.bos_id = None if spec.no_bos else 11
    v.eos_id = 11
    v.add_bos = spec.add_bos
    v.escape_whitespaces = spec.escape_whitespaces
    v.clean_spaces = spec.clean_spaces
    v.add_space_prefix = v.flag("add_space_prefix", False)
    return pre


KEY_PRE = "tokenizer.ggml.pre"


class BPE:
    kind = "bpe"

    def __init__(self, vocab: Vocab, pre: str):
        self.vocab = vocab
        self.pre = pre
        spec = PRE[pre]
        self.ids = vocab.token_to_id
        merges = vocab.strings("merges")
        if merges is None:
            if pre != "kimi-k2":  # the one llama.cpp lets go without
                raise TokenizerError(vocab.path, "a BPE vocabulary without 'tokenizer.ggml.merges'")
            merges = []
        self.merges = merges
        # "left right" -> rank; the first of a repeated merge wins (as llama.cpp's emplace).
        self.ranks: dict[str, int] = dict(zip(reversed(merges), range(len(merges) - 1, -1, -1)))
        self.splitter = Splitter(PATTERNS[spec.patterns])
        # Raw UTF-8 with <0xNN> byte tokens (Gemma 4 style, and whitespace), else GPT-2's byte characters.
        self.byte_encode = spec.patterns not in ("newlines", "whitespace")
        # The "whitespace" tokenizer model (jina-embeddings-v2-base-zh): words
        # between whitespace, lower-cased unless the metadata says not.
        self.words_only = vocab.model == "whitespace"
        self.lowercase = vocab.flag("normalizer.lowercase", pre != "whitespace")
        self.ignore_merges = spec.ignore_merges
        self.gemma4 = pre == "gemma4"
        self.cached = lru_cache(maxsize=_CACHE_LIMIT)(self.word)  # ids per word, remembered
        self._made_by: dict[str, int] | None = None

    def encode(self, pieces: list[str | int], out: list[int], add_special: bool) -> None:
        v = self.vocab
        if add_special and v.add_bos:
            out.append(need(v, v.bos_id, "BOS"))
        for p in pieces:
            if isinstance(p, int):
                out.append(p)
                continue
            if v.escape_whitespaces:
                p = p.replace(" ", SPACE)
            self.tokenize(p, out)
        if add_special and v.add_eos:
            out.append(need(v, v.eos_id, "EOS"))

    def tokenize(self, text: str, out: list[int]) -> None:
        if self.words_only:
            for seg in re.split(_WS_RUN, text):
                if seg:
                    self._split(_lower(seg) if self.lowercase else seg, out)
            return
        self._split(text, out)

    def _split(self, text: str, out: list[int]) -> None:
        cached = self.cached
        for word in self.splitter.split(text):
            out.extend(cached(word))

    def word(self, word: str) -> list[int]:
        if not word:
            return []
        ids = self.ids
        if self.byte_encode:
            word = word.encode("utf-8", "surrogateescape").decode("latin-1").translate(_TO_GPT2)
        if self.ignore_merges or (self.gemma4 and not word.strip("\n")):
            t = ids.get(word)
            if t is not None:
                return [t]
        return self.merge(word)

    def merge(self, word: str) -> list[int]:
        ranks = self.ranks
        n = len(word)
        syms = list(word)
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        prv = list(range(-1, n - 1))
        heap: list[tuple[int, int, int, str]] = []
        for i in range(n - 1):
            r = ranks.get(f"{syms[i]} {syms[i + 1]}")
            if r is not None:
                heap.append((r, i, i + 1, syms[i] + syms[i + 1]))
        heap.sort()
        while heap:
            _, left, right, text = heappop(heap)
            a, b = syms[left], syms[right]
            if not a or not b or a + b != text:
                continue  # outdated
            syms[left] = text
            syms[right] = ""
            after = nxt[right]
            nxt[left] = after
            if after >= 0:
                prv[after] = left
            before = prv[left]
            if before >= 0:
                r = ranks.get(f"{syms[before]} {text}")
                if r is not None:
                    heappush(heap, (r, before, left, syms[before] + text))
            if after >= 0:
                r = ranks.get(f"{text} {syms[after]}")
                if r is not None:
                    heappush(heap, (r, left, after, text + syms[after]))
        ids = self.ids
        out: list[int] = []
        for s in syms:
            if not s:
                continue
            t = ids.get(s)
            if t is not None:
                out.append(t)
                continue
            # No token: llama.cpp looks up each UTF-8 byte of the symbol and
            # keeps those it finds.
            for byte in s.encode("utf-8", "surrogateescape"):
                if self.byte_encode:
                    t = ids.get(chr(byte) if byte < 0x80 else chr(0xDC00 + byte))
                else:
                    t = ids.get(f"<0x{byte:02X}>")
                if t is not None:
                    out.append(t)
        return out

    def piece_bytes(self, tid: int) -> bytes:
        v = self.vocab
        attr, text = v.attrs[tid], v.tokens[tid]
        if attr & (A_UNKNOWN | A_CONTROL | A_USER_DEFINED):
            return text.encode("utf-8", "surrogateescape")
        if attr & A_NORMAL:
            if v.escape_whitespaces:
                return text.replace(SPACE, " ").encode("utf-8", "surrogateescape")
            return b"".join(
                bytes([_FROM_GPT2[c]]) if c in _FROM_GPT2 else c.encode("utf-8", "surrogateescape") for c in text
            )
        if attr & A_BYTE:
            return bytes([int(text[3:5], 16)])
        return b""

    def merge_rank_of(self, tid: int) -> int | None:
        """The rank of the merge whose result is this token's string."""
        if self._made_by is None:
            made: dict[str, int] = {}
            for rank, m in enumerate(self.merges):
                at = m.find(" ", 1)
                if at > 0:
                    made.setdefault(m[:at] + m[at + 1 :], rank)
            self._made_by = made
        return self._made_by.get(self.vocab.tokens[tid])
