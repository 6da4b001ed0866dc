"""What the interface fetched from remote files, and what a job would fetch.

Every remote ``Source`` counts the bytes it received and the requests it
made; background jobs (a child process reading through its own copies of
the sources, see ``jobs``) report theirs with their progress. A
``FetchMeter`` sums both when asked; screens ask on a timer (``POLL``) and
redraw only on a change, never once per event.

Reading a remote tensor costs its bytes over the network, so jobs that
would fetch more than ``ASK_ABOVE`` are not started without the user's
word: the detail pane's exact statistics pass waits for ``F``, a heatmap
and the scan ask first, all saying how much they would fetch. 64 MiB is
also the engine's bound for reading a file whole from a server that ignores
ranges, and its block cache's size: what irpa reads from a server unasked.
The quick estimate of a remote tensor reads ``REMOTE_SPOTS`` places (each
costs a request and a cache block) instead of the local 64.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from irpa_core.display import human
from irpa_core.model import DATA, Entry
from irpa_core.sources import Source, is_remote

from .jobs import JobRunner

ASK_ABOVE = 64 << 20
POLL = 0.1  # seconds between looks at the counters (10 Hz)
REMOTE_SPOTS = 4  # places the quick estimate of a remote tensor reads
SPOT_VALUES = 4096  # values per place (as the local estimate: 64 x 4096)


@dataclass(frozen=True)
class Fetched:
    """Bytes received and HTTP requests made."""

    bytes: int = 0
    requests: int = 0

    def __sub__(self, other: Fetched) -> Fetched:
        return Fetched(self.bytes - other.bytes, self.requests - other.requests)

    def describe(self) -> str:
        n = self.requests
        return f"fetched {human(self.bytes)} in {n:,} request{'' if n == 1 else 's'}"


class FetchMeter:
    """The remote sources of an archive (or of a job), and the bytes that
    the background ``jobs`` fetched since the meter was made. ``watch`` may
    be called from a worker thread (an open in progress adds each file as
    it opens); everything else is read on the UI thread."""

    def __init__(self, sources: Iterable[Source] = (), jobs: JobRunner | None = None) -> None:
        self._lock = threading.Lock()
        self._sources: list[Source] = []
        self._jobs = jobs
        self._base = jobs.fetched() if jobs is not None else (0, 0)
        for s in sources:
            self.watch(s)

    @classmethod
    def of_entries(cls, entries: Iterable[Entry], jobs: JobRunner | None = None) -> FetchMeter:
        """The sources the entries read (each once)."""
        return cls(sources_of(entries), jobs)

    def watch(self, source: Source) -> None:
        if source.remote:
            with self._lock:
                self._sources.append(source)

    @property
    def remote(self) -> bool:
        """True once a remote source is watched."""
        with self._lock:
            return bool(self._sources)

    @property
    def current(self) -> Source | None:
        """The source watched last (the file an open is reading)."""
        with self._lock:
            return self._sources[-1] if self._sources else None

    @property
    def files(self) -> int:
        with self._lock:
            return len(self._sources)

    def total(self) -> Fetched:
        with self._lock:
            sources = list(self._sources)
        b, r = self._jobs.fetched() if self._jobs is not None else (0, 0)
        return Fetched(
            sum(s.bytes_fetched for s in sources) + b - self._base[0],
            sum(s.requests for s in sources) + r - self._base[1],
        )


def sources_of(entries: Iterable[Entry]) -> list[Source]:
    """The sources the entries read, each once (what a job reading them
    names to the runner, whose fetches it reports)."""
    seen: dict[int, Source] = {}
    for e in entries:
        if e.source is not None:
            seen.setdefault(id(e.source), e.source)
    return list(seen.values())


def entry_is_remote(entry: Entry) -> bool:
    """True when reading the entry's bytes goes over the network."""
    if entry.source is not None:
        return entry.source.remote
    return is_remote(entry.file)


def asks(nbytes: int) -> bool:
    """Whether fetching ``nbytes`` needs the user's word first."""
    return nbytes > ASK_ABOVE


def dear(entry: Entry) -> bool:
    """A remote entry too big to fetch whole unasked."""
    return entry_is_remote(entry) and asks(entry.length)


def remote_bytes(entries: Iterable[Entry]) -> int:
    """Data bytes among ``entries`` that a full read would fetch."""
    return sum(e.length for e in entries if e.kind == DATA and entry_is_remote(e))
