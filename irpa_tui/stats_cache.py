"""Exact statistics the interface has computed, so that a tensor seen before shows them at once.

A result is keyed by the entry, the dtype its bytes are read as and the
histogram bins, and stands while the file it was read from is the same
(device, inode, size, modification time; a remote file's address, size and
validator): a changed file drops every result read from it. The engine keeps
nothing; the interface passes ``get`` and ``remember`` to its passes
(``stats_many``'s ``cached`` and ``on_result``) and remembers what its
background jobs and the scan bring back.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from irpa_core.dtypes import DType
from irpa_core.errors import IrpaError
from irpa_core.model import SPLAT, Entry
from irpa_core.stats import Stats, compute_stats, sample_stats, value_dtype

from .fetching import REMOTE_SPOTS, SPOT_VALUES, entry_is_remote

ENTRIES = 4096  # exact results kept (a few KB each)


def file_identity(path: str) -> tuple | None:
    """What says a file is still the one we read: device, inode, size and
    modification time (None when it cannot be stat'ed)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _identity(entry: Entry) -> tuple | None:
    """What must not change for a kept result to stand: nothing for a
    splat; the open file's identity and (size, mtime) now for an entry read
    through a local source (it reads the file it opened, so only a change in
    place matters); a remote source's URL, size and validator; else the
    path's identity on disk."""
    if entry.kind == SPLAT:
        return ()
    src = entry.source
    if src is not None and getattr(src, "remote", False):
        return ("remote", src.name, src.size, getattr(src, "etag", None))
    stamp = getattr(src, "stamp", None)
    if src is not None and stamp is not None:
        try:
            return (getattr(src, "identity", None), *stamp())
        except IrpaError:
            return None
    return file_identity(entry.file)


def _key(entry: Entry, as_dtype: DType | str | None, bins: int) -> tuple:
    d = value_dtype(entry, as_dtype)
    return (entry, d.name if d is not None else None, bins)


class StatsCache:
    """The last ``size`` exact results, least recently used dropped first.
    Thread-safe: workers look up and remember while the interface does."""

    def __init__(self, size: int = ENTRIES) -> None:
        self.size = size
        self._items: OrderedDict[tuple, tuple[tuple | None, Stats]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, entry: Entry, as_dtype: DType | str | None = None, bins: int = 64) -> Stats | None:
        """The exact statistics computed before for this entry, if its file
        has not changed since (a changed file drops every result read from it)."""
        key = _key(entry, as_dtype, bins)
        with self._lock:
            hit = self._items.get(key)
        if hit is None:
            return None
        ident, st = hit
        if ident is not None and ident == _identity(entry):
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
            return st
        self.forget_file(entry.file)
        return None

    def remember(self, entry: Entry, st: Stats, as_dtype: DType | str | None = None, bins: int = 64) -> None:
        """Keep an exact result (estimates are not kept)."""
        if not st.exact:
            return
        ident = _identity(entry)
        if ident is None:
            return
        with self._lock:
            self._items[_key(entry, as_dtype, bins)] = (ident, st)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def forget_file(self, path: str) -> None:
        """Drop every result read from ``path``."""
        with self._lock:
            for key in [k for k in self._items if k[0].file == path]:
                del self._items[key]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


CACHE = StatsCache()  # the one the screens of this process's app share


def estimate(entry: Entry, as_dtype: DType | str | None, cancel: threading.Event) -> Stats:
    """The quick figures the interface shows first (the detail pane, the
    verify pane), through the cache: a local sample; for a remote tensor
    ``REMOTE_SPOTS`` places, or the whole tensor when that costs no more
    (each place costs a block)."""
    get, keep = CACHE.get, CACHE.remember
    if not entry_is_remote(entry):
        return sample_stats(entry, as_dtype=as_dtype, cached=get, on_result=keep)
    if entry.length <= REMOTE_SPOTS * getattr(entry.source, "block_size", 1 << 20):
        return compute_stats(entry, as_dtype=as_dtype, cancel=cancel, cached=get, on_result=keep)
    budget = REMOTE_SPOTS * SPOT_VALUES
    return sample_stats(
        entry, as_dtype=as_dtype, budget=budget, spots=REMOTE_SPOTS, cancel=cancel, cached=get, on_result=keep
    )
