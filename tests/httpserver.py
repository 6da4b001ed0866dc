"""A small threaded HTTP server for tests of remote reading (127.0.0.1, port 0).

It serves the files under ``root`` with ``Range`` support (206 with
``Content-Range``, 416 outside the file, HEAD), counts requests and body
bytes sent, and has switchable behaviours. Besides plain paths it has a
Hub-like layout, with the files of a repository revision under
``root/ORG/REPO/REV/``:

- ``/ORG/REPO/resolve/REV/PATH`` answers 302 to ``/cdn/ORG/REPO/REV/PATH``
  (on ``cdn_host``: "localhost" makes the CDN another origin);
- ``/api/models/ORG/REPO/revision/REV`` lists the revision's files as
  ``siblings``;
- ``token`` set: those two answer 401 without ``Authorization: Bearer TOKEN``;
  a repository in ``gated`` answers 403; Hub error codes in ``X-Error-Code``.

The ``http_server`` fixture (tests/conftest.py) gives each test a fresh
``TestServer`` (its own root, counters and switches) on one server per test
process: a request reads ``server.ts`` when it arrives.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass
class Hit:
    """One request as the server saw it. Recorded when it arrives and
    updated before each write, so the counts are never behind what a client
    has received."""

    method: str
    path: str
    range: str | None
    status: int
    sent: int  # body bytes written
    authorization: str | None
    host: str | None


@dataclass
class TestServer:
    root: Path
    port: int = 0
    ignore_range: bool = False  # always 200 with the whole file
    cdn_host: str = "127.0.0.1"  # where resolve URLs redirect
    token: str | None = None  # Hub paths need "Bearer <token>"
    gated: set[str] = field(default_factory=set)  # repo ids answering 403
    drop_after: int | None = None  # close the connection after this many body bytes (once)
    delay: float = 0.0  # seconds before each piece of a body
    piece: int = 16 << 10
    fail_next: list[int] = field(default_factory=list)  # statuses for the next requests
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    __test__ = False  # not a test class

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bytes_sent(self, path: str | None = None) -> int:
        """Body bytes sent in all, or for paths ending with ``path``."""
        with self.lock:
            return sum(h.sent for h in self.hits if path is None or h.path.endswith(path))

    @property
    def requests(self) -> int:
        with self.lock:
            return len(self.hits)

    def reset(self) -> None:
        with self.lock:
            self.hits.clear()

    def add_repo(self, repo_id: str, revision: str = "main") -> Path:
        """The directory holding a repository revision's files."""
        d = self.root / repo_id / quote(revision, safe="")
        d.mkdir(parents=True, exist_ok=True)
        return d


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    # -- routing --------------------------------------------------------------

    def _answer(self, head: bool) -> None:
        ts = self.server.ts
        h = self.headers
        self.hit = Hit(
            self.command, urlsplit(self.path).path, h.get("Range"), 0, 0, h.get("Authorization"), h.get("Host")
        )
        with ts.lock:
            ts.hits.append(self.hit)
        try:
            self._route(ts, head)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _route(self, ts: TestServer, head: bool) -> None:
        with ts.lock:
            fail = ts.fail_next.pop(0) if ts.fail_next else None
        if fail is not None:
            return self._error(fail)
        segs = [unquote(s) for s in urlsplit(self.path).path.split("/")[1:]]
        if segs[:2] == ["api", "models"] and len(segs) == 6 and segs[4] == "revision":
            return self._api(ts, f"{segs[2]}/{segs[3]}", segs[5])
        if len(segs) >= 5 and segs[2] == "resolve":
            return self._resolve(ts, f"{segs[0]}/{segs[1]}", segs[3], "/".join(segs[4:]), head)
        if segs and segs[0] == "cdn":
            return self._file(ts.root.joinpath(*segs[1:3], quote(segs[3], safe=""), *segs[4:]), head)
        return self._file(ts.root.joinpath(*segs), head)

    def _hub_denied(self, ts: TestServer, repo_id: str) -> bool:
        if ts.token is not None and self.headers.get("Authorization") != f"Bearer {ts.token}":
            self._error(401, "RepoNotFound", "Invalid username or password.")
            return True
        if repo_id in ts.gated:
            self._error(403, "GatedRepo", f"Access to model {repo_id} is restricted.")
            return True
        return False

    def _api(self, ts: TestServer, repo_id: str, rev: str) -> None:
        if self._hub_denied(ts, repo_id):
            return
        repo = ts.root / repo_id
        d = repo / quote(rev, safe="")
        if not repo.is_dir():
            return self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
        if not d.is_dir():
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        files = sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())
        body = json.dumps({"id": repo_id, "sha": "0" * 40, "siblings": [{"rfilename": f} for f in files]}).encode()
        self.hit.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.hit.sent = len(body)
        self.wfile.write(body)

    def _resolve(self, ts: TestServer, repo_id: str, rev: str, path: str, head: bool) -> None:
        if self._hub_denied(ts, repo_id):
            return
        d = ts.root / repo_id / quote(rev, safe="")
        if not (ts.root / repo_id).is_dir():
            return self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
        if not d.is_dir():
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        if not (d / path).is_file():
            return self._error(404, "EntryNotFound", f"{path} does not exist")
        self.hit.status = 302
        self.send_response(302)
        location = f"http://{ts.cdn_host}:{ts.port}/cdn/{repo_id}/{quote(rev, safe='')}/{quote(path)}"
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    # -- files ----------------------------------------------------------------

    def _file(self, path: Path, head: bool) -> None:
        ts = self.server.ts
        if not path.is_file():
            return self._error(404)
        size = path.stat().st_size
        start, end, status = 0, size, 200
        wanted = self.headers.get("Range")
        if wanted and not ts.ignore_range:
            m = _RANGE.fullmatch(wanted.strip())
            if not m or (not m[1] and not m[2]):
                return self._error(400)
            if m[1]:
                start, end = int(m[1]), min(size, int(m[2]) + 1) if m[2] else size
            else:
                start, end = max(0, size - int(m[2])), size
            if start >= size or start >= end:
                return self._error(416, content_range=f"bytes */{size}")
            status = 206
        self.hit.status = status
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.send_header("Accept-Ranges", "none" if ts.ignore_range else "bytes")
        self.send_header("Content-Length", str(end - start))
        self.send_header("ETag", f'"{size:x}-{int(path.stat().st_mtime_ns):x}"')
        self.end_headers()
        if head:
            return
        with ts.lock:
            drop, ts.drop_after = ts.drop_after, None
        with open(path, "rb") as f:
            f.seek(start)
            pos = start
            while pos < end:
                if ts.delay:
                    time.sleep(ts.delay)
                n = min(ts.piece, end - pos)
                if drop is not None:
                    n = min(n, drop - self.hit.sent)
                    if n <= 0:  # the connection "drops" mid-body
                        self.close_connection = True
                        self.wfile.flush()
                        self.connection.shutdown(2)
                        return
                self.hit.sent += n
                self.wfile.write(f.read(n))
                pos += n

    def _error(self, status: int, code: str | None = None, message: str | None = None, content_range: str = "") -> None:
        self.hit.status = status
        body = (message or "error").encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        if message:
            self.send_header("X-Error-Message", message)
        if content_range:
            self.send_header("Content-Range", content_range)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    ts: TestServer

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up (a cancelled read, a dropped keep-alive) is
        # part of the tests, not an error worth a traceback.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def start(root: Path) -> tuple[TestServer, _Server]:
    """Serve ``root`` on 127.0.0.1 from a daemon thread."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    ts = TestServer(root, port=httpd.server_address[1])
    httpd.ts = ts
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return ts, httpd


def serve(ts: TestServer, path: Path, name: str = "model.gguf") -> str:
    """A copy of ``path`` served as ``name``: its URL."""
    shutil.copy(path, ts.root / name)
    return f"{ts.url}/{name}"


def write_random(path: Path, size: int, seed: int = 0) -> bytes:
    """A file of ``size`` reproducible random bytes; returns them."""
    import random

    data = random.Random(seed).randbytes(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


__all__ = ["Hit", "TestServer", "serve", "start", "write_random"]
