"""Tokens as the tokenizer screen draws them: the pieces of a text as
spans of alternating colours (special tokens stand out), the ids under
them in the same colours, a vocabulary row, and the audit's findings.

Pieces are vocabulary strings from the file: escaped (``display.escape``)
and drawn as ``Text``, never markup. A newline token ends its line, so a
rendered prompt keeps its shape.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from irpa_core.display import escape, f32, plural
from irpa_core.tokenizer.attrs import TYPE_NAMES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from irpa_core.chat_template import Finding
    from irpa_core.tokenizer import Tokenizer

SPANS = ("black on #8fb8de", "black on #d9b38c")  # alternating token backgrounds
IDS = ("#8fb8de", "#d9b38c")  # each id in its token's colour
SPECIAL = "bold white on #8e44ad"  # control, user-defined and unknown tokens
SPECIAL_TYPES = {2, 3, 4}  # unknown, control, user-defined (tokenizer.attrs)
SHOWN_MAX = 2_000  # tokens drawn (a pasted book is counted, not drawn)
SHORT_TYPES = {"normal": "", "user-defined": "user", "undefined": "undef"}
SEVERITY_STYLES = {"unsafe": "bold red", "error": "red", "warning": "yellow", "note": "cyan"}


def _ends_line(piece: str) -> bool:
    return piece.endswith("\n") or piece == "<0x0A>"


def spans(tok: Tokenizer, ids: Sequence[int]) -> Text:
    """The pieces of ``ids`` side by side, one colour each in turn."""
    out = Text()
    for k, i in enumerate(ids[:SHOWN_MAX]):
        piece = tok.piece(i)
        style = SPECIAL if tok.token_type(i) in SPECIAL_TYPES else SPANS[k % 2]
        out.append(escape(piece), style)
        if _ends_line(piece):
            out.append("\n")
    if len(ids) > SHOWN_MAX:
        out.append(f" … and {len(ids) - SHOWN_MAX:,} more", "dim")
    return out


def id_line(tok: Tokenizer, ids: Sequence[int]) -> Text:
    """The ids of ``ids``, each in its span's colour, after the count."""
    out = Text(plural(len(ids), "token") + ": ", "bold")
    for k, i in enumerate(ids[:SHOWN_MAX]):
        if k:
            out.append(" ")
        out.append(str(i), "bold #c39bd3" if tok.token_type(i) in SPECIAL_TYPES else IDS[k % 2])
    if len(ids) > SHOWN_MAX:
        out.append(" …", "dim")
    return out


def vocab_row(tok: Tokenizer, token_id: int, id_width: int, score: bool) -> Text:
    """One row of the vocabulary table: id, type, score (``score``), piece."""
    t = tok.token_type(token_id)
    name = TYPE_NAMES.get(t, str(t))
    special = t in SPECIAL_TYPES
    row = Text(f"{token_id:>{id_width}} ", "dim")
    row.append(f"{SHORT_TYPES.get(name, name):<7} ", "magenta" if special else "dim")
    if score:
        s = tok.score(token_id)
        row.append(f"{f32(s) if s is not None else '':>10} ", "dim")
    row.append(f"'{escape(tok.piece(token_id))}'", "bold magenta" if special else "")
    return row


def vocab_header(id_width: int, score: bool) -> Text:
    return Text(f"{'id':>{id_width}} {'type':<7} " + (f"{'score':>10} " if score else "") + "piece")


def findings_text(findings: Sequence[Finding]) -> Text:
    """The audit's findings: severity, check and place, message, evidence."""
    if not findings:
        return Text("audit: no findings", "green")
    counts = [(s, sum(f.severity == s for f in findings)) for s in SEVERITY_STYLES]
    out = Text("audit: " + ", ".join(plural(n, s, "unsafe" if s == "unsafe" else None) for s, n in counts if n), "bold")
    for f in findings:
        out.append("\n")
        out.append(f"{f.severity:<8}", SEVERITY_STYLES.get(f.severity, ""))
        out.append(f" {f.check}", "bold")
        if f.line is not None:
            out.append(f"  line {f.line}, column {f.column}", "dim")
        out.append(f"\n  {escape(f.message)}")
        if f.evidence:
            out.append("\n  evidence: ", "dim")
            out.append(escape(f.evidence))
    return out
