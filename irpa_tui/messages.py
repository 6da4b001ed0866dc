"""The messages between the app and its screens, and between modules.

Screens never import the app: they post these, they bubble up to
``IrpaApp``, which handles them (``on_write_requested`` and so on). A
message private to one widget or screen stays in its class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from irpa_core.model import Archive, Entry
    from irpa_core.output import Output, Split
    from irpa_core.plan import Target
    from irpa_core.scan import Row
    from irpa_core.stats import Stats
    from irpa_core.write import Progress

    from .fetching import Fetched

    # What a write is verified against: the ``Output`` it was written from,
    # irpa targets, or a function of the file's format giving the ``Output``.
    Expected = Output | Sequence[Target] | Callable[[str], Output]


# -- to the app -----------------------------------------------------------------


@dataclass
class Opened(Message):
    """The open worker ended: the archives, or an error, or a cancel (both None)."""

    archives: list[Archive] | None
    error: str | None = None
    fetched: Fetched | None = None


@dataclass
class OpenAbandoned(Message):
    """Cancel pressed again while a cancelled open stops: leave at once."""


@dataclass
class WriteRequested(Message):
    """Write an ``Output`` (or irpa targets) to ``output`` with the progress
    screen (``split``: a GGUF ``Output`` as shards)."""

    targets: Output | Sequence[Target]
    output: str
    alignment: int | None = 64
    split: Split | None = None


@dataclass
class Written(Message):
    """A write is done: ``path`` is what verify and open start from (a
    split set's first shard)."""

    path: str


@dataclass
class VerifyRequested(Message):
    """Verify the file ``output`` against ``expected`` (``entries``: the
    source entries it reads, whose remote fetches are shown)."""

    expected: Expected
    output: str
    entries: Sequence[Entry] | None = None


@dataclass
class OpenWritten(Message):
    """Browse the archive just written, in place of the current one."""

    output: str


# -- between modules ------------------------------------------------------------


@dataclass
class ProgressUpdate(Message):
    """The latest progress event of a job (posted at most RATE times a second
    by a ``Coalescer``: each is shown, none is dropped here)."""

    event: Progress


@dataclass
class JobDone(Message):
    """A job ended: ``state`` done / cancelled / failed, and its result or reason."""

    state: str
    payload: object


@dataclass
class ScanProgress(Message):
    """Rows (and full statistics) a scan found since its last message (not
    replaceable: each brings rows of its own)."""

    done: int
    total: int
    entries: int
    rows: dict[int, Row]
    full: dict[int, Stats]
    final: bool = False
    error: str = ""


# -- within a screen ------------------------------------------------------------


@dataclass
class SideStats(Message):
    """Both sides' statistics of the pane's row ``row`` (verify, compare:
    ``side_stats.both_sides`` reports them from a worker)."""

    row: object
    a: Stats | None
    b: Stats | None
    exact: bool  # else sampled
    final: bool  # no exact pass follows
