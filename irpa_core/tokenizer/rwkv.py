"""RWKV "world" vocabularies (``tokenizer.ggml.model = rwkv``) as
llama.cpp's ``llm_tokenizer_rwkv``: tokens are stored escaped (``\\n``,
``\\xNN``), and the text's bytes are covered greedily by the longest token
from the left. Nothing is added around the text.
"""

from __future__ import annotations

from .vocab import Vocab


def setup(v: Vocab) -> None:
    """llama.cpp's defaults for an ``rwkv`` vocabulary: no special ids."""
    v.bos_id = v.eos_id = v.unk_id = v.sep_id = v.pad_id = None
    v.add_bos = v.add_eos = False
    v.add_space_prefix = False


def unescape(text: str) -> bytes:
    """llama.cpp's ``llama_unescape_rwkv_token``."""
    out = bytearray()
    escaping = False
    hex_left = acc = 0
    for c in text.encode("utf-8", "surrogateescape"):
        if hex_left:
            acc = (acc << 4) + (c - 87 if c >= 0x61 else c - 0x30)  # as llama.cpp: no check
            hex_left -= 1
            if not hex_left:
                out.append(acc & 0xFF)
                acc = 0
            continue
        if escaping:
            escaping = False
            if c == 0x78:  # x
                hex_left = 2
            else:
                out.append({0x74: 9, 0x6E: 10, 0x72: 13}.get(c, c))
            continue
        if c == 0x5C:  # backslash
            escaping = True
            continue
        out.append(c)
    return bytes(out)


class RWKV:
    kind = "rwkv"

    def __init__(self, vocab: Vocab):
        self.vocab = vocab
        self.table: dict[bytes, int] = {}
        for i, t in enumerate(vocab.tokens):
            self.table[unescape(t)] = i  # a repeated string: the last id, as llama.cpp's trie
        # Every prefix of a token: where llama.cpp's trie walk can go on.
        self.prefixes = {key[:k] for key in self.table for k in range(1, len(key) + 1)}

    def encode(self, pieces: list[str | int], out: list[int], add_special: bool) -> None:
        for p in pieces:
            if isinstance(p, int):
                out.append(p)
            else:
                self.tokenize(p.encode("utf-8", "surrogateescape"), out)

    def tokenize(self, data: bytes, out: list[int]) -> None:
        table, prefixes = self.table, self.prefixes
        pos, n = 0, len(data)
        while pos < n:
            if data[pos : pos + 1] not in prefixes:
                if self.vocab.unk_id is not None:
                    out.append(self.vocab.unk_id)
                pos += 1
                continue
            best, best_end = 0, 0
            end = pos + 1
            while True:
                tid = table.get(data[pos:end])
                if tid is not None:
                    best, best_end = tid, end
                if end >= n or data[pos : end + 1] not in prefixes:
                    break
                end += 1
            out.append(best)
            # llama.cpp would start over at 0 when no prefix on the way was a
            # token (a loop); we go on after the first byte instead.
            pos = best_end if best_end > pos else pos + 1

    def piece_bytes(self, tid: int) -> bytes:
        return unescape(self.vocab.tokens[tid])
