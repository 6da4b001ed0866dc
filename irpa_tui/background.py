"""Long number crunching (exact statistics, the scan, heatmaps) in a child
process, so the interface never waits for it.

Threads share the GIL with the interface: a pass of numpy over a 167M-value
tensor in two threads leaves the UI thread a fraction of it, and a key takes
hundreds of milliseconds. A child process has its own interpreter. Children
are forked from a ``forkserver`` started once (a clean process, never a fork
of this threaded one) with the engine already imported, so a job starts in
milliseconds. The calling thread (a Textual thread worker) waits on a pipe,
GIL released, relays progress at a bounded rate and stops the child when the
cancel event is set. Where processes cannot be made, the job runs in the
calling thread instead (slower interface, same results).

Entries cross without their open local ``Source`` (a descriptor does not
cross processes: the child opens the file by path); a remote source crosses
as its address and what its first answer said, so the child reads the
ranges it needs without a new probe. The child reports what it fetched with
each message; ``fetched()`` sums it over every job of this process (the
interface's fetch meter adds it to its own sources' counters).
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing as mp
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from irpa_core.errors import Cancelled
from irpa_core.model import Entry

POLL = 0.02  # seconds between looks at the pipe and the cancel event
RATE = 20  # progress messages per second at most, child to parent
NICE = 10  # the child's scheduling priority by default: below the interface
_PRELOAD = ["numpy", "gguf.quants", "irpa_core.stats", "irpa_core.scan", "irpa_core.heatmap"]

_context: Any = None
_context_lock = threading.Lock()
_disabled = False
_fetched = [0, 0]  # bytes and requests fetched by children, all jobs
_fetched_lock = threading.Lock()


def fetched() -> tuple[int, int]:
    """Bytes and requests that background jobs fetched from remote files so
    far (the child's counts, as last reported)."""
    with _fetched_lock:
        return _fetched[0], _fetched[1]


def _add_fetched(now: tuple[int, int], seen: list[int]) -> None:
    """Add what a child fetched since its last report (``seen``: its totals
    reported before, updated)."""
    with _fetched_lock:
        _fetched[0] += now[0] - seen[0]
        _fetched[1] += now[1] - seen[1]
    seen[:] = now


def _ctx():
    global _context, _disabled
    with _context_lock:
        if _context is None and not _disabled:
            try:
                ctx = mp.get_context("forkserver")
                ctx.set_forkserver_preload(_PRELOAD)
                _context = ctx
            except ValueError:  # no forkserver on this platform
                _disabled = True
        return _context


def warm_up(remote: bool = False) -> None:
    """Start the fork server now (call before Textual takes over stdout and
    stderr: multiprocessing hands the server the stderr descriptor, and
    Textual's replacement has none). ``remote``: the jobs will read remote
    files, so the server imports the HTTP client once rather than each job
    (no effect on a server already running)."""
    ctx = _ctx()
    if ctx is None:
        return
    if remote:
        ctx.set_forkserver_preload([*_PRELOAD, "irpa_core.remote"])
    saved = sys.stderr
    try:
        if sys.__stderr__ is not None and _fileno(sys.stderr) < 0:
            sys.stderr = sys.__stderr__
        from multiprocessing import forkserver

        forkserver.ensure_running()
    except (OSError, ValueError):
        _disable()
    finally:
        sys.stderr = saved


def _fileno(stream) -> int:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return -1


def _disable() -> None:
    global _disabled, _context
    with _context_lock:
        _disabled, _context = True, None


def _child(conn, fn: Callable[..., Any], args: tuple, kwargs: dict, rate: float | None, nice: int) -> None:
    # Below the interface in the scheduler's eyes: a key press gets the CPU
    # at once, and the job all that is left.
    if nice:
        with contextlib.suppress(OSError):
            os.nice(nice)
    last = [0.0]
    remote = _remote_sources(args, kwargs)

    def fetched() -> tuple[int, int]:
        return sum(s.bytes_fetched for s in remote), sum(s.requests for s in remote)

    def progress(*values: Any) -> None:
        now = time.monotonic()
        if rate is None or now - last[0] >= 1 / rate:
            last[0] = now
            conn.send(("progress", values, fetched()))

    try:
        result = fn(*args, progress=progress, **kwargs)
        conn.send(("result", result, fetched()))
    except BaseException as e:  # sent back and raised in the parent
        try:
            conn.send(("error", e, fetched()))
        except Exception:
            conn.send(("error", RuntimeError(f"{type(e).__name__}: {e}"), fetched()))
    finally:
        conn.close()


def _remote_sources(args: tuple, kwargs: dict) -> list:
    """The remote sources the job's entries read (each once)."""
    seen: dict[int, Any] = {}
    for a in (*args, *kwargs.values()):
        for x in a if isinstance(a, (list, tuple)) else (a,):
            src = x.source if isinstance(x, Entry) else None
            if src is not None and src.remote:
                seen.setdefault(id(src), src)
    return list(seen.values())


def _portable(x: Any) -> Any:
    """``x`` ready for the child: an entry without its open local ``Source``
    (a descriptor does not cross processes; the child reads through
    ``shared_source(file)``), also inside lists and tuples. A remote source
    stays: it crosses as its address (``HttpSource.__reduce__``)."""
    if isinstance(x, Entry):
        return dataclasses.replace(x, source=None) if x.source is not None and not x.source.remote else x
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], Entry):
        return type(x)(_portable(e) for e in x)
    return x


def run(
    fn: Callable[..., Any],
    *args: Any,
    progress: Callable[..., None] | None = None,
    cancel: threading.Event | None = None,
    rate: float | None = RATE,
    nice: int = NICE,
    **kwargs: Any,
) -> Any:
    """``fn(*args, progress=..., **kwargs)`` in a child process; returns its
    result or raises its exception (``Cancelled`` when ``cancel`` is set).
    Progress calls beyond ``rate`` a second are dropped (``None``: every
    call is delivered, for jobs that batch their own). ``nice``: how far
    below the interface the child runs (0 for a job the user waits on as a
    whole, such as the scan, to run at full speed on a busy machine). ``fn`` must be a
    module-level function and its arguments picklable. Call from a thread,
    never from the event loop."""
    ctx = _ctx()
    if ctx is None:
        return _inline(fn, args, kwargs, progress, cancel)
    args = tuple(_portable(a) for a in args)
    kwargs = {k: _portable(v) for k, v in kwargs.items()}
    parent, child = ctx.Pipe(duplex=False)
    try:
        proc = ctx.Process(target=_child, args=(child, fn, args, kwargs, rate, nice), daemon=True)
        proc.start()
    except (OSError, ValueError):  # no server could be started (see warm_up): do it here
        parent.close()
        child.close()
        _disable()
        return _inline(fn, args, kwargs, progress, cancel)
    child.close()
    seen = [0, 0]
    try:
        while True:
            if cancel is not None and cancel.is_set():
                proc.terminate()
                raise Cancelled("background job")
            if parent.poll(POLL):
                try:
                    kind, payload, counts = parent.recv()
                    _add_fetched(counts, seen)
                except EOFError:
                    proc.join(1)
                    raise RuntimeError(
                        f"the background process ended without a result (exit code {proc.exitcode})"
                    ) from None
                if kind == "progress":
                    if progress is not None:
                        progress(*payload)
                elif kind == "result":
                    return payload
                else:
                    raise payload
            elif not proc.is_alive() and not parent.poll(0):
                raise RuntimeError(f"the background process ended without a result (exit code {proc.exitcode})")
    finally:
        parent.close()
        if proc.is_alive():
            proc.terminate()
        proc.join(1)


def _inline(fn, args, kwargs, progress, cancel):
    return fn(*args, progress=progress or (lambda *a: None), cancel=cancel, **kwargs)
