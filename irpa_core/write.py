"""Write an output (``output.Output``: irpa, gguf or safetensors) as a new
file: streaming, cancellable, atomic.

The output's layout gives the header and where each target's bytes go; the
bytes a source holds unchanged are copied as below, the others (a splat
written as data, a cast, a generated entry) are written chunk by chunk as
``output.target_chunks`` produces them. Copied bytes never pass through
Python objects: each source window is mapped
read-only and populated (``MAP_POPULATE``), then ``pwrite`` copies it page
cache to page cache in one kernel copy. On ext4 that beats
``os.copy_file_range`` per entry (the output is 64-aligned while sources
rarely are, and the splice behind copy_file_range pays per page for that;
figures in bench/RESULTS.md); copy_file_range, ``os.sendfile`` and a
bounded ``preadv`` loop remain as fallbacks where a file cannot be mapped. One window at a time, so that
progress is reported and the cancel flag checked between windows; memory
stays bounded whatever the size. The file is built as a temporary beside
the destination, fsynced and renamed over it, so the destination is either
untouched or complete, and converting a file onto itself reads the old
bytes until the very end. When fsyncing, writeback of each window is
started as soon as it is written, so the disk works while we copy and the
final fsync waits only for the tail.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import ArchiveError, Cancelled, WriteError, reading
from .model import CHUNK, DATA, Entry, open_data
from .output import IRPA, Output, target_chunks
from .plan import CAST_STREAM, COPY, Target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

WINDOW = 2 * CHUNK  # bytes per copy step: the mapped window, and how often progress and cancel are seen
TMP_MARK = ".irpa-tmp-"


@dataclass(frozen=True)
class Progress:
    name: str  # entry being written
    index: int  # its position (0-based)
    count: int  # number of entries
    bytes_done: int  # data bytes copied so far, all entries
    bytes_total: int  # data bytes to copy in all


@dataclass(frozen=True)
class WriteResult:
    path: str
    entries: int
    bytes: int  # size of the written file
    data_bytes: int  # tensor bytes written
    seconds: float
    format: str = IRPA


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
        if pid.isdigit() and _alive(int(pid)) and int(pid) != os.getpid():
            continue
        try:
            os.unlink(os.path.join(d, n))
            removed.append(os.path.join(d, n))
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
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
) -> WriteResult:
    """Write an ``Output`` (``Plan.output``), or irpa ``targets``
    (``Plan.apply``), to ``output`` atomically. ``alignment``: see
    ``Output.layout`` (irpa default 64). ``fsync=False`` skips flushing to
    disk before the rename: still atomic if irpa dies, not if the machine
    loses power (like ``cp``). A target the format cannot hold is a
    PlanError raised before anything is created."""
    out = targets if isinstance(targets, Output) else Output(IRPA, tuple(targets))
    targets = out.targets
    output = os.fspath(output)
    started = time.perf_counter()
    _check_destination(output)
    try:
        lay = out.layout(alignment)
    except ValueError as e:
        raise WriteError(output, str(e)) from None
    except UnicodeEncodeError:
        raise WriteError(output, "a parameter name cannot be encoded as UTF-8") from None
    total = sum(t.length for t in targets if t.kind == DATA)
    snapshot = _snapshot_sources(targets)
    clean_leftovers(output)
    tmp = temp_name(output)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as e:
        raise WriteError(output, f"cannot create a file in {os.path.dirname(tmp)}: {e.strerror}") from None
    done = 0
    files = _SourceFiles()
    try:
        try:
            _pwrite_all(fd, lay.head, 0)
            count = len(targets)
            for i, (t, off) in enumerate(zip(targets, lay.offsets)):
                if progress:
                    progress(Progress(t.name, i, count, done, total))
                if off is None:  # a splat: its entry holds it all
                    continue
                copied = _copy(t.source, files, fd, off, cancel) if t.how == COPY else _produce(t, fd, off, cancel)
                for n in copied:
                    if fsync:
                        _start_writeback(fd, off, n)
                    off += n
                    done += n
                    if progress:
                        progress(Progress(t.name, i, count, done, total))
            _check_sources_unchanged(snapshot)
            os.ftruncate(fd, lay.file_size)
            if fsync:
                os.fsync(fd)
        finally:
            try:
                os.close(fd)
            finally:
                files.close()
        os.replace(tmp, output)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise WriteError(output, _os_reason(e)) from None
        raise
    if fsync:
        _fsync_dir(os.path.dirname(os.path.abspath(output)))
    return WriteResult(output, len(targets), lay.file_size, total, time.perf_counter() - started, out.format)


def _check_destination(output: str) -> None:
    d = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(d):
        raise WriteError(output, f"directory {d} does not exist")
    if os.path.isdir(output):
        raise WriteError(output, "is a directory")
    if not os.access(d, os.W_OK):
        raise WriteError(output, f"directory {d} is not writable")


def _snapshot_sources(targets) -> dict[str, tuple[int, int]]:
    """(size, mtime) of each file we copy from, to refuse a file that
    changed while we read it (the copy would silently mix two versions)."""
    snap: dict[str, tuple[int, int]] = {}
    for t in targets:
        if t.kind == DATA and t.how in (COPY, CAST_STREAM) and t.source.file not in snap:
            with reading(t.source.file, f"cannot read data of '{t.source.name}'"):
                st = os.stat(t.source.file)
            snap[t.source.file] = (st.st_size, st.st_mtime_ns)
    return snap


def _check_sources_unchanged(snap: dict[str, tuple[int, int]]) -> None:
    for path, (size, mtime) in snap.items():
        try:
            st = os.stat(path)
        except OSError:
            raise ArchiveError(path, None, "source file disappeared while it was being copied") from None
        if (st.st_size, st.st_mtime_ns) != (size, mtime):
            raise ArchiveError(path, None, "source file changed while it was being copied; nothing was written")


def _produce(t: Target, out_fd: int, out_off: int, cancel) -> Iterator[int]:
    """Write the bytes ``t`` holds (a pattern, a cast, generated bytes) at
    ``out_off``; yields the bytes written per chunk."""
    pos = 0
    for chunk in target_chunks(t, WINDOW, cancel):
        _check_cancel(cancel)
        _pwrite_all(out_fd, chunk, out_off + pos)
        pos += len(chunk)
        yield len(chunk)


def _copy(entry: Entry, files: _SourceFiles, out_fd: int, out_off: int, cancel) -> Iterator[int]:
    """Copy the entry's bytes to ``out_fd`` at ``out_off``; yields the bytes
    copied per chunk."""
    size = files.open(entry)[1]
    if entry.start + entry.length > size:
        raise ArchiveError(entry.file, size, f"file ends inside the data of '{entry.name}'")
    pos = 0
    while pos < entry.length:
        _check_cancel(cancel)
        n = min(WINDOW, entry.length - pos)
        _copy_range(entry, files, entry.start + pos, out_fd, out_off + pos, n)
        pos += n
        yield n


class _SourceFiles:
    """The source files of one write: each opened once, and read through one
    populated read-only map of a window of at least WINDOW bytes, which every
    copy that falls inside it reuses (100,000 small tensors: one map per
    16 MiB, not one per tensor). A map is populated by synchronous page
    faults, which read a cold file in small pieces while nothing else
    happens, so the window after the current one is read ahead
    (posix_fadvise WILLNEED; a cold read then runs as fast as
    copy_file_range, figures in bench/RESULTS.md)."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[int, int]] = {}  # path -> (fd, size at open)
        self._path: str | None = None  # the mapped window: file, [start, end)
        self._start = self._end = 0
        self._map: mmap.mmap | None = None
        self._view: memoryview | None = None
        self._ahead: tuple[str, int, int] | None = None  # (path, start, end) read ahead

    def open(self, entry: Entry) -> tuple[int, int]:
        f = self._files.get(entry.file)
        if f is None:
            fd = open_data(entry)
            f = self._files[entry.file] = (fd, os.fstat(fd).st_size)
        return f

    def view(self, entry: Entry, off: int, n: int) -> memoryview:
        """Bytes [off, off+n) of the entry's file; release the view after use.
        Raises _Unmappable where the file cannot be mapped."""
        if self._view is None or self._path != entry.file or not (self._start <= off and off + n <= self._end):
            self._remap(entry, off, n)
        assert self._view is not None
        return self._view[off - self._start : off + n - self._start]

    def _remap(self, entry: Entry, off: int, n: int) -> None:
        self._unmap()
        fd, size = self.open(entry)
        start = off - off % mmap.ALLOCATIONGRANULARITY
        end = max(off + n, min(size, start + WINDOW))
        a = self._ahead
        if not (a and a[0] == entry.file and a[1] <= start < a[2]):
            _advise(fd, start, end - start)  # not read ahead yet: ask for all of it at once
        ahead = end - end % mmap.ALLOCATIONGRANULARITY  # where the next window will start
        _advise(fd, ahead, WINDOW)  # read while this one is populated and copied
        self._ahead = (entry.file, ahead, ahead + WINDOW)
        try:
            m = mmap.mmap(fd, end - start, offset=start, prot=mmap.PROT_READ, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
        except ValueError:  # mmap's own check: the window runs past the end of the file
            raise _shrank(entry, off) from None
        except OSError:
            raise _Unmappable from None
        self._path, self._start, self._end = entry.file, start, end
        self._map, self._view = m, memoryview(m)

    def _unmap(self) -> None:
        if self._map is not None and self._view is not None:
            self._view.release()
            self._map.close()
            self._path, self._map, self._view = None, None, None

    def close(self) -> None:
        self._unmap()
        for fd, _ in self._files.values():
            os.close(fd)
        self._files.clear()


def _advise(fd: int, off: int, n: int) -> None:
    """Start reading [off, off+n) into the page cache (no wait; only a hint)."""
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, off, n, os.POSIX_FADV_WILLNEED)


# Copy methods in order of preference; one that fails as unsupported is
# switched off for the rest of the process.
_methods = {
    "mmap": hasattr(mmap, "MAP_POPULATE"),
    "copy_file_range": hasattr(os, "copy_file_range"),
    "sendfile": hasattr(os, "sendfile"),
}


def _copy_range(entry, files, in_off, out_fd, out_off, n):
    in_fd = files.open(entry)[0]
    while n > 0:
        if _methods["mmap"]:
            try:
                k = _copy_mapped(entry, files, in_off, out_fd, out_off, n)
            except _Unmappable:
                _methods["mmap"] = False
                continue
        elif _methods["copy_file_range"]:
            try:
                k = os.copy_file_range(in_fd, out_fd, n, in_off, out_off)
            except OSError as e:
                if e.errno in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EPERM):
                    _methods["copy_file_range"] = False
                    continue
                raise
        elif _methods["sendfile"]:
            try:
                os.lseek(out_fd, out_off, os.SEEK_SET)
                k = os.sendfile(out_fd, in_fd, in_off, n)
            except OSError as e:
                if e.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    _methods["sendfile"] = False
                    continue
                raise
        else:
            k = _copy_buffered(in_fd, in_off, out_fd, out_off, n)
        if k == 0:
            raise ArchiveError(entry.file, in_off, f"file ends inside the data of '{entry.name}'")
        in_off += k
        out_off += k
        n -= k


def _shrank(entry, offset: int) -> ArchiveError:
    return ArchiveError(entry.file, offset, f"file shrank while the data of '{entry.name}' was being copied")


class _Unmappable(Exception):
    """The source cannot be mapped: use another copy method."""


def _copy_mapped(entry, files, in_off, out_fd, out_off, n) -> int:
    """pwrite ``n`` bytes straight from the mapped source: one kernel copy,
    no Python buffer. Returns the bytes copied. The map is only ever read by
    the kernel inside pwrite: a source truncated under us gives a short
    write or EFAULT there, never a SIGBUS in Python."""
    with files.view(entry, in_off, n) as part:
        try:
            return os.pwrite(out_fd, part, out_off)
        except OSError as e:
            if e.errno == errno.EFAULT:
                raise _shrank(entry, in_off) from None
            raise


_BUF = 1 << 20


def _copy_buffered(in_fd, in_off, out_fd, out_off, n) -> int:
    buf = bytearray(min(_BUF, n))
    view = memoryview(buf)
    k = os.preadv(in_fd, [view], in_off) if hasattr(os, "preadv") else _pread_into(in_fd, view, in_off)
    if k:
        _pwrite_all(out_fd, view[:k], out_off)
    return k


def _pread_into(fd, view, off) -> int:
    data = os.pread(fd, len(view), off)
    view[: len(data)] = data
    return len(data)


def _pwrite_all(fd: int, data, off: int) -> None:
    view = memoryview(data)
    while view:
        k = os.pwrite(fd, view, off)
        view = view[k:]
        off += k


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


def _fsync_dir(d: str) -> None:
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
