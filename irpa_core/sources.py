"""Byte sources: one object per opened file, local or remote.

A ``Source`` is opened once and then read at any offset: ``read`` and
``readinto`` return exactly the bytes asked or raise an ``ArchiveError``,
``iter_chunks`` streams a range with bounded memory, ``copy_range_to``
writes a range into a descriptor (the writer's copy). Every source counts
the bytes it fetched.

``open_source`` picks the kind from the spec: a local path gives a
``LocalSource`` (one descriptor, ``os.pread``/``os.preadv``); ``http://``,
``https://`` and ``hf://`` give an ``irpa_core.remote.HttpSource``. The remote
module, and with it the HTTP client (httpx2), is imported only when a URL is
given, so working on local files never pays for them.

``LocalSource.copy_range_to`` copies without Python objects the size of a
tensor: each source window is mapped read-only and populated
(``MAP_POPULATE``), then ``pwrite`` copies it page cache to page cache in
one kernel copy. On ext4 that beats ``os.copy_file_range`` (the output is
64-aligned while sources rarely are, and the splice behind copy_file_range
pays per page for that; figures in bench/RESULTS.md); copy_file_range,
``os.sendfile`` and a bounded ``preadv`` loop remain as fallbacks where a
file cannot be mapped. The window is kept between calls, so 100,000 small
tensors share one map per 16 MiB, and the window after it is read ahead.

``shared_source`` serves entries that were built by hand (or point at an
external file) and so carry no source of their own: one source per path,
opened once, in a small bounded cache.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import stat
from _thread import allocate_lock  # threading's Lock without importing threading (start-up)
from collections import OrderedDict
from collections.abc import Callable, Iterator

from .errors import ArchiveError, Cancelled

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing slows start-up (bench/RESULTS.md)
    import threading
    from types import ModuleType, TracebackType
    from typing import Self

CHUNK = 8 << 20
WINDOW = 2 * CHUNK  # bytes per local copy step: the mapped window, and how often progress and cancel are seen
READ_AHEAD = 1 << 20  # what a reader asks for first when it does not know how long a header is
_COPY_BUF = 1 << 20
# At most this much per pwrite: on the test VM, pwrites of 4 MiB and more
# stalled 0.2-0.5 s in up to half the copies made right after another
# process wrote and deleted a big file (inside the kernel; the cause is not
# pinned down), 2 MiB and less never, at the same median (bench/RESULTS.md).
WRITE_STEP = 1 << 20

# Remote schemes, registered with the module that opens them (its
# ``open_remote`` and ``expand_remote``). The module is imported on first
# use, so a local path never loads the HTTP client; it imports this module,
# never the other way round.
REMOTE_HANDLERS = {"http://": "irpa_core.remote", "https://": "irpa_core.remote", "hf://": "irpa_core.remote"}
REMOTE_SCHEMES = tuple(REMOTE_HANDLERS)


def is_remote(spec: str) -> bool:
    """True for ``http://``, ``https://`` and ``hf://`` specs (scheme in any case)."""
    return spec[:8].lower().startswith(REMOTE_SCHEMES)


def remote_handler(spec: str) -> ModuleType:
    """The module registered for a remote spec's scheme, imported."""
    import importlib

    low = spec[:8].lower()
    return importlib.import_module(next(m for scheme, m in REMOTE_HANDLERS.items() if low.startswith(scheme)))


class Source:
    """Random access to the bytes of one file.

    Subclasses implement ``size`` (set at open), ``_readinto(offset, view)``
    (fill the whole view; bounds already checked) and ``close``. The public
    methods check bounds before anything is allocated or fetched, so a
    malformed offset or length in a file header becomes an ``ArchiveError``,
    never a giant allocation.
    """

    name: str
    size: int
    bytes_fetched: int
    requests: int = 0  # HTTP exchanges (remote sources)
    remote: bool = False
    read_ahead: int = READ_AHEAD  # the unit worth reading at once when the length is unknown

    def __init__(self, name: str, *, cancel: threading.Event | None = None) -> None:
        self.name = name
        self.size = 0
        self.bytes_fetched = 0
        self.cancel = cancel

    # -- reading ------------------------------------------------------------

    def read(self, offset: int, n: int, what: str | None = None) -> bytes:
        """Exactly ``n`` bytes at ``offset``. ``what`` names the bytes in the
        error when the file ends before them (``"the data of 'x'"``)."""
        self.check_range(offset, n, what)
        if n == 0:
            return b""
        buf = bytearray(n)
        self._readinto(offset, memoryview(buf))
        return bytes(buf)

    def readinto(self, offset: int, buf: bytearray | memoryview, what: str | None = None) -> int:
        """Fill all of ``buf`` from ``offset``; returns ``len(buf)``."""
        view = memoryview(buf).cast("B")
        n = len(view)
        self.check_range(offset, n, what)
        if n:
            self._readinto(offset, view)
        return n

    def iter_chunks(self, offset: int, length: int, chunk: int = CHUNK) -> Iterator[bytes]:
        """``[offset, offset+length)`` in order, ``chunk`` bytes at a time (the
        last shorter). Memory stays bounded by ``chunk``; the cancel flag is
        checked between chunks."""
        self.check_range(offset, length)
        pos, end = offset, offset + length
        while pos < end:
            self._check_cancel()
            n = min(chunk, end - pos)
            yield self.read(pos, n)
            pos += n

    def copy_range_to(
        self,
        fd: int,
        offset: int,
        length: int,
        out_offset: int,
        *,
        progress: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
        what: str | None = None,
    ) -> int:
        """Write ``[offset, offset+length)`` to ``fd`` at ``out_offset``
        (``os.pwrite``). ``progress`` is called in the caller's thread with
        the bytes copied since its last call. ``what`` names the bytes in
        errors. Returns ``length``. OSErrors of the output descriptor
        propagate for the writer to report."""
        self.check_range(offset, length, what)
        buf = bytearray(min(_COPY_BUF, length))
        view = memoryview(buf)
        done = 0
        while done < length:
            self._check_cancel(cancel)
            n = min(len(view), length - done)
            self._readinto(offset + done, view[:n])
            pwrite_all(fd, view[:n], out_offset + done)
            done += n
            if progress is not None:
                progress(n)
        return length

    # -- bounds and plumbing ---------------------------------------------------

    def check_range(self, offset: int, n: int, what: str | None = None) -> None:
        """Raise the ``ArchiveError`` a read of ``n`` bytes at ``offset`` would."""
        if offset < 0 or n < 0:
            raise ArchiveError(self.name, None, f"invalid byte range: {n} bytes at offset {offset}")
        if offset > self.size or n > self.size - offset:
            what = what or f"the {n} bytes at offset {offset}"
            raise ArchiveError(
                self.name, min(offset, self.size), f"file ends inside {what} (the file has {self.size} bytes)"
            )

    def _readinto(self, offset: int, view: memoryview) -> None:
        raise NotImplementedError

    def _check_cancel(self, *events: threading.Event | None) -> None:
        """Raise ``Cancelled`` when the source's flag or any of ``events`` is set."""
        if (self.cancel is not None and self.cancel.is_set()) or any(e is not None and e.is_set() for e in events):
            raise Cancelled("read")

    def size_now(self) -> int:
        """The file's size now (a local file may have been cut short since
        it was opened); ``size`` is the size at open."""
        return self.size

    def release(self) -> None:
        """Drop what is held only for speed (a mapped copy window); the
        source stays open."""

    def close(self) -> None:
        """Release the file or connection; further reads are an error."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, size={self.size})"


class LocalSource(Source):
    """A local file read with ``os.pread``/``os.preadv`` on one descriptor,
    copied through a mapped window (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], *, cancel: threading.Event | None = None) -> None:
        super().__init__(os.fspath(path), cancel=cancel)
        self._fd: int | None = None
        try:
            fd = os.open(self.name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise ArchiveError(self.name, None, "no such file") from None
        except IsADirectoryError:
            raise ArchiveError(self.name, None, "is a directory") from None
        except OSError as e:
            raise ArchiveError(self.name, None, f"cannot read: {e.strerror}") from None
        try:
            st = os.fstat(fd)
        except OSError as e:
            os.close(fd)
            raise ArchiveError(self.name, None, f"cannot read: {e.strerror}") from None
        if stat.S_ISDIR(st.st_mode):  # opening a directory read-only succeeds on Linux
            os.close(fd)
            raise ArchiveError(self.name, None, "is a directory")
        self.size = st.st_size
        self.identity = (st.st_dev, st.st_ino)
        self._fd = fd
        # The copy window: a populated read-only map of [_start, _end).
        self._lock = allocate_lock()
        self._map: mmap.mmap | None = None
        self._view: memoryview | None = None
        self._start = self._end = 0
        self._ahead: tuple[int, int] | None = None  # [start, end) read ahead

    @property
    def fd(self) -> int:
        """The open descriptor (for the writer's kernel copy paths)."""
        if self._fd is None:
            raise ArchiveError(self.name, None, "read after the file was closed")
        return self._fd

    def stamp(self) -> tuple[int, int]:
        """(size, mtime) of the open file now: the writer compares two
        stamps to refuse a file changed in place while it was copied."""
        try:
            st = os.fstat(self.fd)
        except OSError as e:
            raise ArchiveError(self.name, None, f"cannot read: {e.strerror}") from None
        return st.st_size, st.st_mtime_ns

    def size_now(self) -> int:
        return self.stamp()[0]

    def map(self) -> mmap.mmap | None:
        """A read-only map of the whole file (a header parser's buffer), or
        None where the file cannot be mapped (empty, or a special file)."""
        if self.size == 0:
            return None
        try:
            return mmap.mmap(self.fd, 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return None

    def read(self, offset: int, n: int, what: str | None = None) -> bytes:
        """``Source.read`` in one ``os.pread``: the kernel copies into the
        bytes returned, with the GIL released. The generic way holds the GIL
        while it zeroes a buffer and while it copies that into bytes, and
        threads reading chunks (a statistics pass) took turns at both."""
        self.check_range(offset, n, what)
        try:
            data = os.pread(self.fd, n, offset)
        except OSError as e:
            raise ArchiveError(self.name, offset, f"cannot read: {e.strerror}") from None
        self.bytes_fetched += len(data)
        if len(data) < n:  # a short read: the rest the generic way (or its error)
            rest = bytearray(n - len(data))
            self._readinto(offset + len(data), memoryview(rest))
            data += rest
        return data

    def _readinto(self, offset: int, view: memoryview) -> None:
        fd = self.fd
        done = 0
        while done < len(view):
            try:
                k = _preadv(fd, view[done:], offset + done)
            except OSError as e:
                raise ArchiveError(self.name, offset + done, f"cannot read: {e.strerror}") from None
            if k == 0:
                # The file shrank since it was opened.
                raise ArchiveError(self.name, offset + done, "file ends early: it was truncated while being read")
            done += k
        self.bytes_fetched += done

    # -- copying ----------------------------------------------------------------

    def copy_range_to(
        self,
        fd: int,
        offset: int,
        length: int,
        out_offset: int,
        *,
        progress: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
        what: str | None = None,
    ) -> int:
        self.check_range(offset, length, what)
        what = what or f"the {length} bytes at offset {offset}"
        with self._lock:
            pos = 0
            while pos < length:
                self._check_cancel(cancel)
                n = min(WINDOW, length - pos)
                self._copy_step(offset + pos, fd, out_offset + pos, n, what)
                pos += n
                if progress is not None:
                    progress(n)
        return length

    def _copy_step(self, in_off: int, out_fd: int, out_off: int, n: int, what: str) -> None:
        in_fd = self.fd
        while n > 0:
            if _methods["mmap"]:
                try:
                    k = self._copy_mapped(in_off, out_fd, out_off, n, what)
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
                raise ArchiveError(self.name, in_off, f"file ends inside {what}")
            self.bytes_fetched += k
            in_off += k
            out_off += k
            n -= k

    def _copy_mapped(self, in_off: int, out_fd: int, out_off: int, n: int, what: str) -> int:
        """pwrite ``n`` bytes straight from the mapped window: one kernel
        copy, no Python buffer. The map is only ever read by the kernel
        inside pwrite: a file truncated under us gives a short write or
        EFAULT there, never a SIGBUS in Python."""
        if self._view is None or not (self._start <= in_off and in_off + n <= self._end):
            self._remap(in_off, n, what)
        assert self._view is not None
        n = min(n, WRITE_STEP)
        with self._view[in_off - self._start : in_off + n - self._start] as part:
            try:
                return os.pwrite(out_fd, part, out_off)
            except OSError as e:
                if e.errno == errno.EFAULT:
                    raise self._shrank(in_off, what) from None
                raise

    def _remap(self, off: int, n: int, what: str) -> None:
        self._unmap()
        fd = self.fd
        start = off - off % mmap.ALLOCATIONGRANULARITY
        end = max(off + n, min(self.size, start + WINDOW))
        a = self._ahead
        if not (a and a[0] <= start < a[1]):
            _advise(fd, start, end - start)  # not read ahead yet: ask for all of it at once
        ahead = end - end % mmap.ALLOCATIONGRANULARITY  # where the next window will start
        _advise(fd, ahead, WINDOW)  # read while this one is populated and copied
        self._ahead = (ahead, ahead + WINDOW)
        try:
            m = mmap.mmap(fd, end - start, offset=start, prot=mmap.PROT_READ, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
        except ValueError:  # mmap's own check: the window runs past the end of the file
            raise self._shrank(off, what) from None
        except OSError:
            raise _Unmappable from None
        self._start, self._end = start, end
        self._map, self._view = m, memoryview(m)

    def _shrank(self, offset: int, what: str) -> ArchiveError:
        return ArchiveError(self.name, offset, f"file shrank while {what} was being copied")

    def _unmap(self) -> None:
        if self._map is not None and self._view is not None:
            self._view.release()
            self._map.close()
        self._map, self._view = None, None

    def release(self) -> None:
        with self._lock:
            self._unmap()
            self._ahead = None

    def close(self) -> None:
        self._unmap()
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __del__(self) -> None:
        # Sources live as long as the entries that point at them; the last
        # reference gone, the descriptor goes too.
        try:
            self.close()
        except Exception:
            return


class _Unmappable(Exception):
    """The file cannot be mapped: use another copy method."""


# Copy methods in order of preference; one that fails as unsupported is
# switched off for the rest of the process.
_methods = {
    "mmap": hasattr(mmap, "MAP_POPULATE"),
    "copy_file_range": hasattr(os, "copy_file_range"),
    "sendfile": hasattr(os, "sendfile"),
}


def _advise(fd: int, off: int, n: int) -> None:
    """Start reading [off, off+n) into the page cache (no wait; only a hint)."""
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, off, n, os.POSIX_FADV_WILLNEED)


def _copy_buffered(in_fd: int, in_off: int, out_fd: int, out_off: int, n: int) -> int:
    buf = bytearray(min(_COPY_BUF, n))
    view = memoryview(buf)
    k = _preadv(in_fd, view, in_off)
    if k:
        pwrite_all(out_fd, view[:k], out_off)
    return k


def _preadv(fd: int, view: memoryview, offset: int) -> int:
    if hasattr(os, "preadv"):
        return os.preadv(fd, [view], offset)
    data = os.pread(fd, len(view), offset)  # platforms without preadv: one extra copy
    view[: len(data)] = data
    return len(data)


def pwrite_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """``os.pwrite`` until all of ``data`` is written (pwrite may write less)."""
    view = memoryview(data)
    while view:
        k = os.pwrite(fd, view[:WRITE_STEP], offset)
        view = view[k:]
        offset += k


def open_source(
    spec: str | os.PathLike[str],
    *,
    cancel: threading.Event | None = None,
    opened: Callable[[Source], None] | None = None,
) -> Source:
    """A local path, an ``http(s)://`` URL or an ``hf://ORG/REPO[@REV]/PATH``,
    opened for reading. Remote support is imported only for remote specs.
    ``opened(source)`` is called as soon as the source exists: for a remote
    file before its first request, so its counters can be watched while the
    first answer arrives."""
    spec = os.fspath(spec)
    if is_remote(spec):
        return remote_handler(spec).open_remote(spec, cancel=cancel, opened=opened)
    src = LocalSource(spec, cancel=cancel)
    if opened is not None:
        opened(src)
    return src


_SHARED: OrderedDict[str, Source] = OrderedDict()
_SHARED_MAX = 16
_shared_lock = allocate_lock()


def shared_source(spec: str) -> Source:
    """The one open source for ``spec`` (a path or URL), for bytes reached
    without a source at hand: entries built by hand and external files of an
    irpa archive. Kept in a small LRU cache; a local file replaced or
    changed since it was opened is opened again."""
    with _shared_lock:
        src = _SHARED.get(spec)
        if src is not None and isinstance(src, LocalSource):
            try:
                st = os.stat(spec)
                fresh = (st.st_dev, st.st_ino) == src.identity and st.st_size == src.size
            except OSError:
                fresh = False
            if not fresh:
                del _SHARED[spec]
                src = None
        if src is not None:
            _SHARED.move_to_end(spec)
            return src
    src = open_source(spec)  # outside the lock: a remote open takes a round trip
    with _shared_lock:
        _SHARED[spec] = src
        _SHARED.move_to_end(spec)
        while len(_SHARED) > _SHARED_MAX:
            _SHARED.popitem(last=False)  # closed when its last user drops it
    return src
