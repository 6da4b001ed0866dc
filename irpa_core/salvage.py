"""Cut-off files: what a truncated archive still holds.

A download cut off in the data keeps a header that parses: the readers list
every entry and record where the data should end (``SourceFile.data_end``);
``model.entry_state`` says of each entry whether its bytes are all there
(``complete``), only the first of them (``partial``) or none (``missing``).
A file cut inside its header is still an error (the reader's precise one).

This module sums that up for every front end: ``truncation(archive)`` (the
bytes present of the bytes expected, the count of each state), the one-line
warning, and the rule for writing (``keep_complete``): a plan that copies an
incomplete entry is refused naming the first, or, when salvaging, those
entries are left out and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from .display import escape, human
from .errors import PlanError
from .formats import registry
from .model import COMPLETE, MISSING, PARTIAL, STATES, Archive, Entry, entry_state, incomplete_detail

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from .model import SourceFile
    from .plan import Target

__all__ = ["COMPLETE", "MISSING", "PARTIAL", "STATES", "IncompleteError", "Truncation", "keep_complete", "truncation"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Truncation:
    """How much of a cut-off archive is there. ``present``/``expected``:
    bytes of the cut-off files, as they are and as their headers say they
    should be; ``counts``: entries of each state, over the whole archive."""

    files: tuple[SourceFile, ...]  # the cut-off files
    present: int
    expected: int
    counts: dict[str, int]
    noun: str  # "tensors", "entries"

    @property
    def entries(self) -> int:
        return sum(self.counts.values())

    @property
    def percent(self) -> str:
        """The share present, rounded down: a file one byte short is not
        shown as 100%."""
        tenths = self.present * 1000 // self.expected if self.expected else 1000
        return f"{tenths // 10}.{tenths % 10}%"

    def line(self) -> str:
        """``truncated: 95.0 MiB of 4.1 GiB present (2.3%); 120 of 339
        tensors complete`` (the TUI's banner; the CLI adds the file)."""
        return (
            f"truncated: {human(self.present)} of {human(self.expected)} present ({self.percent}); "
            f"{self.counts[COMPLETE]:,} of {self.entries:,} {self.noun} complete"
        )

    def warning(self) -> str:
        """The line, naming the cut-off file (escaped: it is text from the
        user or a listing), for ``irpa: warning:``."""
        first = escape(self.files[0].path)
        more = f" (and {len(self.files) - 1} more cut-off files)" if len(self.files) > 1 else ""
        return f"{first}{more}: {self.line()}"

    def to_json(self) -> dict:
        return {
            "files": [f.path for f in self.files],
            "bytes_present": self.present,
            "bytes_expected": self.expected,
            **{state: self.counts[state] for state in STATES},
        }


def truncation(archive: Archive) -> Truncation | None:
    """How much of ``archive`` is there, or None when no file is cut off
    (the common case costs one look at each file)."""
    if not archive.truncated:
        return None
    cut = tuple(f for f in archive.files if f.truncated)
    counts = dict.fromkeys(STATES, 0)
    for e in archive.entries:
        counts[entry_state(e)] += 1
    spec = registry.find(cut[0].format)
    return Truncation(
        files=cut,
        present=sum(f.size for f in cut),
        expected=sum(f.expected_size for f in cut),
        counts=counts,
        noun=spec.noun if spec is not None else "entries",
    )


def truncated_json(archive: Archive) -> dict | None:
    """``Truncation.to_json`` of a cut-off archive; None when every file is
    whole (the ``"truncated"`` of ``irpa dump --json`` and ``irpa info --json``)."""
    t = truncation(archive)
    return t.to_json() if t is not None else None


class IncompleteError(PlanError):
    """A plan copies the bytes of an entry that a cut-off file does not
    hold whole. ``entry``: the first such; ``count``: how many."""

    def __init__(self, entry: Entry, count: int):
        self.entry = entry
        self.count = count
        others = f"; {count:,} incomplete in all" if count > 1 else ""
        super().__init__(
            entry.name,
            f"{entry_state(entry)}, {incomplete_detail(entry)}{others}: exclude it, "
            "or write only the complete ones (irpa convert --salvage)",
        )


def keep_complete(targets: Sequence[Target], salvage: bool) -> tuple[list[Target], list[Target]]:
    """(targets to write, targets left out). A target left out copies or
    casts the bytes of a partial or missing entry; splats and generated
    entries need no bytes and stay. Without ``salvage`` any such target is
    an ``IncompleteError`` naming the first."""
    from .plan import CAST_STREAM, COPY

    kept: list[Target] = []
    out: list[Target] = []
    for t in targets:
        if t.how in (COPY, CAST_STREAM) and entry_state(t.source) != COMPLETE:
            out.append(t)
        else:
            kept.append(t)
    if out and not salvage:
        raise IncompleteError(out[0].source, len(out))
    return kept, out


def left_out_line(left_out: Sequence[Target], written: int) -> str:
    """What salvaging left out, for the output's warnings."""
    first = left_out[0].source
    n = len(left_out)
    return (
        f"salvage: {n:,} incomplete {'entry' if n == 1 else 'entries'} of a cut-off file left out "
        f"(first: '{escape(first.name)}', {entry_state(first)}); {written:,} written"
    )
