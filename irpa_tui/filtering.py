"""The filter language of the parameter table (``/``).

Terms separated by spaces must all match (AND); ``!`` before a term negates
it; double quotes keep spaces inside a term. Matching ignores case.

- a word matches anywhere in the name, as grep does: ``attn_q``;
  ``^`` and ``$`` anchor it at the start or end: ``^blk.1.``, ``weight$``;
- ``*``, ``?`` and ``[...]`` make it a glob, still matching anywhere unless
  anchored: ``blk.*.attn_q``, ``^output*``;
- ``re:REGEX`` is a Python regular expression, searched anywhere;
- ``dtype:Q4_K`` (globs work: ``dtype:q*``), ``kind:data|splat|external``,
  ``mark:renamed|excluded|splat|cast|kept|edited``, ``size:>1MiB`` (``<``,
  ``<=``, ``>=``, ``=``; B, KB/KiB, MB/MiB, GB/GiB), ``file:NAME`` (part of the
  file's name), ``flag:nan|inf|zero|constant|std|any`` (after a scan, ``S``),
  ``state:complete|partial|missing`` (how much of it a cut-off file holds:
  the engine's ``model.entry_state``);
- ``verdict:NAME`` (the compare screen): a pair's verdict, by any prefix
  of its name (``verdict:diff``, ``verdict:within``, ``verdict:only`` for
  both sides' unpaired tensors).

A row matches a name term by its original name or by its new name when the
plan renames it. ``parse`` raises ``FilterError`` with a sentence (and the
offending term) for anything it cannot read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text

from irpa_core.display import shown
from irpa_core.model import STATES, Entry, entry_state
from irpa_core.verdict import VERDICTS

HELP = (
    ("word", "matches anywhere in the name, any case (grep-like); ^word / word$ anchor"),
    ("a*b?c", "glob (* ? [..]), anywhere unless anchored with ^ or $"),
    ("re:REGEX", "regular expression, searched anywhere, any case"),
    ("dtype:Q4_K", "dtype (globs: dtype:q*)"),
    ("kind:splat", "kind: data, splat, external"),
    ("mark:renamed", "edit: renamed, excluded, splat, cast, kept, edited"),
    ("size:>1MiB", "size: > < >= <= = with B, KiB, MiB, GiB (KB, MB, GB are 1000s)"),
    ("file:NAME", "part of the file's name"),
    ("flag:nan", "scan flag (after S): nan, inf, zero, constant, std, any"),
    ("state:partial", "in a cut-off file: complete, partial, missing"),
    (
        "verdict:diff",
        "compare screen: verdict, by prefix (identical, lossless, requantized-exact, within-noise, "
        "transform, differs, only-in-a, only-in-b)",
    ),
    ("a b  !c", 'all terms must match; ! negates a term; "quotes" keep spaces'),
)
MARKS = ("renamed", "excluded", "splat", "cast", "kept", "edited")
KINDS = ("data", "splat", "external")
FLAGS = ("nan", "inf", "zero", "constant", "std", "any")
ONLY_A, ONLY_B = "only-in-a", "only-in-b"  # the verdict names of unpaired tensors
VERDICT_NAMES = (*VERDICTS, ONLY_A, ONLY_B)
_UNITS = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}  # fmt: skip
_SIZE = re.compile(r"^(>=|<=|>|<|=)?\s*(\d+(?:\.\d+)?)\s*([a-z]*)$", re.IGNORECASE)
_FIELDS = ("re", "dtype", "kind", "mark", "size", "file", "flag", "state", "verdict")


class FilterError(ValueError):
    """A filter that cannot be read; ``term`` is the part at fault."""

    def __init__(self, message: str, term: str = ""):
        super().__init__(message)
        self.term = term


def status(error: FilterError | None, count: tuple[int, int] | None, hint: str) -> Text:
    """The line beside a filter box: why the filter cannot be read (the
    term at fault escaped: the view keeps the last good filter), else how
    many rows of how many it leaves (``count``; None: nothing filtered,
    then ``hint``)."""
    if error is not None:
        why = f"{error}" + (f"  in {shown(error.term, 30)}" if error.term else "")
        return Text(why, style="bold red", no_wrap=True, overflow="ellipsis")
    if count is not None:
        return Text(f"{count[0]:,} of {count[1]:,}", style="yellow")
    return Text(hint, style="dim")


@dataclass(frozen=True)
class Row:
    """What a predicate can ask about one entry (by index)."""

    names: Sequence[str]  # lower-cased original names
    new_names: Callable[[int], str | None]  # lower-cased new name when renamed, else None
    any_renamed: bool  # whether new_names can ever answer
    entries: Sequence[Entry]
    mark: Callable[[int], str]  # "kept" | "excluded" | "splat", see Context
    renamed: Callable[[int], bool]
    flags: Callable[[int], Sequence[str]]  # scan flags of the entry ("" when not scanned)
    cast: Callable[[int], bool] = lambda i: False  # whether its values are cast
    verdict: Callable[[int], str] = lambda i: ""  # the compare screen's verdict (one of VERDICT_NAMES)


Predicate = Callable[[int], bool]


@dataclass(frozen=True)
class Term:
    text: str  # as typed
    negate: bool
    field: str  # "" for a name term
    # A plain substring (the fast path over 100k names), else a matcher.
    substring: str | None = None
    matcher: Callable[[str], object] | None = None
    test: Callable[[Row, int], bool] | None = None


@dataclass(frozen=True)
class Filter:
    query: str
    terms: tuple[Term, ...]

    @property
    def empty(self) -> bool:
        return not self.terms

    def select(self, order: Sequence[int], row: Row) -> list[int]:
        """The indices of ``order`` that every term accepts, in order."""
        out = list(order)
        for t in self.terms:
            out = _apply(t, out, row)
        return out


def _apply(t: Term, rows: list[int], row: Row) -> list[int]:
    names = row.names
    if t.field == "" and t.substring is not None:
        q = t.substring
        if not row.any_renamed:  # the common case: no call per name
            return [i for i in rows if (q in names[i]) != t.negate]
        new_names = row.new_names
        return [i for i in rows if (q in names[i] or q in (new_names(i) or "")) != t.negate]
    if t.field == "":
        m = t.matcher
        assert m is not None
        if not row.any_renamed:
            return [i for i in rows if bool(m(names[i])) != t.negate]
        new_names = row.new_names
        return [i for i in rows if bool(m(names[i]) or ((n := new_names(i)) is not None and m(n))) != t.negate]
    test = t.test
    assert test is not None
    return [i for i in rows if test(row, i) != t.negate]


# ---------------------------------------------------------------------------
# Parsing


def parse(query: str) -> Filter:
    """The filter for ``query`` (raises ``FilterError``)."""
    return Filter(query, tuple(_term(tok) for tok in _tokens(query)))


def _tokens(query: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    started = False
    for ch in query:
        if ch == '"':
            quoted = not quoted
            started = True
        elif ch.isspace() and not quoted:
            if started:
                out.append("".join(cur))
            cur, started = [], False
        else:
            cur.append(ch)
            started = True
    if quoted:
        raise FilterError('a quote (") is not closed', query[query.rfind('"') :])
    if started:
        out.append("".join(cur))
    return [t for t in out if t not in ("", "!")]


def _term(tok: str) -> Term:
    negate = tok.startswith("!") and len(tok) > 1
    body = tok[1:] if negate else tok
    field, sep, value = body.partition(":")
    field = field.lower()
    if sep and field in _FIELDS:
        if not value:
            raise FilterError(f"{field}: needs a value", tok)
        return _field_term(tok, negate, field, value)
    return _name_term(tok, negate, body)


def _name_term(tok: str, negate: bool, body: str) -> Term:
    start = body.startswith("^")
    end = body.endswith("$") and len(body) > start
    core = body[1 if start else 0 : len(body) - (1 if end else 0)]
    if not core and not (start or end):
        raise FilterError("empty term", tok)
    if not start and not end and not any(c in core for c in "*?["):
        return Term(tok, negate, "", substring=core.lower())
    rx = ("^" if start else "") + _glob_regex(core, tok) + ("$" if end else "")
    return Term(tok, negate, "", matcher=re.compile(rx, re.IGNORECASE | re.DOTALL).search)


def _glob_regex(glob: str, tok: str) -> str:
    """``*`` any run, ``?`` one character, ``[...]`` a class (``[!...]``
    negated); everything else literal."""
    out = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = glob.find("]", i + 2 if glob[i + 1 : i + 2] in ("!", "]") else i + 1)
            if j < 0:
                raise FilterError("a [ is not closed (write [[] for a literal [)", tok)
            inner = glob[i + 1 : j]
            if inner.startswith("!"):
                inner = "^" + inner[1:]
            out.append("[" + inner.replace("\\", "\\\\").replace("[", "\\[") + "]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _field_term(tok: str, negate: bool, field: str, value: str) -> Term:
    v = value.lower()
    test: Callable[[Row, int], bool]
    if field == "re":
        try:
            rx = re.compile(value, re.IGNORECASE)
        except re.error as e:
            raise FilterError(f"bad regular expression: {e}", tok) from None
        return Term(tok, negate, "", matcher=rx.search)
    if field == "dtype":
        if any(c in v for c in "*?["):
            m = re.compile("^" + _glob_regex(v, tok) + "$", re.IGNORECASE).search

            def test(row: Row, i: int) -> bool:
                return bool(m((row.entries[i].dtype_name or "?").lower()))
        else:

            def test(row: Row, i: int) -> bool:
                return (row.entries[i].dtype_name or "?").lower() == v

    elif field == "kind":
        if v not in KINDS:
            raise FilterError(f"kind: {value!r} is not one of {', '.join(KINDS)}", tok)

        def test(row: Row, i: int) -> bool:
            return row.entries[i].kind == v

    elif field == "mark":
        if v not in MARKS:
            raise FilterError(f"mark: {value!r} is not one of {', '.join(MARKS)}", tok)
        test = _mark_test(v)
    elif field == "size":
        op, limit = _size(value, tok)

        def test(row: Row, i: int) -> bool:
            return op(row.entries[i].length, limit)

    elif field == "file":

        def test(row: Row, i: int) -> bool:
            return v in _basename(row.entries[i].file).lower()

    elif field == "state":
        if v not in STATES:
            raise FilterError(f"state: {value!r} is not one of {', '.join(STATES)}", tok)

        def test(row: Row, i: int) -> bool:
            return entry_state(row.entries[i]) == v

    elif field == "verdict":
        wanted = frozenset(n for n in VERDICT_NAMES if n.startswith(v))
        if not wanted:
            raise FilterError(f"verdict: {value!r} starts none of {', '.join(VERDICT_NAMES)}", tok)

        def test(row: Row, i: int) -> bool:
            return row.verdict(i) in wanted

    else:  # flag
        if v not in FLAGS:
            raise FilterError(f"flag: {value!r} is not one of {', '.join(FLAGS)}", tok)

        def test(row: Row, i: int) -> bool:
            flags = row.flags(i)
            return bool(flags) if v == "any" else v in flags

    return Term(tok, negate, field, test=test)


def _mark_test(v: str) -> Callable[[Row, int], bool]:
    if v == "renamed":
        return lambda row, i: row.renamed(i)
    if v == "edited":
        return lambda row, i: row.renamed(i) or row.cast(i) or row.mark(i) != "kept"
    if v == "cast":
        return lambda row, i: row.cast(i)
    want = {"excluded": "excluded", "splat": "splat", "kept": "kept"}[v]
    return lambda row, i: row.mark(i) == want


_OPS: dict[str, Callable[[int, float], bool]] = {
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
}


def _size(value: str, tok: str) -> tuple[Callable[[int, float], bool], float]:
    m = _SIZE.match(value.strip())
    if not m:
        raise FilterError(f"size: {value!r} is not a size (like >1MiB, <=4096, =0)", tok)
    op, number, unit = m.group(1) or "=", float(m.group(2)), m.group(3).lower()
    if unit not in _UNITS:
        raise FilterError(f"size: unknown unit {m.group(3)!r} (B, KiB, MiB, GiB, KB, MB, GB)", tok)
    return _OPS[op], number * _UNITS[unit]


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]
