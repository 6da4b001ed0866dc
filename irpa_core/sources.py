"""Byte sources: one object per opened file, local or remote.

A ``Source`` is opened once and then read at any offset: ``read`` and
``readinto`` return exactly the bytes asked or raise an ``ArchiveError``,
``iter_chunks`` streams a range with bounded memory, ``copy_range_to``
writes a range into a descriptor (the writer's fast path). Every source
counts the bytes it fetched.

``open_source`` picks the kind from the spec: a local path gives a
``LocalSource`` (one descriptor, ``os.pread``/``os.preadv``); ``http://``,
``https://`` and ``hf://`` give an ``irpa_core.remote.HttpSource``. The remote
module, and with it httpx and huggingface_hub, is imported only when a URL is
given, so working on local files never pays for them.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING

from .errors import ArchiveError, Cancelled

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self is 3.11+

CHUNK = 8 << 20
_COPY_BUF = 1 << 20

REMOTE_SCHEMES = ("http://", "https://", "hf://")


def is_remote(spec: str) -> bool:
    """True for ``http://``, ``https://`` and ``hf://`` specs (scheme in any case)."""
    return spec[:8].lower().startswith(REMOTE_SCHEMES)


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
            buf = bytearray(n)
            self._readinto(pos, memoryview(buf))
            yield bytes(buf)
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
    ) -> int:
        """Write ``[offset, offset+length)`` to ``fd`` at ``out_offset``
        (``os.pwrite``). ``progress`` is called in the caller's thread with
        the bytes copied since its last call. Returns ``length``. OSErrors of
        the output descriptor propagate for the writer to report."""
        self.check_range(offset, length)
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
    """A local file read with ``os.pread``/``os.preadv`` on one descriptor."""

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
            raise ArchiveError(self.name, None, f"cannot open: {e.strerror}") from None
        try:
            st = os.fstat(fd)
        except OSError as e:
            os.close(fd)
            raise ArchiveError(self.name, None, f"cannot read: {e.strerror}") from None
        if stat.S_ISDIR(st.st_mode):  # opening a directory read-only succeeds on Linux
            os.close(fd)
            raise ArchiveError(self.name, None, "is a directory")
        self.size = st.st_size
        self._fd = fd

    @property
    def fd(self) -> int:
        """The open descriptor (for the writer's kernel copy paths)."""
        if self._fd is None:
            raise ArchiveError(self.name, None, "read after the file was closed")
        return self._fd

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

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


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
        k = os.pwrite(fd, view, offset)
        view = view[k:]
        offset += k


def open_source(spec: str | os.PathLike[str], *, cancel: threading.Event | None = None) -> Source:
    """A local path, an ``http(s)://`` URL or an ``hf://ORG/REPO[@REV]/PATH``,
    opened for reading. Remote support is imported only for remote specs."""
    spec = os.fspath(spec)
    if is_remote(spec):
        from .remote import open_remote

        return open_remote(spec, cancel=cancel)
    return LocalSource(spec, cancel=cancel)
