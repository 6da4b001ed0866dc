"""Write an output (``output.Output``: irpa, gguf or safetensors) as a new
file: streaming, cancellable, atomic.

The output's layout gives the header and where each target's bytes go; the
bytes a source holds unchanged are copied as below, the others (a splat
written as data, a cast, a generated entry) are written chunk by chunk as
``output.target_chunks`` produces them. Copied bytes never pass through
Python objects the size of a tensor: each entry's source copies its range
into the output descriptor (``Source.copy_range_to``: a local file through a
populated read-only map and ``pwrite``, with kernel fallbacks; a remote one
by range requests, a few in parallel, written as they arrive). A local
entry is copied one WINDOW at a time, so that progress is reported and the
cancel flag checked between windows; memory stays bounded whatever the
size. The file is built as a temporary beside the destination, fsynced and
renamed over it, so the destination is either untouched or complete, and
converting a file onto itself reads the old bytes until the very end. When
fsyncing, writeback of each window is started as soon as it is written, so
the disk works while we copy and the final fsync waits only for the tail.

A split GGUF (``write_split``) writes every shard as a temporary the same
way and renames them all into place only once every one is complete.

Small files that go with an output (``Output.beside``: a pruned
checkpoint's ``config.json``) are written after it, each atomically, and
only where none is or the same one is: one with another content is never
replaced, and that is refused before any byte is written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import ArchiveError, Cancelled, WriteError
from .model import DATA, Entry, source_of
from .output import Output, Split, target_chunks
from .plan import CAST_STREAM, COPY, Target
from .sources import WINDOW, LocalSource, Source, pwrite_all

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

TMP_MARK = ".irpa-tmp-"


@dataclass(frozen=True)
class Progress:
    name: str  # entry being written
    index: int  # its position (0-based)
    count: int  # number of entries
    bytes_done: int  # data bytes copied so far, all entries
    bytes_total: int  # data bytes to copy in all
    shard: int = 0  # the file being written (0-based), of a split GGUF
    shards: int = 1  # files written


@dataclass(frozen=True)
class WriteResult:
    path: str
    entries: int
    bytes: int  # size of the written file
    data_bytes: int  # tensor bytes written
    seconds: float
    format: str = "irpa"
    fetched: int = 0  # bytes fetched from remote sources while writing
    requests: int = 0  # HTTP requests made while writing
    shards: tuple[WriteResult, ...] = ()  # each file of a split GGUF (``path`` is the first)


def temp_name(output: str) -> str:
    """``dir/.NAME.irpa-tmp-PID-RANDOM``: recognisable, and tied to the pid
    that made it so a later write can tell a leftover from a live one."""
    d, base = os.path.split(os.path.abspath(output))
    return os.path.join(d, f".{base}{TMP_MARK}{os.getpid()}-{os.urandom(4).hex()}")


def clean_leftovers(output: str) -> list[str]:
    """Remove temporaries of earlier writes to ``output`` whose process is
    gone (killed mid-write). Returns the removed paths."""
    d, base = os.path.split(os.path.abspath(output))
    prefix = f".{base}{TMP_MARK}"
    removed: list[str] = []
    try:
        names = os.listdir(d)
    except OSError:
        return removed
    for n in names:
        if not n.startswith(prefix):
            continue
        pid = n[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and process_alive(int(pid)) and int(pid) != os.getpid():
            continue
        try:
            os.unlink(os.path.join(d, n))
            removed.append(os.path.join(d, n))
        except OSError:
            pass
    return removed


def beside_files(out: Output, output: str) -> list[tuple[str, bytes]]:
    """The files of ``out.beside`` to write beside ``output``: (path,
    content), leaving out one already there with the same JSON content.
    WriteError for one there with another content: it is never replaced
    (it may be the input's own config.json), refused before anything is
    written."""
    todo = []
    for name, text in out.beside:
        path = os.path.join(os.path.dirname(os.path.abspath(output)), name)
        try:
            with open(path, "rb") as fh:
                existing = fh.read()
        except FileNotFoundError:
            todo.append((path, text))
            continue
        except OSError as e:
            raise WriteError(path, f"cannot read it: {_os_reason(e)}") from None
        try:
            same = existing == text or json.loads(existing) == json.loads(text)
        except ValueError:
            same = False
        if not same:
            raise WriteError(
                path,
                f"a different {name} is already there and is never replaced: write the output to another "
                f"directory (the output needs its own {name})",
            )
    return todo


def write_small(path: str, text: bytes, fsync: bool = True) -> None:
    """Write a small file atomically: a temporary beside it, then a rename."""
    tmp = temp_name(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(text)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise WriteError(path, _os_reason(e)) from None


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (another user's counts too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_archive(
    targets: Sequence[Target] | Output,
    output,
    *,
    alignment: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancel=None,
    fsync: bool = True,
    temp: str | None = None,
) -> WriteResult:
    """Write an ``Output`` (``Plan.output``), or irpa ``targets``
    (``Plan.apply``), to ``output`` atomically. ``alignment``: see
    ``Output.layout`` (irpa default 64). ``fsync=False`` skips flushing to
    disk before the rename: still atomic if irpa dies, not if the machine
    loses power (like ``cp``). A target the format cannot hold is a
    PlanError raised before anything is created. ``temp``: write the file
    there (a new name) and leave it for the caller to rename (a shard of
    ``write_split``); removed on failure."""
    out = targets if isinstance(targets, Output) else Output("irpa", tuple(targets))
    targets = out.targets
    output = os.fspath(output)
    started = time.perf_counter()
    _check_destination(output)
    beside = [] if temp is not None else beside_files(out, output)
    try:
        lay = out.layout(alignment)
    except ValueError as e:
        raise WriteError(output, str(e)) from None
    except UnicodeEncodeError:
        raise WriteError(output, "a parameter name cannot be encoded as UTF-8") from None
    total = sum(t.length for t in targets if t.kind == DATA)
    sources = _sources(targets)
    snapshot = {src: src.stamp() for src in sources if isinstance(src, LocalSource)}
    remote = [src for src in sources if src.remote]
    before = sum(src.bytes_fetched for src in remote), sum(src.requests for src in remote)
    if temp is None:
        clean_leftovers(output)
    tmp = temp or temp_name(output)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as e:
        raise WriteError(output, f"cannot create a file in {os.path.dirname(tmp)}: {e.strerror}") from None
    done = 0
    count = len(targets)
    name, index, at = "", 0, 0  # the target being written, and where its next bytes go

    def copied(n: int) -> None:
        nonlocal done, at
        if fsync:
            _start_writeback(fd, at, n)
        at += n
        done += n
        if progress:
            progress(Progress(name, index, count, done, total))

    try:
        try:
            pwrite_all(fd, lay.head, 0)
            for index, (t, off) in enumerate(zip(targets, lay.offsets)):
                name = t.name
                if progress:
                    progress(Progress(name, index, count, done, total))
                if off is None:  # a splat: its entry holds it all
                    continue
                at = off
                if t.how == COPY:
                    _copy(t.source, fd, off, cancel, copied)
                else:
                    for n in _produce(t, fd, off, cancel):
                        copied(n)
            for local, stamp in snapshot.items():
                if local.stamp() != stamp:
                    raise ArchiveError(
                        local.name, None, "source file changed while it was being copied; nothing was written"
                    )
            os.ftruncate(fd, lay.file_size)
            if fsync:
                os.fsync(fd)
        finally:
            try:
                os.close(fd)
            finally:
                for src in sources:
                    src.release()
        if temp is None:
            os.replace(tmp, output)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise WriteError(output, _os_reason(e)) from None
        raise
    for path, text in beside:
        write_small(path, text, fsync)
    if fsync and temp is None:
        fsync_dir(os.path.dirname(os.path.abspath(output)))
    fetched = sum(src.bytes_fetched for src in remote) - before[0]
    requests = sum(src.requests for src in remote) - before[1]
    seconds = time.perf_counter() - started
    return WriteResult(output, len(targets), lay.file_size, total, seconds, out.format, fetched, requests)


def write_split(
    out: Output,
    output,
    split: Split,
    *,
    progress: Callable[[Progress], None] | None = None,
    cancel=None,
    fsync: bool = True,
) -> WriteResult:
    """Write a GGUF ``out`` split into shards (``Output.split``) named after
    ``output`` as llama.cpp names them (``shards.shard_paths``: ``DIR/
    model.gguf`` gives ``DIR/model-00001-of-00003.gguf``...). All or
    nothing: every shard is written as a temporary (as ``write_archive``
    writes a file) and they are renamed into place together once all are
    complete; on any error or cancel no shard and no temporary is left.
    Progress counts entries and bytes over all shards and says the shard."""
    from .shards import shard_paths

    output = os.fspath(output)
    shards = out.split(split)
    paths = shard_paths(output, len(shards))
    for path, shard in zip(paths, shards):  # every refusal before any file exists
        _check_destination(path)
        clean_leftovers(path)
        try:
            shard.layout()
        except ValueError as e:
            raise WriteError(path, str(e)) from None
        except UnicodeEncodeError:
            raise WriteError(path, "a parameter name cannot be encoded as UTF-8") from None
    started = time.perf_counter()
    total = out.data_bytes
    count = len(out.targets)
    temps: list[str] = []
    placed: list[str] = []
    results = []
    try:
        first = done = 0
        for no, (path, shard) in enumerate(zip(paths, shards)):

            def report(ev: Progress, first=first, done=done, no=no) -> None:
                assert progress is not None
                progress(Progress(ev.name, first + ev.index, count, done + ev.bytes_done, total, no, len(shards)))

            temps.append(temp_name(path))
            results.append(
                write_archive(
                    shard, path, progress=report if progress else None, cancel=cancel, fsync=fsync, temp=temps[-1]
                )
            )
            first += len(shard.targets)
            done += shard.data_bytes
        for tmp, path in zip(temps, paths):
            os.replace(tmp, path)
            placed.append(path)
    except BaseException as e:
        for p in temps + placed:
            with contextlib.suppress(OSError):
                os.unlink(p)
        if isinstance(e, OSError):
            raise WriteError(output, _os_reason(e)) from None
        raise
    if fsync:
        fsync_dir(os.path.dirname(os.path.abspath(paths[0])))
    return WriteResult(
        paths[0],
        count,
        sum(r.bytes for r in results),
        total,
        time.perf_counter() - started,
        out.format,
        sum(r.fetched for r in results),
        sum(r.requests for r in results),
        tuple(results),
    )


def _check_destination(output: str) -> None:
    d = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(d):
        raise WriteError(output, f"directory {d} does not exist")
    if os.path.isdir(output):
        raise WriteError(output, "is a directory")
    if not os.access(d, os.W_OK):
        raise WriteError(output, f"directory {d} is not writable")


def _sources(targets) -> list[Source]:
    """The open source of every file the targets read (copies and streamed
    casts), once each: local ones are checked unchanged after the copy
    (size and mtime of the open file; a remote file's size and ETag are
    checked by every range answer)."""
    seen: dict[int, Source] = {}
    for t in targets:
        if t.kind == DATA and t.how in (COPY, CAST_STREAM) and t.source.offset is not None:
            src = source_of(t.source)
            seen.setdefault(id(src), src)
    return list(seen.values())


def _produce(t: Target, out_fd: int, out_off: int, cancel) -> Iterator[int]:
    """Write the bytes ``t`` holds (a pattern, a cast, generated bytes) at
    ``out_off``; yields the bytes written per chunk."""
    pos = 0
    for chunk in target_chunks(t, WINDOW, cancel):
        _check_cancel(cancel)
        pwrite_all(out_fd, chunk, out_off + pos)
        pos += len(chunk)
        yield len(chunk)


def _copy(entry: Entry, out_fd: int, out_off: int, cancel, copied: Callable[[int], None]) -> None:
    """Copy the entry's bytes to ``out_fd`` at ``out_off``; ``copied(n)``
    after each step. A local file goes one WINDOW per call (progress and
    cancel between windows); a remote one in one call, which fetches its
    parts in parallel and reports as they land."""
    src = source_of(entry)
    what = f"the data of '{entry.name}'"
    src.check_range(entry.start, entry.length, what)
    step = entry.length if src.remote else WINDOW
    pos = 0
    while pos < entry.length:
        _check_cancel(cancel)
        n = min(step, entry.length - pos)
        src.copy_range_to(out_fd, entry.start + pos, n, out_off + pos, progress=copied, cancel=cancel, what=what)
        pos += n


_writeback = None  # libc's sync_file_range once looked up, False where there is none


def _start_writeback(fd: int, off: int, n: int) -> None:
    """Start writing these just-copied pages to disk without waiting, so the
    final fsync finds little left to flush (bench/RESULTS.md).
    Errors are not lost: the final fsync reports any writeback failure."""
    global _writeback
    if _writeback is None:
        _writeback = _find_sync_file_range()
    if _writeback:
        _writeback(fd, off, n, 2)  # SYNC_FILE_RANGE_WRITE


def _find_sync_file_range():
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        f = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (ImportError, OSError, AttributeError):
        return False
    f.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    f.restype = ctypes.c_int
    return f


def _check_cancel(cancel) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("write")


def _os_reason(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return "no space left on the device; nothing was written"
    if e.errno == errno.EFBIG:
        return "file size limit reached; nothing was written"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"not allowed to write ({e.strerror}); nothing was written"
    return f"{e.strerror or e}; nothing was written"


def fsync_dir(d: str) -> None:
    """Make a rename in directory ``d`` durable (best effort: some file
    systems cannot fsync a directory)."""
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
