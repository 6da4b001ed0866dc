"""Special tokens cut out of the text before tokenizing, as llama.cpp's
``tokenizer_st_partition``: each special token in turn, longest first,
splits every piece of text still unclaimed at each of its occurrences.
Control and unknown tokens only when ``parse_special``; user-defined ones
always. Tokens marked ``lstrip``/``rstrip`` swallow the whitespace beside
them.
"""

from __future__ import annotations

from .attrs import A_CONTROL, A_LSTRIP, A_RSTRIP, A_UNKNOWN
from .vocab import Vocab

# C isspace (llama.cpp strips with it)
_C_SPACE = " \t\n\v\f\r"


def partition(vocab: Vocab, text: str, parse_special: bool) -> list[str | int]:
    """``text`` as a list of text pieces (str) and special token ids (int)."""
    pieces: list[str | int] = [text]
    if not vocab.special:
        return pieces
    # A cheap filter first: a token can occur only if its first two
    # characters do (a big vocabulary has thousands of special tokens).
    chars = set(text)
    pairs = {text[i : i + 2] for i in range(len(text) - 1)} if len(text) < 1 << 22 else None
    tokens, attrs = vocab.tokens, vocab.attrs
    for tid in vocab.special:
        attr = attrs[tid]
        if not parse_special and attr & (A_CONTROL | A_UNKNOWN):
            continue
        tok = tokens[tid]
        if tok[0] not in chars or (pairs is not None and len(tok) > 1 and tok[:2] not in pairs):
            continue
        out: list[str | int] = []
        changed = False
        for p in pieces:
            if isinstance(p, int) or tok not in p:
                out.append(p)
                continue
            changed = True
            _split(p, tok, tid, attr, out)
        if changed:
            pieces = out
    return pieces


def _split(text: str, tok: str, tid: int, attr: int, out: list[str | int]) -> None:
    start, n = 0, len(text)
    while True:
        at = text.find(tok, start)
        if at < 0:
            if start < n:
                out.append(text[start:])
            return
        left = text[start:at]
        if attr & A_LSTRIP:
            left = left.rstrip(_C_SPACE)
        if left:
            out.append(left)
        out.append(tid)
        start = at + len(tok)
        if attr & A_RSTRIP:
            while start < n and text[start] in _C_SPACE:
                start += 1
