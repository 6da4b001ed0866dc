"""The statistics API: splats from their pattern, quick samples, exact streaming passes.

Nothing is kept between calls: a caller that wants to reuse results (the
TUI) passes ``cached`` and ``on_result`` to the exact pass.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from ..dtypes import DType
from ..errors import Cancelled
from ..model import SPLAT, Entry, read_bytes
from ..sources import is_remote
from .accumulate import _Acc, _new_acc
from .decoding import DecodeError, _unit, chunk_bytes, decoder, element_count, need_dtype
from .result import Stats

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
    ``threads``: decoding threads.

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
    """Exact statistics of many entries, in order, through one pool of
    ``threads`` workers that keeps chunks of the next entries in flight (a
    file of many small tensors keeps both cores busy). Yields ``(entry,
    Stats)``, or ``(entry, DecodeError)`` for an entry that cannot be
    decoded (left out with ``skip_undecodable``). ``progress(done, total,
    entry)`` counts bytes over all entries. ``cancel.is_set()`` stops with
    ``Cancelled``.

    The caller's cache, if it keeps one: ``cached(entry, dtype, bins)``
    answers before any byte is read (a result it returns costs nothing),
    and ``on_result(entry, stats, dtype, bins)`` hears each result read
    from an entry's bytes (not a splat's, not a cached one); ``dtype`` is
    what the bytes are read as."""
    decoders: dict[int, Callable[[bytes], np.ndarray]] = {}
    plans: list[tuple[Entry, DType | None, list[tuple[int, int]], Stats | Exception | None]] = []
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
        decoders[len(plans)] = decoder(e, d)
        plans.append((e, d, [(p, min(step, usable - p)) for p in range(0, usable, step)], None))
    total = sum(n for _e, _d, spans, _r in plans for _p, n in spans)
    if threads is None and any(spans and _remote(e) for e, _d, spans, _r in plans):
        # One reader for remote files: two would each fetch the cache block
        # their neighbouring chunks share (1.3-1.9x a big tensor's bytes,
        # bench/RESULTS.md), and the network, not decoding, sets the pace.
        threads = 1
    threads = threads or min(2, os.cpu_count() or 1)

    def work(k: int, span: tuple[int, int]) -> _Acc:
        if cancel is not None and cancel.is_set():
            raise Cancelled("statistics")
        e, d, _spans, _r = plans[k]
        assert d is not None
        a = _new_acc(d)
        a.add(decoders[k](read_bytes(e, *span)))
        return a

    jobs = ((k, span) for k, (_e, _d, spans, _r) in enumerate(plans) for span in spans)
    done = 0
    pool = ThreadPoolExecutor(threads) if threads > 1 and total else None
    window: list[tuple[int, tuple[int, int], Future[_Acc]]] = []

    def fill() -> None:
        # numpy, dequantizing and pread release the GIL: chunks in flight
        # use every core; a bounded window keeps memory flat.
        assert pool is not None
        while len(window) < threads * 2:
            job = next(jobs, None)
            if job is None:
                return
            window.append((*job, pool.submit(work, *job)))

    try:
        for k, (e, dt, spans, ready) in enumerate(plans):
            if cancel is not None and cancel.is_set():
                raise Cancelled("statistics")
            if ready is not None or dt is None:
                assert ready is not None
                yield e, ready
                continue
            acc = _new_acc(dt)
            for span in spans:
                if pool is not None:
                    fill()
                    jk, jspan, fut = window.pop(0)
                    assert (jk, jspan) == (k, span)
                    part = fut.result()
                else:
                    part = work(k, span)
                acc.merge(part)
                done += span[1]
                if progress:
                    progress(done, total, e)
            st = acc.result(True, bins, dt.name)
            if on_result is not None:
                on_result(e, st, dt, bins)
            yield e, st
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _remote(entry: Entry) -> bool:
    src = entry.source
    return src.remote if src is not None else is_remote(entry.file)
