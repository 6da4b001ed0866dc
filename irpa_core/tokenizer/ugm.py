"""Unigram vocabularies (``tokenizer.ggml.model = t5``) as llama.cpp's
``llm_tokenizer_ugm``: the text is normalized (user-defined tokens kept
as they are, else SentencePiece's precompiled character map,
``tokenizer.ggml.precompiled_charsmap``; spaces as ``▁``), then the
tokenization with the highest total score is found by Viterbi over the
bytes; what no token covers is the unknown token, runs of them merged.

The character map is a double array (XCDA) that no library here reads
from GGUF bytes, so it is walked below as llama.cpp walks it.
"""

from __future__ import annotations

import struct
from functools import lru_cache

from ..errors import TokenizerError
from .attrs import NORMAL, UNUSED, USER_DEFINED
from .spm import SPACE, need, spm_piece
from .vocab import Vocab

_UNKNOWN_PENALTY = 10.0
_CACHE_LIMIT = 1 << 14
_SPACE = SPACE.encode()
_FFFD = "\ufffd".encode()


def setup(v: Vocab) -> None:
    """llama.cpp's defaults for a ``t5`` vocabulary."""
    v.bos_id, v.eos_id, v.unk_id, v.pad_id = None, 1, 2, 0
    v.add_bos, v.add_eos = False, True
    v.add_space_prefix = v.flag("add_space_prefix", False)
    v.remove_extra_whitespaces = v.flag("remove_extra_whitespaces", False)


def _utf8_len(b: int) -> int:
    return (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4)[b >> 4]


class UGM:
    kind = "ugm"

    def __init__(self, vocab: Vocab):
        self.vocab = vocab
        types = vocab.types or [NORMAL] * len(vocab.tokens)
        scores = vocab.scores or [0.0] * len(vocab.tokens)
        # As llama.cpp builds its matchers: from the file's types, before any
        # token gets attributes by its text.
        self.matcher: dict[bytes, tuple[int, float]] = {}
        user: set[bytes] = set()
        low = None
        for i, (t, ty) in enumerate(zip(vocab.tokens, types)):
            if ty == NORMAL:
                low = scores[i] if low is None else min(low, scores[i])
            if ty in (NORMAL, USER_DEFINED, UNUSED):
                raw = t.encode("utf-8", "surrogateescape")
                self.matcher[raw] = (i, 0.0 if ty == USER_DEFINED else scores[i])
                if ty == USER_DEFINED:
                    user.add(raw)
        # llama.cpp keeps as they are the longest run of bytes that begins
        # some user-defined token (a prefix is enough: its trie walk stops
        # where the input leaves the trie, not at a token's end).
        self.user_prefixes = {u[:k] for u in user for k in range(1, len(u) + 1)}
        self.max_len = max(map(len, self.matcher), default=0)
        low_f = low if low is not None else 3.4028234663852886e38
        # float32 arithmetic, as llama.cpp's
        self.unknown_score = struct.unpack("<f", struct.pack("<f", low_f - _UNKNOWN_PENALTY))[0]
        self.xcda: list[int] = []
        self.replacements = b""
        blob = _charsmap(vocab)
        if blob:
            (size,) = struct.unpack_from("<I", blob, 0)
            if size + 4 >= len(blob):
                raise TokenizerError(vocab.path, "tokenizer.ggml.precompiled_charsmap is shorter than it says")
            self.xcda = list(struct.unpack_from(f"<{size // 4}I", blob, 4))
            self.replacements = blob[4 + size :]
        self.cached = lru_cache(maxsize=_CACHE_LIMIT)(self.piece_ids)  # ids per piece, remembered

    def encode(self, pieces: list[str | int], out: list[int], add_special: bool) -> None:
        v = self.vocab
        if add_special and v.add_bos:
            out.append(need(v, v.bos_id, "BOS"))
        for p in pieces:
            if isinstance(p, int):
                out.append(p)
                continue
            out.extend(self.cached(p))
        if add_special and v.add_eos:
            out.append(need(v, v.eos_id, "EOS"))

    def piece_ids(self, piece: str) -> list[int]:
        return self.viterbi(self.normalize(piece.encode("utf-8", "surrogateescape")))

    # -- normalization ------------------------------------------------------

    def normalize(self, data: bytes) -> bytes:
        v = self.vocab
        space = _SPACE if v.escape_whitespaces else b" "
        prepend = v.add_space_prefix  # treat_whitespace_as_suffix is never set from GGUF
        merge = v.remove_extra_whitespaces
        out = bytearray()
        prepended = in_word = False
        pos, n = 0, len(data)
        while pos < n:
            repl, used = self.normalize_prefix(data, pos)
            for c in repl:
                if c != 0x20:
                    if not in_word:
                        in_word = True
                        if (prepend and not prepended) or merge:
                            out += space
                            prepended = True
                    out.append(c)
                else:
                    in_word = False
                    if not merge:
                        out += space
            pos += used
        return bytes(out)

    def normalize_prefix(self, data: bytes, pos: int) -> tuple[bytes, int]:
        length, prefixes = 0, self.user_prefixes
        while pos + length < len(data) and data[pos : pos + length + 1] in prefixes:
            length += 1
        if length:
            return data[pos : pos + length], length
        if self.xcda:
            best_len, best_at = self._charsmap_match(data, pos)
            if best_len:
                end = self.replacements.find(b"\0", best_at)
                if best_at >= len(self.replacements) or end < 0:
                    raise TokenizerError(self.vocab.path, "tokenizer.ggml.precompiled_charsmap: a replacement runs out")
                return self.replacements[best_at:end], best_len
        n = _valid_utf8(data, pos)
        return (data[pos : pos + n], n) if n else (_FFFD, 1)

    def _charsmap_match(self, data: bytes, pos: int) -> tuple[int, int]:
        xcda = self.xcda
        size = len(xcda)

        def node(i: int) -> int:
            if i >= size:
                raise TokenizerError(self.vocab.path, "tokenizer.ggml.precompiled_charsmap: an index runs out")
            return xcda[i]

        def base(i: int) -> int:
            x = node(i)
            return (x >> 10) << ((x & (1 << 9)) >> 6)

        best_len = best_at = 0
        index = base(0)
        for p in range(pos, len(data)):
            c = data[p]
            if c == 0:
                break
            index ^= c
            x = node(index)
            if x & ((1 << 31) | 0xFF) != c:
                break
            leaf = (x >> 8) & 1
            index ^= base(index)
            if leaf:
                best_len = p - pos + 1
                best_at = node(index) & ((1 << 31) - 1)
        return best_len, best_at

    # -- the best tokenization ---------------------------------------------

    def viterbi(self, text: bytes) -> list[int]:
        n = len(text)
        if not n:
            return []
        unk = self.vocab.unk_id
        unk_id = -1 if unk is None else unk
        matcher, longest, unknown_score = self.matcher, self.max_len, self.unknown_score
        # best[i]: (score of the best tokenization of text[:i], its last token, where it starts)
        score = [float("-inf")] * (n + 1)
        token = [unk_id] * (n + 1)
        start = [0] * (n + 1)
        score[0] = 0.0
        pos = 0
        while pos < n:
            here = score[pos]
            width = min(_utf8_len(text[pos]), n - pos)
            single = False
            for end in range(pos + 1, min(n, pos + longest) + 1):
                hit = matcher.get(text[pos:end])
                if hit is None:
                    continue
                if end - pos == width:
                    single = True
                s = here + hit[1]
                if s > score[end]:
                    score[end], token[end], start[end] = s, hit[0], pos
            if not single:
                end = pos + width
                s = here + unknown_score
                if s > score[end]:
                    score[end], token[end], start[end] = s, unk_id, pos
            pos += width
        out: list[int] = []
        at, prev_unknown = n, False
        while True:
            t = token[at]
            is_unknown = t == unk_id
            if not (prev_unknown and is_unknown):
                out.append(t)
            if start[at] == 0:
                break
            prev_unknown = is_unknown
            at = start[at]
        out.reverse()
        return out

    def piece_bytes(self, tid: int) -> bytes:
        return spm_piece(self.vocab, tid)


def _valid_utf8(data: bytes, pos: int) -> int:
    """The length of the UTF-8 character at ``pos`` as llama.cpp's
    ``unicode_cpt_from_utf8`` accepts it, or 0 when it refuses it."""
    b = data[pos]
    if b < 0x80:
        return 1
    if not b & 0x40:
        return 0
    n = 2 if not b & 0x20 else 3 if not b & 0x10 else 4 if not b & 0x08 else 0
    if not n or pos + n > len(data):
        return 0
    if any(data[pos + k] & 0xC0 != 0x80 for k in range(1, n)):
        return 0
    return n


def _charsmap(v: Vocab) -> bytes:
    arr = v.value("precompiled_charsmap")
    if arr is None:
        return b""
    from ..formats.gguf import GGUFArray

    if isinstance(arr, GGUFArray):
        if arr.type_name not in ("u8", "i8"):
            raise TokenizerError(v.path, f"tokenizer.ggml.precompiled_charsmap is an array of {arr.type_name}")
        data = arr.raw()
    elif isinstance(arr, tuple):
        data = bytes(x & 0xFF for x in arr[1])
    else:
        raise TokenizerError(v.path, "tokenizer.ggml.precompiled_charsmap is not an array")
    if len(data) < 4:
        raise TokenizerError(v.path, "tokenizer.ggml.precompiled_charsmap is too small")
    return data
