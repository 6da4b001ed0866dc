"""The cache of exact results, per entry, keyed by the entry and its file's
identity (device, inode, size, modification time), so that a file that
changes is read again."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from ..errors import IrpaError
from ..model import SPLAT, Entry
from .decoding import value_dtype
from .result import Stats

CACHE_ENTRIES = 4096  # exact results kept (a few KB each)

_CACHE: OrderedDict[tuple, tuple[tuple | None, Stats]] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def file_identity(path: str) -> tuple | None:
    """What says a file is still the one we read: device, inode, size and
    modification time (None when it cannot be stat'ed)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _cache_key(entry: Entry, as_dtype, bins: int) -> tuple:
    d = value_dtype(entry, as_dtype)
    return (entry, d.name if d is not None else None, bins)


def _identity(entry: Entry) -> tuple | None:
    """What must not change for a cached result to stand: nothing for a
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


def cached_stats(entry: Entry, as_dtype=None, bins: int = 64) -> Stats | None:
    """The exact statistics computed before for this entry, if its file has
    not changed since (a changed file drops every result read from it)."""
    key = _cache_key(entry, as_dtype, bins)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is None:
        return None
    ident, st = hit
    if ident is not None and ident == _identity(entry):
        with _CACHE_LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
        return st
    forget_file(entry.file)
    return None


def remember(entry: Entry, st: Stats, as_dtype=None, bins: int = 64) -> None:
    """Keep an exact result (the oldest go past CACHE_ENTRIES)."""
    if not st.exact:
        return
    ident = _identity(entry)
    if ident is None:
        return
    with _CACHE_LOCK:
        _CACHE[_cache_key(entry, as_dtype, bins)] = (ident, st)
        while len(_CACHE) > CACHE_ENTRIES:
            _CACHE.popitem(last=False)


def forget_file(path: str) -> None:
    with _CACHE_LOCK:
        for key in [k for k in _CACHE if k[0].file == path]:
            del _CACHE[key]


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()
