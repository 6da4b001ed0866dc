"""Remote files over HTTP(S): ``HttpSource``, ``open_remote``, ``expand_remote``.

Built on httpx2, the maintained fork of httpx (HTTP/1.1, one persistent
client per source, keep-alive, redirects followed: the Hub answers
``resolve`` URLs with a redirect to a CDN, whose address is then used
directly). Reads are ``Range`` GETs:

- small reads go through a bounded LRU cache of fixed-size blocks; big reads
  stream straight into the caller's buffer; ``copy_range_to`` streams a big
  range into a descriptor with a few parallel requests; with ``IRPA_CACHE_DIR``
  set, blocks read (not bulk copies) are also kept on disk for the next run;
- connection errors, timeouts, 5xx/429 and bodies that end early are retried
  with exponential backoff, resuming at the byte reached;
- a server that ignores ``Range`` (200 instead of 206) is refused for files
  over ``IRPA_NO_RANGE_LIMIT`` (64 MiB) and read once and kept for smaller ones;
- the token (``HF_TOKEN`` or the one ``hf auth login`` stored) goes only to the
  Hub endpoint's origin; httpx drops ``Authorization`` on a redirect to
  another origin, and requests sent straight to a CDN never carry it;
- the cancel flag is checked between pieces of at most 64 KiB; with a flag
  the read timeout is short (1 s), so a stalled server is left within a second.

Every failure is an ``ArchiveError`` one-liner that says what to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import re
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx2 as httpx

from . import hub, shards
from .display import one_line
from .errors import ArchiveError
from .sources import CHUNK, Source, pwrite_all

BLOCK = 1 << 20  # cache block
CACHE = 64 << 20  # cache cap
NO_RANGE_LIMIT = 64 << 20  # biggest file read whole from a server that ignores Range
PART = 8 << 20  # parallel copy part
WORKERS = 4
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class _Retry(Exception):
    """A transient HTTP status (5xx, 429): retry after a pause."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.retry_after = status, retry_after


class _ShortBody(Exception):
    """The body ended before the bytes asked for: resume at the byte reached."""

    def __init__(self) -> None:
        super().__init__("the connection ended before the data did")


class _Tries:
    """Failures in a row and the time of the last data, for one range."""

    __slots__ = ("failures", "last_data")

    def __init__(self) -> None:
        self.failures = 0
        self.last_data = time.monotonic()

    def data(self) -> None:
        self.failures = 0
        self.last_data = time.monotonic()


class _Stale(Exception):
    """The remembered redirect target (a signed CDN URL) stopped working:
    go back to the original URL once."""


_Transient = (httpx.HTTPError, httpx.InvalidURL, _Retry, _ShortBody, _Stale)


class _DiskCache:
    """Blocks of one remote file kept on disk between runs, under
    ``IRPA_CACHE_DIR`` (off unless set). Keyed by URL, ETag, size and block
    size, so a changed file never reads stale blocks; a file without an ETag
    is not cached. Best effort: an OSError is a miss, or nothing written. No
    eviction: delete the directory to free the space."""

    def __init__(self, root: str, url: str, etag: str, size: int, block: int) -> None:
        key = hashlib.sha256(f"{url}\0{etag}\0{size}\0{block}".encode()).hexdigest()
        self.dir = os.path.join(root, key[:2], key)
        self.size, self.block = size, block

    def _expected(self, index: int) -> int:
        return min(self.block, self.size - index * self.block)

    def get(self, index: int) -> bytes | None:
        try:
            with open(os.path.join(self.dir, str(index)), "rb") as f:
                data = f.read(self.block + 1)
        except OSError:
            return None
        return data if len(data) == self._expected(index) else None

    def put(self, index: int, data: bytes | memoryview) -> None:
        if not data or len(data) != self._expected(index):
            return
        path = os.path.join(self.dir, str(index))
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"  # then renamed: readers never see half a block
        try:
            os.makedirs(self.dir, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _no_range_limit() -> int:
    try:
        return int(os.environ.get("IRPA_NO_RANGE_LIMIT", NO_RANGE_LIMIT))
    except ValueError:
        return NO_RANGE_LIMIT


class HttpSource(Source):
    """A file on an HTTP(S) server, read with range requests.

    ``token``: True looks the Hub token up (sent only when ``url`` is on the
    Hub endpoint's origin), False sends none, a string is sent to ``url``'s
    origin only. ``timeout``: seconds without any data before giving up.
    ``known``: (size, ETag, redirect target) from an earlier probe of the
    same file: no probe request (a copy in another process, ``__reduce__``).
    ``opened(self)`` is called before the first request (``size`` is -1).
    Counters: ``bytes_fetched`` (body bytes received), ``requests`` (HTTP
    exchanges, redirects included), ``retries``.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str | None = None,
        cancel: threading.Event | None = None,
        token: str | bool = True,
        block_size: int = BLOCK,
        cache_size: int = CACHE,
        no_range_limit: int | None = None,
        max_retries: int = 5,
        backoff: float = 0.5,
        timeout: float = 30.0,
        poll: float = 1.0,
        part_size: int = PART,
        workers: int = WORKERS,
        cache_dir: str | None = None,
        client: httpx.Client | None = None,
        known: tuple[int, str | None, str] | None = None,
        opened: Callable[[Source], None] | None = None,
    ) -> None:
        super().__init__(name or url, cancel=cancel)
        self.remote = True
        self.read_ahead = block_size  # the probe's first block: a header read starts there for free
        self.url = url
        self.requests = 0
        self.retries = 0
        self.block_size = block_size
        self.cache_size = cache_size
        self.direct_min = 4 * block_size  # reads of this many uncached bytes bypass the cache
        self.no_range_limit = _no_range_limit() if no_range_limit is None else no_range_limit
        self.max_retries, self.backoff, self.timeout, self.poll = max_retries, backoff, timeout, poll
        self.part_size, self.workers = part_size, workers
        self._target = url  # the redirect target once known
        self._token = hub.token_for(url) if token is True else (token or None)
        self._connected = False  # a response came: later connect errors are transient
        self._etag: str | None = None
        self._whole: bytes | None = None  # the file, from a server that ignores Range
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cache_dir = cache_dir if cache_dir is not None else os.environ.get("IRPA_CACHE_DIR")
        self._disk: _DiskCache | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._owns_client = client is None
        self._client = client if client is not None else new_client(workers)
        self._settings = {
            "block_size": block_size, "cache_size": cache_size, "no_range_limit": self.no_range_limit,
            "max_retries": max_retries, "backoff": backoff, "timeout": timeout, "poll": poll,
            "part_size": part_size, "workers": workers, "cache_dir": self._cache_dir,
        }  # fmt: skip
        self.size = -1
        if known is not None:
            # Size, ETag and redirect target from an earlier probe of this
            # file (a copy in another process): no request until a read.
            self.size, self._etag, self._target = known
            self._connected = True
            if self._cache_dir and self._etag:
                self._disk = _DiskCache(self._cache_dir, self.url, self._etag, self.size, self.block_size)
            return
        try:
            if opened is not None:
                opened(self)  # before the first request: its bytes can be watched as they come
            self._probe()
        except BaseException:
            self.close()
            raise

    # -- requests ---------------------------------------------------------------

    def _timeout(self, *events: threading.Event | None) -> httpx.Timeout:
        # With a cancel flag, socket reads wait at most `poll` so the flag is
        # seen; a silent server is then asked again until `timeout` passes.
        cancellable = self.cancel is not None or any(e is not None for e in events)
        read = min(self.poll, self.timeout) if cancellable else self.timeout
        return httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0), read=read)

    def _send(self, start: int, end: int, events: tuple[threading.Event | None, ...]) -> httpx.Response:
        url = self._target
        headers = {"Range": f"bytes={start}-{end - 1}"}
        if self._token and hub.same_origin(url, self.url):
            headers["Authorization"] = f"Bearer {self._token}"
        request = self._client.build_request("GET", url, headers=headers, timeout=self._timeout(*events))
        response = self._client.send(request, stream=True)
        with self._lock:
            self.requests += 1 + len(response.history)
        self._connected = True
        return response

    @contextlib.contextmanager
    def _ranged(self, start: int, end: int, events: tuple[threading.Event | None, ...]) -> Iterator[httpx.Response]:
        """A checked 206 response for ``[start, end)`` (or a 200 from byte 0)."""
        response = self._send(start, end, events)
        try:
            self._check(response, start)
            yield response
        finally:
            response.close()

    def _check(self, r: httpx.Response, start: int) -> None:
        status = r.status_code
        if status == 206:
            first, _, total = self._content_range(r)
            if first != start:
                raise ArchiveError(self.name, start, f"the server sent bytes from {first}, not from {start}")
            if total is not None and total != self.size:
                raise ArchiveError(
                    self.name, None, f"the file changed on the server ({self.size} bytes, now {total}); open it again"
                )
            self._check_same_file(r)
            return
        if status == 200:
            if start == 0 and r.headers.get("content-length") == str(self.size):
                self._check_same_file(r)
                return
            raise ArchiveError(self.name, start, "the server stopped answering range requests (200 instead of 206)")
        if status in _RETRY_STATUS:
            raise _Retry(status, _retry_after(r))
        if status in (401, 403, 404, 410) and self._target != self.url:
            raise _Stale
        raise ArchiveError(self.name, None, self._status_reason(r))

    def _content_range(self, r: httpx.Response) -> tuple[int, int, int | None]:
        m = _CONTENT_RANGE.fullmatch(r.headers.get("content-range", "").strip())
        if not m:
            raise ArchiveError(self.name, None, "the server answered 206 without a valid Content-Range")
        return int(m[1]), int(m[2]), None if m[3] == "*" else int(m[3])

    def _note_response(self, r: httpx.Response) -> None:
        """After a first good answer: remember the redirect target and ETag."""
        encoding = r.headers.get("content-encoding", "identity").lower()
        if encoding != "identity":
            raise ArchiveError(
                self.name,
                None,
                f"the server compressed the file (Content-Encoding: {one_line(encoding)}) although asked not to",
            )
        if r.history and str(r.url) != self.url:
            self._target = str(r.url)
        self._etag = _etag(r)

    def _check_same_file(self, r: httpx.Response) -> None:
        etag = _etag(r)
        if self._etag and etag and etag != self._etag:
            raise ArchiveError(self.name, None, "the file changed on the server while it was being read; open it again")

    def _status_reason(self, r: httpx.Response) -> str:
        status = r.status_code
        is_hub = hub.same_origin(self.url, hub.endpoint())
        code = r.headers.get("x-error-code", "")
        message = one_line(r.headers.get("x-error-message", ""))
        detail = f" ({message})" if message else ""
        what = f"HTTP {status}{' ' + r.reason_phrase if r.reason_phrase else ''}"
        login = "set HF_TOKEN or run `hf auth login`"
        if status == 401 and is_hub:
            if self._token:
                return (
                    f"{what}: the Hub refused the token, or the repository does not exist{detail}; "
                    f"check the name, then {login} again"
                )
            return (
                f"{what}: the repository is private or gated, or does not exist{detail}; if it exists, "
                f"accept its terms on the model page and {login}"
            )
        if status == 403 and is_hub:
            return (
                f"{what}: the repository is gated{detail}; accept its terms on the model page "
                f"(with the account of your token) and {login}"
            )
        if status in (401, 403):
            return f"{what}: the server refused access{detail}; irpa sends a token only to the Hub ({hub.endpoint()})"
        if status in (404, 410):
            if code == "RevisionNotFound":
                return f"{what}: no such revision{detail}; check the name after '@'"
            if code == "RepoNotFound":
                return f"{what}: no such repository{detail}; check the name (a private one needs a token: {login})"
            if code == "EntryNotFound":
                return f"{what}: no such file in the repository{detail}; check the path"
            if is_hub:
                return f"{what}: no such file or revision{detail}; check the repository, revision and path"
            return f"{what}: no such file{detail}; check the URL"
        if status == 416:
            return f"{what}: the server refused the byte range; the file may have changed, open it again"
        return f"unexpected answer {what}{detail}"

    # -- retries ----------------------------------------------------------------

    def _failed(self, e: Exception, pos: int, tries: _Tries, events: tuple[threading.Event | None, ...]) -> None:
        """Decide after a failed exchange: return to retry (after a pause
        that grows with the failures in a row), or raise."""
        self._check_cancel(*events)
        if isinstance(e, _Stale):
            self._target = self.url
            return
        if isinstance(e, httpx.ReadTimeout):
            # A silent socket: ask again (resuming) until `timeout` passes
            # without data. Not a failure in a row: the short read timeout is
            # only there so that the cancel flag is seen.
            if time.monotonic() - tries.last_data < self.timeout:
                with self._lock:
                    self.retries += 1
                return
            raise ArchiveError(self.name, pos, f"the server sent nothing for {self.timeout:g} s; try again later")
        fatal = self._fatal(e)
        if fatal:
            raise ArchiveError(self.name, None, fatal)
        tries.failures += 1
        if tries.failures > self.max_retries:
            raise ArchiveError(
                self.name,
                pos,
                f"gave up after {self.max_retries} retries ({_describe(e)}); check the network or try again later",
            )
        delay = min(self.backoff * 2 ** (tries.failures - 1), 8.0)
        if isinstance(e, _Retry) and e.retry_after is not None:
            delay = min(max(delay, e.retry_after), 30.0)
        with self._lock:
            self.retries += 1
        self._sleep(delay, events)

    def _fatal(self, e: Exception) -> str | None:
        """The reason when retrying cannot help, else None."""
        host = urlsplit(self._target).netloc or self._target
        if isinstance(e, httpx.ConnectError):
            cause = _root_cause(e)
            if isinstance(cause, socket.gaierror):
                return f"cannot resolve the host {host}; check the URL (or HF_ENDPOINT) and the network"
            if isinstance(cause, ssl.SSLError):
                return f"TLS failed with {host}: {one_line(str(cause))}"
            if isinstance(cause, ConnectionRefusedError) and not self._connected:
                return (
                    f"cannot connect to {host} (connection refused); "
                    "check the URL (or HF_ENDPOINT) and that the server is up"
                )
            return None
        if isinstance(e, httpx.TooManyRedirects):
            return "too many redirects; check the URL"
        if isinstance(e, (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError, httpx.ProxyError)):
            return f"cannot request it: {one_line(str(e))}"
        return None

    def _sleep(self, delay: float, events: tuple[threading.Event | None, ...]) -> None:
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            self._check_cancel(*events)
            time.sleep(min(left, 0.05))

    # -- the first answer: size, range support, first block ----------------------

    def _probe(self) -> None:
        tries = _Tries()
        while True:
            self._check_cancel()
            try:
                response = self._send(0, self.block_size, ())
                try:
                    self._first_answer(response)
                    return
                finally:
                    response.close()
            except _Transient as e:
                self._failed(e, 0, tries, ())

    def _first_answer(self, r: httpx.Response) -> None:
        status = r.status_code
        if status == 206:
            self._note_response(r)
            first, last, total = self._content_range(r)
            if first != 0:
                raise ArchiveError(self.name, None, f"the server sent bytes from {first}, not from 0")
            if total is None:
                raise ArchiveError(self.name, None, "the server did not tell the file size in its Content-Range")
            self.size = total
            if self._cache_dir and self._etag:
                self._disk = _DiskCache(self._cache_dir, self.url, self._etag, total, self.block_size)
            try:
                body = self._read_body(r, last + 1)
            except _Transient:
                return  # size known; the first block will be fetched again when needed
            if len(body) == min(self.block_size, total):
                self._put(0, body)
            return
        if status == 200:
            self._note_response(r)
            self._whole_file(r)
            return
        if status == 416:
            # A range from byte 0 that cannot be satisfied: the file is empty.
            self._note_response(r)
            self.size = 0
            self._whole = b""
            return
        self._check(r, 0)  # raises the status's error

    def _whole_file(self, r: httpx.Response) -> None:
        """The server ignores Range: keep a small file, refuse a big one."""
        limit = self.no_range_limit
        length = r.headers.get("content-length")
        advice = "download it first, or set IRPA_NO_RANGE_LIMIT to a larger size in bytes"
        if length is not None and length.isdigit() and int(length) > limit:
            raise ArchiveError(
                self.name,
                None,
                f"the server ignores range requests and the file has {length} bytes: "
                f"reading it would download all of it; {advice}",
            )
        body = self._read_body(r, limit + 1)
        if len(body) > limit:
            raise ArchiveError(
                self.name,
                None,
                f"the server ignores range requests and the file is over {limit} "
                f"bytes: reading it would download all of it; {advice}",
            )
        if length is not None and length.isdigit() and len(body) != int(length):
            raise _ShortBody
        self._whole = body
        self.size = len(body)

    def _read_body(self, r: httpx.Response, limit: int) -> bytes:
        parts: list[bytes] = []
        got = 0
        for piece in r.iter_raw():
            self._check_cancel()
            parts.append(piece)
            got += len(piece)
            with self._lock:
                self.bytes_fetched += len(piece)
            if got >= limit:
                break
        return b"".join(parts)[:limit]

    # -- the block cache --------------------------------------------------------

    def _get(self, index: int) -> bytes | None:
        with self._lock:
            block = self._cache.get(index)
            if block is not None:
                self._cache.move_to_end(index)
                return block
        if self._disk is not None:
            block = self._disk.get(index)
            if block is not None:
                self._remember(index, block)
        return block

    def _put(self, index: int, block: bytes) -> None:
        self._remember(index, block)
        if self._disk is not None:
            self._disk.put(index, block)

    def _remember(self, index: int, block: bytes) -> None:
        with self._lock:
            self._cache[index] = block
            self._cache.move_to_end(index)
            while len(self._cache) * self.block_size > self.cache_size and len(self._cache) > 1:
                self._cache.popitem(last=False)

    def _fetch_blocks(self, first: int, last: int) -> bytes:
        """Blocks ``first..last`` in one request, stored in the cache."""
        b = self.block_size
        start, end = first * b, min(self.size, (last + 1) * b)
        data = b"".join(self._stream(start, end))
        for i in range(first, last + 1):
            self._put(i, data[(i - first) * b : (i - first + 1) * b])
        return data

    # -- reading ----------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ArchiveError(self.name, None, "read after the source was closed")

    def _readinto(self, offset: int, view: memoryview) -> None:
        self._check_open()
        if self._whole is not None:
            view[:] = self._whole[offset : offset + len(view)]
            return
        b = self.block_size
        pos, end = offset, offset + len(view)
        while pos < end:
            self._check_cancel()
            index = pos // b
            block = self._get(index)
            if block is None:
                # The run of uncached blocks from here: straight to the
                # caller when big, else fetched whole into the cache.
                last, stop = index, (end - 1) // b
                while last < stop and self._get(last + 1) is None:
                    last += 1
                run_end = min(end, (last + 1) * b)
                if run_end - pos >= self.direct_min:
                    self._stream_into(pos, view[pos - offset : run_end - offset])
                    pos = run_end
                    continue
                data = self._fetch_blocks(index, last)
                lo = pos - index * b
                view[pos - offset : run_end - offset] = data[lo : lo + run_end - pos]
                pos = run_end
                continue
            lo = pos - index * b
            take = min(end - pos, len(block) - lo)
            view[pos - offset : pos - offset + take] = block[lo : lo + take]
            pos += take

    def _stream_into(self, start: int, view: memoryview) -> None:
        at = 0
        for piece in self._stream(start, start + len(view)):
            view[at : at + len(piece)] = piece
            at += len(piece)
        if self._disk is not None:  # the whole blocks of a big read, for the next run
            b = self.block_size
            for i in range(-(-start // b), (start + len(view)) // b + 1):
                lo = i * b - start
                self._disk.put(i, view[lo : lo + b])

    def _stream(self, start: int, end: int, *events: threading.Event | None) -> Iterator[bytes]:
        """Bytes ``[start, end)`` in pieces as they arrive, resuming after
        failures at the byte reached."""
        self._check_open()
        if self._whole is not None:
            yield self._whole[start:end]
            return
        pos = start
        tries = _Tries()
        while pos < end:
            self._check_cancel(*events)
            try:
                with self._ranged(pos, end, events) as r:
                    for piece in r.iter_raw():
                        if not piece:
                            continue
                        if len(piece) > end - pos:
                            piece = piece[: end - pos]
                        pos += len(piece)
                        with self._lock:
                            self.bytes_fetched += len(piece)
                        tries.data()
                        yield piece
                        if pos >= end:
                            break
                        self._check_cancel(*events)
                if pos < end:
                    raise _ShortBody
            except _Transient as e:
                self._failed(e, pos, tries, events)

    def iter_chunks(self, offset: int, length: int, chunk: int = CHUNK) -> Iterator[bytes]:
        """As ``Source.iter_chunks``; a big range is one streamed request
        rather than one per chunk."""
        if self._whole is not None or length < self.direct_min:
            yield from super().iter_chunks(offset, length, chunk)
            return
        self.check_range(offset, length)
        buf = bytearray()
        for piece in self._stream(offset, offset + length):
            buf += piece
            while len(buf) >= chunk:
                yield bytes(buf[:chunk])
                del buf[:chunk]
        if buf:
            yield bytes(buf)

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
        """Stream ``[offset, offset+length)`` into ``fd`` at ``out_offset``:
        parts of ``part_size`` fetched by ``workers`` parallel requests,
        each piece written as it arrives (memory: a piece per worker)."""
        self.check_range(offset, length, what)
        if self._whole is not None or length <= self.part_size or self.workers < 2:
            done = 0
            for piece in self._stream(offset, offset + length, cancel):
                pwrite_all(fd, piece, out_offset + done)
                done += len(piece)
                if progress is not None:
                    progress(len(piece))
            return length
        stop = threading.Event()  # set when one part fails: the others stop too
        lock = threading.Lock()
        copied = [0]

        def part(at: int, n: int) -> None:
            done = 0
            for piece in self._stream(offset + at, offset + at + n, cancel, stop):
                pwrite_all(fd, piece, out_offset + at + done)
                done += len(piece)
                with lock:
                    copied[0] += len(piece)

        reported = 0
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="irpa-fetch") as pool:
            futures = [
                pool.submit(part, at, min(self.part_size, length - at)) for at in range(0, length, self.part_size)
            ]
            try:
                pending = set(futures)
                while pending:
                    finished, pending = wait(pending, timeout=0.1, return_when=FIRST_EXCEPTION)
                    for f in finished:
                        f.result()
                    if progress is not None:
                        with lock:
                            now = copied[0]
                        if now > reported:
                            progress(now - reported)
                            reported = now
            except BaseException:
                stop.set()
                for f in futures:
                    f.cancel()
                raise
        return length

    def __reduce__(self) -> tuple:
        """A source crosses to another process (a background job) as its
        address and what its probe learnt: the copy makes no request before
        its first read, starts with an empty cache and no cancel flag (such
        a process is stopped, not asked). A file held whole (its server
        ignores Range) or a closed source is opened again there."""
        if self._whole is not None or self._closed:
            return (_reopen, (self.url, self.name, self._token or False, self._settings, None))
        known = (self.size, self._etag, self._target)
        return (_reopen, (self.url, self.name, self._token or False, self._settings, known))

    def close(self) -> None:
        self._closed = True
        self._whole = None
        with self._lock:
            self._cache.clear()
        if self._owns_client:
            self._client.close()


def _reopen(url: str, name: str, token: str | bool, settings: dict, known: tuple | None) -> HttpSource:
    return HttpSource(url, name=name, token=token, known=known, **settings)


def new_client(workers: int = WORKERS) -> httpx.Client:
    """The httpx client a source uses: HTTP/1.1 keep-alive, redirects
    followed, no compression (ranges address the bytes of the file)."""
    n = workers + 2
    return httpx.Client(
        http1=True,
        http2=False,
        follow_redirects=True,
        limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
        headers={"User-Agent": "irpa", "Accept-Encoding": "identity"},
    )


def _etag(r: httpx.Response) -> str | None:
    etag = r.headers.get("etag")
    return etag.removeprefix("W/") if etag else None


def _retry_after(r: httpx.Response) -> float | None:
    value = r.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


def _root_cause(e: BaseException) -> BaseException:
    """The OS or TLS error under httpx's and httpcore's wrappers (httpcore
    chains it as the context, not the cause)."""
    for _ in range(10):
        inner = e.__cause__ or e.__context__
        if inner is None:
            break
        e = inner
    return e


def _describe(e: Exception) -> str:
    if isinstance(e, (_Retry, _ShortBody)):
        return str(e)
    cause = _root_cause(e)
    text = one_line(str(cause) or type(cause).__name__, 120)
    return f"{type(e).__name__}: {text}"


# -- specs ---------------------------------------------------------------------


def open_remote(
    spec: str, *, cancel: threading.Event | None = None, opened: Callable[[Source], None] | None = None
) -> HttpSource:
    """An ``http(s)://`` URL or an ``hf://ORG/REPO[@REV]/PATH`` as a source;
    errors name the spec as given. ``opened``: see ``HttpSource``."""
    if spec[:5].lower() == "hf://":
        path = hub.parse_hf(spec)
        if not path.path:
            raise ArchiveError(
                spec, None, "is a repository, not a file: give a path inside it (hf://ORG/REPO[@REVISION]/PATH)"
            )
        return HttpSource(path.resolve_url(), name=spec, cancel=cancel, opened=opened)
    return HttpSource(spec, cancel=cancel, opened=opened)


def fetch(spec: str, *, url: str | None = None, limit: int = 64 << 20, cancel: threading.Event | None = None) -> bytes:
    """All of a small remote file (an index, an API answer)."""
    with HttpSource(url or spec, name=spec, cancel=cancel, cache_size=0) as src:
        if src.size > limit:
            raise ArchiveError(spec, None, f"is {src.size} bytes, more than the {limit >> 20} MiB expected")
        return src.read(0, src.size)


_FILE_SUFFIXES = (".gguf", ".safetensors", ".irpa", ".json")


def expand_remote(spec: str, *, cancel: threading.Event | None = None) -> list[str]:
    """The remote files one user-given spec stands for, as
    ``irpa_core.formats.expand`` does for local paths: a bare ``hf://ORG/REPO``
    gives the file its listing points to, and so does a directory in it
    (``hf://ORG/REPO/q8``); an index (``*.safetensors.index.json``) gives its
    shards; the first shard of a split GGUF gives all shards. ``hf://`` specs
    expand to ``hf://`` specs, URLs to URLs."""
    if spec[:5].lower() == "hf://":
        path = hub.parse_hf(spec)
        picked = not path.path
        if picked:
            listing = fetch(str(path), url=path.api_url(), cancel=cancel)
            path = path.child(shards.pick_model(str(path), hub.siblings(str(path), listing)))
        elif not path.path.lower().endswith(_FILE_SUFFIXES):
            # Perhaps a directory: the listing says (one request, only for
            # paths that do not name a model file by their suffix).
            names = hub.siblings(str(path), fetch(str(path), url=path.api_url(), cancel=cancel))
            prefix = path.path + "/"
            inside = [n[len(prefix) :] for n in names if n.startswith(prefix)]
            if inside:
                path = path.child(prefix + shards.pick_model(str(path), inside))
                picked = True
        directory = posixpath.dirname(path.path)
        if shards.is_index(path.path):
            names = shards.index_shards(str(path), fetch(str(path), url=path.resolve_url(), cancel=cancel))
            return [str(path.child(posixpath.join(directory, s))) for s in names]
        split = shards.split_gguf_shards(path.path)
        if split:
            return [str(path.child(s)) for s in split]
        return [str(path)] if picked else [spec]
    parts = urlsplit(spec)
    name = unquote(posixpath.basename(parts.path))
    base = urlunsplit((parts.scheme, parts.netloc, posixpath.dirname(parts.path).rstrip("/") + "/", "", ""))
    if shards.is_index(name):
        names = shards.index_shards(spec, fetch(spec, cancel=cancel))
        return [base + quote(s, safe="/") for s in names]
    split = shards.split_gguf_shards(name)
    if split:
        return [base + quote(s, safe="") for s in split]
    return [spec]
