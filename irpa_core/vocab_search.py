"""Listing and searching a tokenizer's vocabulary fast enough for a
262,144-token table: every piece and type read once (``index_vocabulary``),
then each search is one pass over one joined string.

    index = index_vocabulary(tokenizer)
    index.search("world")        # ids whose piece holds it (also as ▁world / Ġworld)
    index.search("/^▁[A-Z]/")    # a regular expression on the pieces
    index.search("#42"), index.search("42")   # a jump to id 42
    index.search("type:control") # by type; "type:byte <0x0" narrows further

The query language is the TUI's vocabulary search; the rule for spaces
(the text as typed, with ``▁`` for spaces, and as byte-level BPE writes
its bytes) is ``irpa tokens --find``'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .tokenizer import TYPE_NAMES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .tokenizer import Tokenizer

_SEP = "\n"  # between pieces in the joined text (a needle holding it is searched piece by piece)
_ID = re.compile(r"#?\s*(\d[\d,_]*)")
_TYPE = re.compile(r"type:(\S*)\s*(.*)", re.S)


def spellings(text: str) -> set[str]:
    """``text`` as a vocabulary may hold it: as typed, with SentencePiece's
    ``▁`` for spaces, and as byte-level BPE writes its bytes (``Ġ`` for a
    space). ``irpa tokens --find`` and the TUI's search both match these."""
    from .tokenizer.bpe import BYTE_CHARS

    gpt2 = "".join(BYTE_CHARS[b] for b in text.encode("utf-8", "surrogateescape"))
    return {text, text.replace(" ", "▁"), gpt2}


@dataclass(frozen=True, slots=True, kw_only=True)
class Query:
    """What a search found: ``ids`` (None: the whole vocabulary), or a
    ``jump`` to one id, or an ``error`` (a regex that does not compile, an
    unknown type, an id past the end): a sentence for the user."""

    text: str
    ids: list[int] | None = None
    jump: int | None = None
    error: str | None = None


@dataclass(slots=True)
class VocabIndex:
    """Every piece and type of a vocabulary, and the joined texts searches
    run on (built once, in a worker: about 0.3 s for 262,144 tokens)."""

    pieces: list[str]
    types: np.ndarray  # int8: the file's token type of each id
    _joined: str = ""
    _starts: np.ndarray | None = None
    _lower: tuple[str, np.ndarray] | None = field(default=None)

    def __len__(self) -> int:
        return len(self.pieces)

    def warm(self) -> None:
        """Build the joined texts now (about 0.4 s for 262,144 tokens), so
        that the first search is as quick as the next (about 2 ms)."""
        self._text(True)
        self._text(False)
        self._substring("a")  # and what it imports (the byte-level BPE table)

    def type_name(self, token_id: int) -> str:
        t = int(self.types[token_id])
        return TYPE_NAMES.get(t, str(t))

    def search(self, text: str) -> Query:
        """Ids matching ``text`` (see the module's docstring): plain text
        matches any case unless it holds a capital (smart case)."""
        if not text.strip():
            return Query(text=text)
        q = text  # spaces count: " c" finds "▁c" and "Ġc"
        m = _ID.fullmatch(q.strip())
        if m:
            k = int(m.group(1).replace(",", "").replace("_", ""))
            if k >= len(self.pieces):
                return Query(text=text, error=f"ids are 0 to {len(self.pieces) - 1:,}")
            return Query(text=text, jump=k)
        within: np.ndarray | None = None
        m = _TYPE.fullmatch(q.strip())
        if m:
            by_name = {v: k for k, v in TYPE_NAMES.items()}
            want = by_name.get(m.group(1).lower().replace("_", "-"))
            if want is None:
                return Query(text=text, error=f"types are {', '.join(by_name)}")
            within = np.flatnonzero(self.types == want)
            q = m.group(2)
            if not q.strip():
                return Query(text=text, ids=within.tolist())
        rq = q.strip()
        if len(rq) >= 2 and rq.startswith("/") and rq.endswith("/"):
            try:
                rx = re.compile(rq[1:-1])
            except re.error as e:
                return Query(text=text, error=f"not a regular expression: {e}")
            pieces = self.pieces
            candidates = range(len(pieces)) if within is None else within.tolist()
            return Query(text=text, ids=[i for i in candidates if rx.search(pieces[i])])
        ids = self._substring(q)
        if within is not None:
            ids = np.intersect1d(ids, within)
        return Query(text=text, ids=ids.tolist())

    def _substring(self, q: str) -> np.ndarray:
        fold = q == q.lower()  # smart case
        needles = spellings(q)
        if fold:
            needles = {n.lower() for n in needles}
        joined, starts = self._text(fold)
        found: list[np.ndarray] = []
        for needle in needles:
            if _SEP in needle:  # cannot use the joined text: piece by piece
                pieces = self.pieces
                hit = [i for i, p in enumerate(pieces) if needle in (p.lower() if fold else p)]
                found.append(np.array(hit, dtype=np.int64))
                continue
            at = [m.start() for m in re.finditer(re.escape(needle), joined)]
            if at:
                found.append(np.searchsorted(starts, np.array(at, dtype=np.int64), side="right") - 1)
        return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)

    def _text(self, fold: bool) -> tuple[str, np.ndarray]:
        """The pieces joined (lowercased with ``fold``) and where each starts."""
        if fold:
            if self._lower is None:
                self._lower = _join([p.lower() for p in self.pieces])
            return self._lower
        if self._starts is None:
            self._joined, self._starts = _join(self.pieces)
        return self._joined, self._starts


def _join(pieces: list[str]) -> tuple[str, np.ndarray]:
    lengths = np.fromiter((len(p) + 1 for p in pieces), dtype=np.int64, count=len(pieces))
    starts = np.zeros(len(pieces), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return _SEP.join(pieces), starts


def index_vocabulary(tokenizer: Tokenizer) -> VocabIndex:
    """Every piece and type of ``tokenizer``'s vocabulary, ready to search."""
    n = tokenizer.n_vocab
    pieces = [tokenizer.piece(i) for i in range(n)]
    types = np.fromiter((tokenizer.token_type(i) for i in range(n)), dtype=np.int8, count=n)
    return VocabIndex(pieces, types)
