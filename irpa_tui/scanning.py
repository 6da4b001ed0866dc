"""The scan (``S``): exact statistics of every tensor, in a child process.

The worker runs the engine's ``scan_in_batches`` through the app's job
runner at full priority (the user waits for the scan as a whole) and posts
each batch of rows as a ``ScanProgress``; the main screen hands the
messages back here (``take``, ``finish``) and draws what they say. Full
statistics go to the engine's cache for the detail pane when there are few
enough entries to keep them. A cancel keeps the rows found so far.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from irpa_core import scan as SC
from irpa_core.display import plural, shown
from irpa_core.errors import Cancelled, IrpaError
from irpa_core.model import Entry

from .fetching import sources_of
from .jobs import JobRunner
from .messages import ScanProgress
from .stats_cache import CACHE


class Scan:
    """One scan of ``entries``; ``post`` delivers its messages (thread-safe)."""

    def __init__(self, entries: Sequence[Entry], jobs: JobRunner, post: Callable[[ScanProgress], object]) -> None:
        self.entries, self.jobs, self.post = entries, jobs, post
        self.cancel = threading.Event()
        self.rows: dict[int, SC.Row] = {}
        self.keep = len(entries) <= CACHE.size  # full results for the detail pane's cache

    @property
    def running(self) -> bool:
        return not self.cancel.is_set()

    def work(self) -> None:
        """The worker's body (a thread)."""
        entries, post = self.entries, self.post

        def progress(done: int, total: int, count: int, rows: dict, full: dict) -> None:
            post(ScanProgress(done, total, count, rows, full))

        try:
            # In a child process (the interface keeps the whole GIL), at
            # full priority: the user waits for the scan as a whole. The
            # child spreads the work over threads, one per core.
            rows, full = self.jobs.run(
                SC.scan_in_batches, entries, progress=progress, cancel=self.cancel, rate=None, nice=0,
                keep_stats=self.keep, sources=sources_of(entries),
            )  # fmt: skip
            post(ScanProgress(1, 1, len(entries), rows, full, final=True))
        except Cancelled:
            post(ScanProgress(0, 1, 0, {}, {}, final=True, error="cancelled"))
        except (IrpaError, OSError, ValueError, RuntimeError) as e:
            post(ScanProgress(0, 1, 0, {}, {}, final=True, error=shown(str(e), 300)))

    def take(self, msg: ScanProgress) -> str:
        """Keep a message's rows and statistics; what the plan bar says while
        the scan runs."""
        self.rows.update(msg.rows)
        for i, st in msg.full.items():
            CACHE.remember(self.entries[i], st)
        pct = 100 * msg.done / msg.total if msg.total else 0
        return f"scan {pct:.0f}%  {msg.entries:,}/{plural(len(self.entries), 'tensor')}  escape cancels"

    def finish(self, msg: ScanProgress) -> tuple[dict[int, SC.Row], dict[int, tuple[SC.Flag, ...]], str]:
        """The rows, the anomaly flags of each row (with the engine's
        sentence saying why: the pane shows it as ``irpa stats
        --anomalies`` prints it), and what the plan bar says, once the
        final message is taken."""
        n = len(self.entries)
        rows = dict(self.rows)
        flags = SC.anomalies(self.entries, rows)
        if msg.error:
            state = f"scan {msg.error} after {len(rows):,} of {plural(n, 'tensor')}"
        else:
            flagged = sum(len(f) for f in flags.values())
            state = f"scanned {plural(len(rows), 'tensor')}: " + (
                f"{plural(flagged, 'anomaly', 'anomalies')} in {len(flags):,} (filter flag:any)"
                if flags
                else "no anomalies"
            )
        return rows, flags, state


def kinds(flags: dict[int, tuple[SC.Flag, ...]]) -> dict[int, tuple[str, ...]]:
    """The flags' names of each row (what the table and ``flag:`` show)."""
    return {i: tuple(f.kind for f in fs) for i, fs in flags.items()}
