"""The statistics API: splats from their pattern, quick samples, exact streaming passes.

Nothing is kept between calls: a caller that wants to reuse results (the
TUI) passes ``cached`` and ``on_result`` to the exact pass.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from ..dtypes import DType
from ..errors import Cancelled
from ..model import SPLAT, Entry, read_bytes
from ..sources import is_remote
from . import blas, tasks
from .accumulate import _Acc, _new_acc
from .decoding import DecodeError, _unit, chunk_bytes, compiled_for, decoder, element_count, need_dtype
from .result import Stats
from .tasks import Span

SAMPLE_VALUES = 1 << 18  # values read for the quick estimate
SAMPLE_SPOTS = 64  # evenly spaced places they come from
# Hooks for a cache the caller keeps (see stats_many): its answer for
# (entry, dtype read as, bins), and each exact result read now.
Cached = Callable[[Entry, DType, int], Stats | None]
OnResult = Callable[[Entry, Stats, DType, int], None]


def splat_stats(entry: Entry, as_dtype=None, bins: int = 64) -> Stats:
    """Statistics of a splat from its pattern alone: no data read."""
    d = need_dtype(entry, as_dtype)
    pat = entry.pattern or b"\0"
    unit = _unit(d)
    period = pat * (math.lcm(len(pat), unit) // len(pat))
    vals = decoder(entry, d)(period)
    total = element_count(entry, d)
    acc = _new_acc(d)
    if total and vals.size:
        acc.add(vals)
    return acc.result(True, bins, d.name, total)


def sample_stats(
    entry: Entry,
    as_dtype=None,
    bins: int = 64,
    budget: int = SAMPLE_VALUES,
    spots: int = SAMPLE_SPOTS,
    cancel=None,
    *,
    cached: Cached | None = None,
    on_result: OnResult | None = None,
) -> Stats:
    """A quick estimate from about ``budget`` values read at ``spots``
    evenly spaced places; exact (and flagged so) when the tensor is that
    small: then it is ``compute_stats``, with ``cached`` and ``on_result``.
    Fewer spots suit a remote file, where each place read costs a request
    and a cache block. ``cancel.is_set()`` stops between places with
    ``Cancelled``."""
    if entry.kind == SPLAT:
        return splat_stats(entry, as_dtype, bins)
    d = need_dtype(entry, as_dtype)
    unit = _unit(d)
    units = entry.length // unit
    total = element_count(entry, d)
    if total <= budget:
        return compute_stats(entry, as_dtype=as_dtype, bins=bins, cancel=cancel, cached=cached, on_result=on_result)
    dec = decoder(entry, d)
    spots = max(2, spots)
    per_spot = max(1, budget // spots // d.block_size)
    acc = _new_acc(d)
    for i in range(spots):
        if cancel is not None and cancel.is_set():
            raise Cancelled("statistics")
        start = (units - per_spot) * i // (spots - 1)
        acc.add(dec(read_bytes(entry, start * unit, per_spot * unit)))
    return acc.result(False, bins, d.name, total)


def compute_stats(
    entry: Entry,
    *,
    as_dtype=None,
    bins: int = 64,
    progress: Callable[[int, int], None] | None = None,
    cancel=None,
    threads: int | None = None,
    cached: Cached | None = None,
    on_result: OnResult | None = None,
) -> Stats:
    """Exact statistics of one entry, in one streaming pass (memory stays
    flat whatever its size; a splat is computed from its pattern, without
    reading data).

    The ``Stats`` has ``count``, ``min``, ``max``, ``mean``, ``std``,
    ``zeros`` (and ``sparsity``, a percentage), ``nans``, ``infs``,
    ``percentiles`` (``"1"``, ``"50"``, ``"99"``...: exact when
    ``percentiles_exact``, else within ``percentile_error``, relative), a
    histogram of ``bins`` bins (``hist_edges``, ``hist_counts``) and
    ``to_json()``. NaN and infinities are counted, not included in the
    other figures. ``as_dtype``: read the bytes as this dtype.
    ``progress(done, total)`` hears bytes read after each chunk;
    ``cancel.is_set()`` (a ``threading.Event``) stops with ``Cancelled``.
    Raises DecodeError for an entry that cannot be decoded.

    ``cached``/``on_result``: a cache of the caller's (see ``stats_many``);
    ``threads``: how many threads read and decode (see ``stats_many``).

    Example::

        archive = open_archive("model.gguf")
        s = compute_stats(archive.by_name["blk.0.ffn_down.weight"])
        print(s.mean, s.std, s.percentiles["99"], s.sparsity)
    """
    for _entry, result in stats_many(
        [entry],
        as_dtype=as_dtype,
        bins=bins,
        cancel=cancel,
        threads=threads,
        progress=(lambda done, total, _e: progress(done, total)) if progress else None,
        cached=cached,
        on_result=on_result,
    ):
        if isinstance(result, Exception):
            raise result
        return result
    raise AssertionError("stats_many yields one result per entry")


def stats_many(
    entries: Iterable[Entry],
    *,
    as_dtype=None,
    bins: int = 64,
    progress: Callable[[int, int, Entry], None] | None = None,
    cancel=None,
    threads: int | None = None,
    skip_undecodable: bool = False,
    cached: Cached | None = None,
    on_result: OnResult | None = None,
) -> Iterator[tuple[Entry, Stats | Exception]]:
    """Exact statistics of many entries, in order. Chunks of the next
    entries are in flight in ``threads`` threads (default: one per core up
    to ``MAX_THREADS``; one for remote files). Results are the same however
    many threads compute them, bit for bit. Yields ``(entry, Stats)``, or
    ``(entry, DecodeError)`` for an entry that cannot be decoded (left out
    with ``skip_undecodable``). ``progress(done, total, entry)`` counts
    bytes over all entries. ``cancel.is_set()`` stops with ``Cancelled``.

    The caller's cache, if it keeps one: ``cached(entry, dtype, bins)``
    answers before any byte is read (a result it returns costs nothing),
    and ``on_result(entry, stats, dtype, bins)`` hears each result read
    from an entry's bytes (not a splat's, not a cached one); ``dtype`` is
    what the bytes are read as."""
    plans: list[tuple[Entry, DType | None, list[Span], Stats | Exception | None]] = []
    for e in entries:
        try:
            d = need_dtype(e, as_dtype)
        except DecodeError as err:
            if not skip_undecodable:
                plans.append((e, None, [], err))
            continue
        hit = cached(e, d, bins) if cached is not None else None
        if hit is not None or e.kind == SPLAT:
            plans.append((e, d, [], hit if hit is not None else splat_stats(e, as_dtype, bins)))
            continue
        usable = e.length - e.length % _unit(d)
        step = chunk_bytes(d)
        plans.append((e, d, [(p, min(step, usable - p)) for p in range(0, usable, step)], None))
    work = _tasks(plans)
    total = sum(n for _e, _d, spans, _r in plans for _p, n in spans)
    compiled_for((e, d) for e, d, spans, _r in plans if d is not None and spans)
    if threads is None:
        # One reader for remote files: two would each fetch the cache block
        # their neighbouring chunks share (1.3-1.9x a big tensor's bytes,
        # bench/RESULTS.md), and the network, not decoding, sets the pace.
        remote = any(_remote(e) for e, _d, spans, _r in plans if spans)
        threads = 1 if remote else min(os.cpu_count() or 1, MAX_THREADS)
    width = min(threads, len(work))  # no idle threads
    executor = ThreadPoolExecutor(width, thread_name_prefix="irpa-stats") if total and width > 1 else None

    def answer(fut: Future) -> list[tasks.Part]:
        while True:  # wait in short steps: a cancel stops the wait
            if cancel is not None and cancel.is_set():
                raise Cancelled("statistics")
            try:
                return fut.result(timeout=_POLL)
            except FutureTimeout:
                continue

    # Tasks in flight, oldest first: results are merged in the order of the chunks.
    window: deque[tuple[list[tuple[int, list[Span]]], Future | None]] = deque()
    pending = iter(work)
    accs: dict[int, _Acc] = {}  # big entries' merges so far
    whole: dict[int, Stats] = {}  # entries done in one task
    done = 0
    next_plan = 0
    try:
        with blas.one_thread():
            while True:
                while executor is not None and len(window) < _IN_FLIGHT * width:
                    task = next(pending, None)
                    if task is None:
                        break
                    window.append((task, executor.submit(tasks.run_items, _items(plans, task, bins), cancel)))
                if executor is None:
                    task = next(pending, None)
                    if task is not None:
                        window.append((task, None))
                # Results ready to give: every plan before the oldest task in flight.
                upto = window[0][0][0][0] if window else len(plans)
                while next_plan < upto:
                    k = next_plan
                    e, dt, _spans, ready = plans[k]
                    if ready is not None:
                        yield e, ready
                    else:
                        assert dt is not None
                        if k in whole:
                            st = whole.pop(k)
                        else:  # merged here (or no whole value: nothing read)
                            st = accs.pop(k, _new_acc(dt)).result(True, bins, dt.name)
                        if on_result is not None:
                            on_result(e, st, dt, bins)
                        yield e, st
                    next_plan += 1
                if not window:
                    break
                if cancel is not None and cancel.is_set():
                    raise Cancelled("statistics")
                task, fut = window.popleft()
                parts = answer(fut) if fut is not None else tasks.run_items(_items(plans, task, bins), cancel)
                for (k, spans), part in zip(task, parts, strict=True):
                    e, dt, _s, _r = plans[k]
                    assert dt is not None
                    if isinstance(part, Stats):
                        whole[k] = part
                    else:
                        moments, counts = part
                        acc = accs.setdefault(k, _new_acc(dt))
                        for m in moments:
                            acc.merge_moments(m)
                        acc.merge_counts(counts)
                    done += sum(n for _p, n in spans)
                    if progress:
                        progress(done, total, e)
    finally:
        if executor is not None:
            # After a cancel, running tasks end at their next chunk (after an
            # error or an early stop, with their few chunks).
            executor.shutdown(wait=True, cancel_futures=True)


_POLL = 0.05  # seconds between looks at the cancel flag while a task runs
_IN_FLIGHT = 2  # tasks in flight per thread: a thread never waits for the merge
# Threads by default at most: each holds ~10 MB (a chunk's float64 copy, its
# pieces, its tasks' bytes), and past a few the memory bus is the limit.
MAX_THREADS = 8


def _items(plans, task, bins: int) -> list[tasks.Item]:
    """A task's items; an entry it holds whole is finished there."""
    return [(plans[k][0], plans[k][1], spans, bins if len(spans) == len(plans[k][2]) else None) for k, spans in task]


def _tasks(plans) -> list[list[tuple[int, list[Span]]]]:
    """The work in tasks of about ``TASK_CHUNKS`` chunks, in order: a big
    tensor's chunks in runs, small tensors together."""
    out: list[list[tuple[int, list[Span]]]] = []
    batch: list[tuple[int, list[Span]]] = []
    size = 0
    for k, (_e, _d, spans, _r) in enumerate(plans):
        for i in range(0, len(spans), tasks.TASK_CHUNKS):
            run = spans[i : i + tasks.TASK_CHUNKS]
            batch.append((k, run))
            size += len(run)
            if size >= tasks.TASK_CHUNKS or len(batch) >= _BATCH_ENTRIES:
                out.append(batch)
                batch, size = [], 0
    if batch:
        out.append(batch)
    return out


_BATCH_ENTRIES = 64  # small tensors per task at most


def _remote(entry: Entry) -> bool:
    src = entry.source
    return src.remote if src is not None else is_remote(entry.file)
