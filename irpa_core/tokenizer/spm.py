"""SentencePiece-style vocabularies (``tokenizer.ggml.model = llama``) as
llama.cpp's ``llm_tokenizer_spm``: spaces become ``▁`` (with one put
before the text when ``add_space_prefix``), then the best-scoring pair of
neighbouring symbols that forms a token is merged, again and again; what
forms no token falls back to its UTF-8 bytes (``<0xNN>`` tokens).

llama.cpp merges over a whole piece of text at once. The work is the same
on smaller chunks when no token can straddle the cut: we cut before a run
of ``▁`` whose preceding character never precedes ``▁`` inside any token,
and remember each chunk's ids (prose repeats its words).
"""

from __future__ import annotations

import re
from functools import lru_cache
from heapq import heappop, heappush

from ..errors import TokenizerError
from .attrs import A_BYTE, A_CONTROL, A_NORMAL, A_UNKNOWN, A_USER_DEFINED
from .vocab import Vocab

SPACE = "▁"
_CACHE_LIMIT = 1 << 16


def setup(v: Vocab) -> None:
    """llama.cpp's defaults for a ``llama`` vocabulary."""
    v.bos_id, v.eos_id, v.unk_id = 1, 2, 0
    v.add_space_prefix = v.flag("add_space_prefix", True)
    v.remove_extra_whitespaces = v.flag("remove_extra_whitespaces", False)
    v.add_bos, v.add_eos = True, False


class SPM:
    kind = "spm"

    def __init__(self, vocab: Vocab):
        self.vocab = vocab
        self.ids = vocab.token_to_id
        scores = vocab.scores
        # heapq pops the smallest: the best score first
        self.neg_scores = [-s for s in scores] if scores is not None else [0.0] * len(vocab.tokens)
        # Characters that precede a ▁ inside some token: no cut after them.
        self.glued = set(re.findall(f"([^\0{SPACE}]){SPACE}", "\0".join(vocab.tokens)))
        self.cached = lru_cache(maxsize=_CACHE_LIMIT)(self.merge)  # ids per chunk, remembered

    def encode(self, pieces: list[str | int], out: list[int], add_special: bool) -> None:
        v = self.vocab
        if add_special and v.add_bos:
            out.append(need(v, v.bos_id, "BOS"))
        prev_special = True  # a space goes before the text, and after each special token
        for p in pieces:
            if isinstance(p, int):
                out.append(p)
                prev_special = True
                continue
            text = " " + p if v.add_space_prefix and prev_special else p
            self.tokenize(text.replace(" ", SPACE), out)
            prev_special = False
        if add_special and v.add_eos:
            out.append(need(v, v.eos_id, "EOS"))

    def tokenize(self, text: str, out: list[int]) -> None:
        cached, glued = self.cached, self.glued
        start, n = 0, len(text)
        at = text.find(SPACE, 1)
        while start < n:
            # The next cut: before a ▁ that follows neither ▁ nor a glued character.
            while at > 0 and (text[at - 1] == SPACE or text[at - 1] in glued):
                at = text.find(SPACE, at + 1)
            end = n if at < 0 else at
            out.extend(cached(text[start:end]))
            start = end
            if at > 0:
                at = text.find(SPACE, at + 1)

    def merge(self, text: str) -> list[int]:
        ids, neg = self.ids, self.neg_scores
        n = len(text)
        tid = ids.get(text)
        if tid is not None and n <= 2:  # nothing to merge, or one merge that forms it
            return [tid]
        length = [1] * n
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        prv = list(range(-1, n - 1))
        heap: list[tuple[float, int, int, int]] = []
        for i in range(n - 1):
            t = ids.get(text[i : i + 2])
            if t is not None:
                heap.append((neg[t], i, i + 1, 2))
        heap.sort()  # a sorted list is a heap
        while heap:
            _, left, right, size = heappop(heap)
            nl, nr = length[left], length[right]
            if not nl or not nr or nl + nr != size:
                continue  # one side was merged since
            length[left] = size
            length[right] = 0
            after = nxt[right]
            nxt[left] = after
            if after >= 0:
                prv[after] = left
            before = prv[left]
            if before >= 0:
                t = ids.get(text[before : left + size])
                if t is not None:
                    heappush(heap, (neg[t], before, left, left + size - before))
            if after >= 0:
                end = after + length[after]
                t = ids.get(text[left:end])
                if t is not None:
                    heappush(heap, (neg[t], left, after, end - left))
        out: list[int] = []
        i = 0
        while i >= 0:
            piece = text[i : i + length[i]]
            t = ids.get(piece)
            if t is not None:
                out.append(t)
            else:
                out.extend(byte_tokens(self.vocab, piece))
            i = nxt[i]
        return out

    def piece_bytes(self, tid: int) -> bytes:
        v = self.vocab
        return spm_piece(v, tid)


def spm_piece(v: Vocab, tid: int) -> bytes:
    """What llama.cpp prints for a token (special tokens as written)."""
    attr, text = v.attrs[tid], v.tokens[tid]
    if attr & (A_UNKNOWN | A_CONTROL | A_USER_DEFINED):
        return text.encode("utf-8", "surrogateescape")
    if attr & A_NORMAL:
        return text.replace(SPACE, " ").encode("utf-8", "surrogateescape")
    if attr & A_BYTE:
        return bytes([int(text[3:5], 16)])
    return b""


def byte_tokens(v: Vocab, piece: str) -> list[int]:
    """The ``<0xNN>`` tokens of a piece no token covers (or, without
    them, the one-byte tokens), as llama.cpp's ``byte_to_token``."""
    ids = v.token_to_id
    out = []
    for b in piece.encode("utf-8", "surrogateescape"):
        t = ids.get(f"<0x{b:02X}>")
        if t is None:
            t = ids.get(chr(b) if b < 0x80 else chr(0xDC00 + b))
            if t is None:
                raise TokenizerError(v.path, f"no token for byte 0x{b:02X} (of {piece!r}) and no <0x{b:02X}> token")
        out.append(t)
    return out


def need(v: Vocab, tid: int | None, what: str) -> int:
    if tid is None:
        raise TokenizerError(v.path, f"the metadata asks for a {what} token but names none in the vocabulary")
    return tid
