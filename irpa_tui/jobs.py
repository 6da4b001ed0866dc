"""Long number crunching (exact statistics, the scan, heatmaps, writes) in
a child process, so the interface never waits for it: ``JobRunner``, one
per app (``IrpaApp.jobs``).

Threads share the GIL with the interface: a pass of numpy over a 167M-value
tensor in two threads leaves the UI thread a fraction of it, and a key takes
hundreds of milliseconds. A child process has its own interpreter. Children
are forked from a ``forkserver`` (a clean process, never a fork of this
threaded one) with the engine already imported, so a job starts in
milliseconds. The runner starts the server on ``start`` (the app calls it
in a thread once an archive is open, so the first job does not wait for
it: about 0.25 s with a spare child ready, bench/RESULTS.md) or its first job, never when the app is
merely made. The calling
thread (a Textual thread worker) waits on a pipe, GIL released, relays
progress at a bounded rate and stops the child when the cancel event is
set. Where processes cannot be made, the job runs in the calling thread
instead (slower interface, same results).

Each child runs one job, and the next one is started ahead (a spare, made
in a thread of its own when the runner starts and after each job), so a
job does not wait for a fork and the child's start-up (multiprocessing
runs the main script again in every child): it is one message to a process
already waiting, which takes the interface's working directory, then the
job. Starting a process takes several switches between this thread and the
interface's, which is drawing the job's screen at that moment: a good part
of a short write (bench/RESULTS.md).

Arguments cross as pickles, whatever holds the entries (an entry, a list,
a write's ``Output`` and its targets). An open local ``Source`` crosses as
its path and file identity (a descriptor does not cross processes; the
reducer is registered for the pipes' pickler when a runner starts): the
child opens the path and checks that it names the same file; when it does
not (the file was replaced since the interface opened it, e.g. written
over), the job runs in the calling thread on the interface's own open
file rather than read another file's bytes. A remote source crosses as its
address and what its first answer said, so the child reads the ranges it
needs without a new probe. The caller names the sources a job reads
(``sources=``; they cross in the same pickle as the arguments, so the
child counts the copies the job reads) and the child reports what they
fetched with each message; ``fetched()`` sums it over every job of the
runner (the interface's fetch meter adds it to its own sources' counters).
The engine's errors cross as their class and fields (their constructors
take more than the message pickle would hand back) and are raised again as
they were.

Cancelling terminates the child. A job that must clean up after itself
(a write's temporary file) runs with ``grace``: the terminate signal only
raises its cancel flag, the job stops at its next check and answers as it
would in a thread, and only a child still running after ``grace`` seconds
is killed.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from multiprocessing.reduction import ForkingPickler
from typing import Any

from irpa_core.errors import Cancelled
from irpa_core.sources import LocalSource, Source, shared_source
from irpa_core.write import process_alive

POLL = 0.02  # seconds between looks at the pipe and the cancel event
RATE = 20  # progress messages per second at most, child to parent
NICE = 10  # the child's scheduling priority by default: below the interface
_SPARE_WAIT = 5  # seconds at most to wait for a spare being started
# What jobs import, imported once by the fork server: llvmlite too, which
# links the compiled kernels' machine code (most of the ~35 ms a child
# takes to load them; numba is not needed).
_PRELOAD = ["numpy", "gguf.quants", "irpa_core.stats", "irpa_core.stats.native", "llvmlite.binding", "irpa_core.scan"]
_PRELOAD += ["irpa_core.heatmap", "irpa_core.write"]
_PRELOAD.append(__name__)  # the child's own entry point (imported by every job otherwise)


class JobRunner:
    """Runs jobs in child processes (see the module's docstring); owned by
    the app. Nothing is started before ``start`` or the first job.
    ``remote``: the jobs will read remote files, so the fork server imports
    the HTTP client once rather than each job (no effect when another
    runner of this process started the server already)."""

    def __init__(self, remote: bool = False) -> None:
        self.remote = remote
        self._lock = threading.Lock()  # guards _context, _started, _disabled
        self._context: Any = None
        self._started = False
        self._disabled = False
        self._fetched = [0, 0]  # bytes and requests fetched by children, all jobs
        self._fetched_lock = threading.Lock()
        self._spare: _Child | None = None  # a child started ahead, waiting for its job
        self._spare_state = threading.Condition()  # guards _spare, _filling and _closed
        self._filling = False  # a thread is starting the spare
        self._closed = False

    # -- state ------------------------------------------------------------

    def fetched(self) -> tuple[int, int]:
        """Bytes and requests that this runner's jobs fetched from remote
        files so far (the children's counts, as last reported)."""
        with self._fetched_lock:
            return self._fetched[0], self._fetched[1]

    def _add_fetched(self, now: tuple[int, int], seen: list[int]) -> None:
        """Add what a child fetched since its last report (``seen``: its
        totals reported before, updated)."""
        with self._fetched_lock:
            self._fetched[0] += now[0] - seen[0]
            self._fetched[1] += now[1] - seen[1]
        seen[:] = now

    @property
    def in_children(self) -> bool:
        """Jobs run in child processes (not the in-thread fallback)."""
        with self._lock:
            return self._context is not None

    def spare_ready(self, timeout: float) -> bool:
        """Wait until a spare child waits for the next job (tests)."""
        with self._spare_state:
            return self._spare_state.wait_for(lambda: self._spare is not None, timeout=timeout)

    # -- the fork server and the spare -------------------------------------

    def start(self) -> Any:
        """Start the fork server and the first spare (once): the context,
        or None where no child can be made."""
        with self._lock:
            if self._started:
                return self._context
            self._started = True
            try:
                ctx = mp.get_context("forkserver")
            except ValueError:  # no forkserver on this platform
                self._disabled = True
                return None
            ctx.set_forkserver_preload([*_PRELOAD, "irpa_core.remote"] if self.remote else _PRELOAD)
            _register_reducers()
            if not _ensure_server():
                self._disabled = True
                return None
            self._context = ctx
        self._refill()
        return ctx

    def _ctx(self) -> Any:
        with self._lock:
            started, ctx = self._started, self._context
        return ctx if started else self.start()

    def _disable(self) -> None:
        with self._lock:
            self._disabled, self._context = True, None

    def _take_spare(self) -> _Child | None:
        """The spare child; one being started is waited for (it is further
        on than a new one would be)."""
        with self._spare_state:
            self._spare_state.wait_for(lambda: self._spare is not None or not self._filling, timeout=_SPARE_WAIT)
            child, self._spare = self._spare, None
        if child is not None and not child.proc.is_alive():
            child.discard()
            return None
        return child

    def _refill(self) -> None:
        """Start the next job's child in a thread (off any job's path),
        unless there is one, or one is being started."""
        ctx = self._context
        with self._spare_state:
            if ctx is None or self._spare is not None or self._filling or self._closed:
                return
            self._filling = True

        def make() -> None:
            child: _Child | None = None
            # No spare: the next job starts its own child, or finds why it cannot.
            with contextlib.suppress(Exception):
                child = _Child(ctx)
            with self._spare_state:
                if self._spare is None and not self._closed:
                    self._spare, child = child, None
                self._filling = False
                self._spare_state.notify_all()
            if child is not None:
                child.discard()

        threading.Thread(target=make, name="irpa-spare-child", daemon=True).start()

    def close(self) -> None:
        """No more jobs (the app exits): the spare is let go. A spare being
        started is waited for (a few tens of ms): a process that exited
        while the fork server's new child read its start-up data from it
        left that child printing an ``EOFError`` traceback on the terminal."""
        with self._spare_state:
            self._closed = True
            self._spare_state.wait_for(lambda: not self._filling, timeout=_SPARE_WAIT)
            child, self._spare = self._spare, None
        if child is not None:
            child.discard()

    # -- a job ----------------------------------------------------------------

    def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        progress: Callable[..., None] | None = None,
        cancel: threading.Event | None = None,
        rate: float | None = RATE,
        nice: int = NICE,
        grace: float = 0.0,
        sources: Iterable[Source] = (),
        **kwargs: Any,
    ) -> Any:
        """``fn(*args, progress=..., **kwargs)`` in a child process; returns its
        result or raises its exception (``Cancelled`` when ``cancel`` is set).
        Progress calls beyond ``rate`` a second are dropped (``None``: every
        call is delivered, for jobs that batch their own). ``nice``: how far
        below the interface the child runs (0 for a job the user waits on as a
        whole, such as the scan, to run at full speed on a busy machine).
        ``grace``: 0, a cancel kills the job where it is (it leaves nothing
        behind); above 0, the job gets ``cancel=`` a flag that the cancel
        raises, and its own answer (its ``Cancelled``, or its result if it had
        finished) is returned, unless it is still running after ``grace``
        seconds: then it is killed and ``Cancelled`` raised. ``sources``: the
        remote sources the job reads, whose fetches it reports. ``fn`` must be
        a module-level function and its arguments picklable. Call from a
        thread, never from the event loop."""
        ctx = self._ctx()
        if ctx is None:
            return _inline(fn, args, kwargs, progress, cancel)
        remote = [s for s in sources if s.remote]
        job = (fn, args, kwargs, rate, nice, grace, os.getpid(), remote)
        child = self._take_spare()
        if child is not None and not _send(child, job):
            child = None  # it died: a new one
        if child is None:
            try:
                child = _Child(ctx)
            except (OSError, ValueError):  # no child could be started: do it here
                self._disable()
                return _inline(fn, args, kwargs, progress, cancel)
            if not _send(child, job):
                self._disable()
                return _inline(fn, args, kwargs, progress, cancel)
        parent, proc = child.conn, child.proc
        seen = [0, 0]
        stopping: float | None = None  # when a job with grace was told to stop

        def ended() -> Exception:
            proc.join(1)
            if stopping is not None:
                return Cancelled("background job")
            return RuntimeError(f"the background process ended without a result (exit code {proc.exitcode})")

        try:
            while True:
                if cancel is not None and cancel.is_set() and stopping is None:
                    proc.terminate()
                    if not grace:
                        raise Cancelled("background job")
                    stopping = time.monotonic()
                if stopping is not None and time.monotonic() - stopping > grace:
                    proc.kill()
                    raise Cancelled("background job")
                if parent.poll(POLL):
                    try:
                        kind, payload, counts = parent.recv()
                    except EOFError:
                        raise ended() from None
                    self._add_fetched(counts, seen)
                    if kind == "progress":
                        if progress is not None:
                            progress(*payload)
                    elif kind == "result":
                        return payload
                    elif kind == "moved":
                        return _inline(fn, args, kwargs, progress, cancel)
                    else:
                        raise _rebuild(payload)
                elif not proc.is_alive() and not parent.poll(0):
                    raise ended()
        finally:
            parent.close()
            if proc.is_alive():
                proc.terminate()  # with grace: the job's flag, then a kill if it will not end
                proc.join(grace or 1)
                if proc.is_alive():
                    proc.kill()
            proc.join(1)
            self._refill()  # now, not during the job: starting a child takes CPU from it


def runner_of(app: object) -> JobRunner:
    """The runner of the app a screen or widget runs in (``IrpaApp.jobs``),
    reached without importing the app."""
    jobs = getattr(app, "jobs", None)
    if not isinstance(jobs, JobRunner):
        raise RuntimeError("background jobs run inside IrpaApp, which owns a JobRunner")
    return jobs


def _ensure_server() -> bool:
    """Start the fork server. Multiprocessing hands it the stderr descriptor
    and Textual's replacement has none: the process's own stderr stands in
    meanwhile. False when no server could be started."""
    saved = sys.stderr
    try:
        if sys.__stderr__ is not None and _fileno(sys.stderr) < 0:
            sys.stderr = sys.__stderr__
        from multiprocessing import forkserver

        forkserver.ensure_running()
    except (OSError, ValueError):
        return False
    finally:
        sys.stderr = saved
    return True


def _fileno(stream) -> int:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return -1


class _Stop:
    """A job's cancel flag in the child (``grace``): raised by the terminate
    signal, or found raised once the interface's process is gone (a job such
    as a write must not land after its user's process was killed)."""

    def __init__(self, parent: int) -> None:
        self._set = False
        self._parent = parent
        self._next = 0.0  # when to look for the parent again

    def set(self) -> None:  # from the signal handler: no lock taken
        self._set = True

    def is_set(self) -> bool:
        if not self._set:
            now = time.monotonic()
            if now >= self._next:
                self._next = now + POLL
                self._set = not process_alive(self._parent)
        return self._set


class _Child:
    """A child process waiting for one job on a two-way pipe (``_serve``)."""

    def __init__(self, ctx) -> None:
        self.conn, theirs = ctx.Pipe()
        try:
            self.proc = ctx.Process(target=_serve, args=(theirs,), daemon=True)
            self.proc.start()
        except BaseException:
            self.conn.close()
            raise
        finally:
            theirs.close()

    def discard(self) -> None:
        self.conn.close()
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(1)


def _serve(conn) -> None:
    """A child's life: wait for the working directory and the job (none
    comes when the interface ends first), run it, answer, end."""
    _register_reducers()  # for what the job sends back, as for what came
    try:
        os.chdir(conn.recv())  # before the job: its paths may be relative
        job = conn.recv()
    except EOFError:
        return
    except BaseException as e:  # the job could not be read here (an import failed, say)
        with contextlib.suppress(OSError):
            conn.send(("error", _error_payload(e), (0, 0)))
        conn.close()
        return
    _child(conn, *job)


def _child(
    conn,
    fn: Callable[..., Any],
    args: tuple,
    kwargs: dict,
    rate: float | None,
    nice: int,
    grace: float,
    parent: int,
    remote: list[Source],
) -> None:
    # Below the interface in the scheduler's eyes: a key press gets the CPU
    # at once, and the job all that is left.
    if nice:
        with contextlib.suppress(OSError):
            os.nice(nice)
    last = [0.0]

    def fetched() -> tuple[int, int]:
        # ``remote`` came in the job's pickle: the very copies its entries read.
        return sum(s.bytes_fetched for s in remote), sum(s.requests for s in remote)

    def progress(*values: Any) -> None:
        now = time.monotonic()
        if rate is None or now - last[0] >= 1 / rate:
            last[0] = now
            conn.send(("progress", values, fetched()))

    try:
        if _moved:  # see _reopen_local: the interface runs the job itself
            conn.send(("moved", _moved[0], fetched()))
            return
        if grace:
            stop = _Stop(parent)
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            kwargs = {**kwargs, "cancel": stop}
        result = fn(*args, progress=progress, **kwargs)
        conn.send(("result", result, fetched()))
    except BaseException as e:  # sent back and raised in the parent
        with contextlib.suppress(OSError):  # no parent left to tell
            conn.send(("error", _error_payload(e), fetched()))
    finally:
        conn.close()


def _error_payload(e: BaseException) -> tuple[type[BaseException], tuple, dict]:
    """The exception as its class, arguments and fields: the engine's errors
    take more than their message, so pickle alone would not rebuild them."""
    args = (e.errno, e.strerror, e.filename) if isinstance(e, OSError) and e.errno is not None else e.args
    payload = (type(e), args, dict(vars(e)))
    try:
        pickle.dumps(payload)
    except Exception:
        return (RuntimeError, (f"{type(e).__name__}: {e}",), {})
    return payload


def _rebuild(payload: tuple[type[BaseException], tuple, dict]) -> BaseException:
    cls, args, fields = payload
    if issubclass(cls, OSError):
        return cls(*args)  # errno, strerror and filename are set by the constructor only
    e: BaseException = cls.__new__(cls)
    e.args = args
    e.__dict__.update(fields)
    return e


# In a child (it runs one job): local files whose path names another file
# now, found while the job was unpickled.
_moved: list[str] = []


def _register_reducers() -> None:
    """Local sources cross the pipes of jobs (``ForkingPickler``) as their
    path and identity; anywhere else one is not picklable, as before."""
    ForkingPickler.register(LocalSource, _reduce_local)


def _reduce_local(src: LocalSource) -> tuple:
    """An open local file crosses to a child as its path and identity."""
    return (_reopen_local, (src.name, src.identity))


def _reopen_local(path: str, identity: tuple[int, int]) -> LocalSource | None:
    """In the child: the file at ``path`` (the cached open source every
    entry without a source of its own reads too), noted in ``_moved``
    unless it is the file the interface has open."""
    try:
        src = shared_source(path)
    except Exception:  # gone since: the interface still reads its open copy
        src = None
    if not isinstance(src, LocalSource) or src.identity != identity:
        _moved.append(path)
        return None
    return src


def _send(child: _Child, job: tuple) -> bool:
    """Hand ``job`` to ``child`` with this process's working directory;
    False when the child is gone (it is discarded). A job that does not
    pickle raises (the caller's error)."""
    try:
        child.conn.send(os.getcwd())
        child.conn.send(job)
    except OSError:
        child.discard()
        return False
    except BaseException:
        child.discard()
        raise
    return True


def _inline(fn, args, kwargs, progress, cancel):
    return fn(*args, progress=progress or (lambda *a: None), cancel=cancel, **kwargs)
