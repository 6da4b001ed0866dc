"""Exact passes spread over worker processes: tasks, what a worker does, the pool.

A task is a few consecutive chunks of one tensor, or a few small tensors
whole. A worker runs it on its own core (threads share the GIL between
numpy calls, and decoding small blocks holds it often) and sends back, per
tensor, the moments of each chunk and the value counts of all its chunks
added up; the parent merges the moments in the order of the chunks
(``_Acc.merge_moments``: floating point) and adds the counts (integers), so
a result is the one a single process gives, bit for bit.

Workers open the files by path (an open ``Source`` does not cross
processes) and check that the path still names the file the parent opened.
Remote files stay in the parent (its threads): each worker would fetch
again what the parent's cache holds.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import signal
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

import numpy as np

from ..dtypes import DType
from ..errors import ArchiveError, Cancelled
from ..model import Entry, read_bytes
from ..sources import LocalSource, shared_source
from . import allocator, blas
from .accumulate import FINE_BITS, Moments, _Acc, _new_acc
from .decoding import decoder
from .result import Stats

Span = tuple[int, int]  # offset in the entry's bytes, length
# An entry, the dtype read as, spans of its bytes, and the histogram's
# bins when the spans are the whole entry (else None).
Item = tuple[Entry, DType, list[Span], int | None]
# Per item: the Stats of a whole entry, or each chunk's moments and the
# value counts added up.
Part = Stats | tuple[list[Moments], _Acc]
TASK_CHUNKS = 4  # chunks of a tensor per task: about 4M values, tens of ms


def run_items(items: list[Item], cancel=None) -> list[Part]:
    """The parts of ``items`` (in this process). A whole tensor (``bins``
    given) is merged here as the parent would merge it, and its ``Stats``
    is the part: nothing left for the parent to do."""
    allocator.keep_freed_memory()
    out: list[Part] = []
    for e, d, spans, bins in items:
        dec = decoder(e, d)
        acc = _new_acc(d)
        moments = []
        for span in spans:
            if cancel is not None and cancel.is_set():
                raise Cancelled("statistics")
            a = _new_acc(d)
            a.add_encoded(read_bytes(e, *span), dec, d)
            if bins is None:
                moments.append(a.moments())
            else:
                acc.merge_moments(a.moments())
            acc.merge_counts(a)
        out.append(acc.result(True, bins, d.name) if bins is not None else (moments, acc))
    return out


def local(entries: list[Entry]) -> bool:
    """Whether workers can read these entries: local files, opened here."""
    return all(isinstance(e.source, LocalSource) for e in entries)


def portable(items: list[Item]) -> tuple[dict[str, tuple], list[Item]]:
    """``items`` as they cross to a worker: entries without their open
    source, and what each file was when opened here."""
    files = {}
    out = []
    for e, d, spans, bins in items:
        assert isinstance(e.source, LocalSource)
        files[e.file] = (e.source.identity, e.source.size)
        out.append((dataclasses.replace(e, source=None), d, spans, bins))
    return files, out


def in_worker(files: dict[str, tuple], items: list[Item]) -> tuple[str, Any]:
    """A task, in a worker: ``("parts", parts)`` or ``("error", payload)``
    (the engine's errors take more than their message to rebuild)."""
    try:
        for path, (identity, size) in files.items():
            src = shared_source(path)
            if not isinstance(src, LocalSource) or (src.identity, src.size) != (identity, size):
                raise ArchiveError(path, None, "the file changed while its statistics were computed")
        return "parts", [_packed(part) for part in run_items(items)]
    except Exception as e:  # raised again in the parent
        return "error", (type(e), e.args, dict(vars(e)))


def unpack(answer: tuple[str, Any]) -> list[Part]:
    kind, value = answer
    if kind == "error":
        cls, args, fields = value
        err = cls.__new__(cls)
        err.args = args
        err.__dict__.update(fields)
        raise err
    return [_unpacked(part) for part in value]


def _packed(part: Part) -> object:
    """Fine buckets cross as their non-zero (bucket, count) pairs: a few
    chunks fill a few thousand of the 65,536."""
    if isinstance(part, Stats) or part[1].fine is None:
        return part
    moments, acc = part
    assert acc.fine is not None
    nz = np.flatnonzero(acc.fine).astype(np.uint16)
    sparse = (nz, acc.fine[nz])
    acc.fine = None
    return moments, acc, sparse


def _unpacked(part) -> Part:
    if isinstance(part, Stats) or len(part) == 2:
        return part
    moments, acc, (nz, counts) = part
    acc.fine = np.zeros(1 << FINE_BITS, np.int64)
    acc.fine[nz] = counts
    return moments, acc


def processes_allowed() -> bool:
    """A daemonic process (the TUI's job children) may not start workers."""
    return not mp.current_process().daemon


def start(jobs: int) -> Executor:
    """A pool of ``jobs`` worker processes: forked (fast to start) from a
    process without threads of its own, else from a fork server."""
    methods = mp.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        method = "fork"
    else:
        method = "forkserver" if "forkserver" in methods else "spawn"
    return ProcessPoolExecutor(jobs, mp_context=mp.get_context(method), initializer=_worker_start)


def _worker_start() -> None:
    # ^C reaches the whole process group: the parent stops the pass.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    blas.pin_one_thread()
    threading.Thread(target=_end_with, args=(os.getppid(),), name="irpa-parent-watch", daemon=True).start()


def _end_with(parent: int) -> None:
    """End this worker when its parent is gone (killed, say): an idle
    worker waits on a queue whose other end it holds too, and would never
    hear it."""
    while os.getppid() == parent:
        time.sleep(_WATCH)
    os._exit(1)


_WATCH = 0.5  # seconds between a worker's looks at its parent
