"""Repair a local file from a remote copy of it: ``irpa repair``'s engine.

A cut-off download is completed by fetching only the bytes it lacks (from
the byte reached to the end); with a manifest (``irpa_core.hashing``) the
tensors whose hashes differ are fetched again, and nothing else.

How it stays safe and resumable:

- The result is built in ``FILE.irpa-repair`` beside the file: first a copy
  of the local bytes (in order), then the remote's missing bytes, a window
  of ``WINDOW`` bytes at a time (the remote source fetches a window with a
  few parallel range requests, resuming dropped ones at the byte reached);
  after each window, ``FILE.irpa-repair.at`` records how far the file is
  whole. A run that stops (interrupted, cancelled, connection lost for
  good) leaves both; the next run checks that the partial file starts with
  the remote's header and continues at the byte recorded (at its end when
  nothing was recorded: only the ordered copy ran). The input file is not
  changed until the result is complete and verified, then the result is
  fsynced and renamed over it. A lock on the partial file keeps a second
  run of the same repair out.
- The header (every byte before the first tensor's data, as the format's
  reader finds it in the remote file) must be equal in the local file, the
  partial file and the result: a local file whose header differs is another
  file (or another version) and is refused, and so is a local file longer
  than the remote.
- With a manifest, the result's tensors are hashed; those that differ are
  fetched again from the remote and the whole result is checked again. A
  manifest that names tensors the file lacks (or lacks tensors it has)
  describes another file: refused.

What a run fetched is counted by the remote source (``bytes_fetched``):
the header (the remote source's first read-ahead block, more for a longer
header), the missing bytes, and the tensors fetched again.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
from collections.abc import Callable
from dataclasses import dataclass

from .display import escape
from .errors import ArchiveError, Cancelled, WriteError
from .hashing import UUID, Manifest, check, check_algorithms, hash_entries, read_manifest
from .model import DATA, SPLAT, Entry
from .sources import LocalSource, Source, open_source, pwrite_all
from .write import Progress, fsync_dir

SUFFIX = ".irpa-repair"
MARK = ".at"  # after the partial file's name: the byte up to which it is whole
WINDOW = 32 << 20  # remote bytes fetched (in parallel parts) before the byte reached is recorded


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairResult:
    path: str  # the file repaired
    remote: str  # where its missing bytes came from
    size: int  # its size now (the remote's)
    local_size: int  # its size before
    missing: int  # bytes it lacked at the end
    fetched: int  # bytes the remote source fetched (its first block and the header included)
    resumed_from: int | None  # the partial file's length when this run continued one
    refetched: tuple[str, ...] = ()  # tensors fetched again (they differed from the manifest)
    changed: bool = True  # False: the file was complete (and matched the manifest): left as it was


def partial_path(path: str) -> str:
    """Where a repair of ``path`` builds its result (and a later run resumes)."""
    return os.fspath(path) + SUFFIX


def repair(
    path: str,
    remote: str,
    *,
    manifest: str | None = None,
    source: Source | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancel=None,
    window: int = WINDOW,
) -> RepairResult:
    """Complete ``path`` from ``remote`` (a URL or ``hf://`` spec), fetching
    only what it lacks; with ``manifest`` (a path) also fetch again the
    tensors whose hashes differ. ``source``: the remote already open (its
    settings: retries, timeouts); closed here only when opened here.
    ``progress`` gets ``Progress(phase, 0, 1, done, total)`` with phase
    ``copying``, ``fetching``, ``hashing`` or ``re-fetching``; ``cancel``
    stops between pieces (the partial file stays for the next run)."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ArchiveError(path, None, "no such file to repair") from None
    except OSError as e:
        raise ArchiveError(path, None, f"cannot read: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ArchiveError(path, None, "not a regular file: nothing to repair")
    checker = _Manifest(manifest) if manifest is not None else None  # a bad manifest fails before any request
    src = source if source is not None else open_source(remote, cancel=cancel)
    try:
        return _repair(path, st, remote, src, checker, progress, cancel, window)
    finally:
        if source is None:
            src.close()


def _entries(src: Source) -> tuple[list[Entry], int]:
    """A file's entries (its format's reader) and the length of its
    header: the bytes before its first tensor data (all of them when it
    holds none)."""
    from .formats import detect, registry

    entries, _, _, _ = registry.get(detect(src)).read(src, "")
    starts = [e.offset for e in entries if e.kind == DATA and e.offset is not None]
    return entries, min(starts, default=src.size)


def _header(path: str, local_size: int, src: Source) -> tuple[list[Entry], int, bytes]:
    """The remote file's entries, header length and header bytes. When the
    local file holds a whole header, it is parsed here (a file cut in its
    data opens, as every reader opens one) and the remote's header is
    fetched once, as one range, to compare; else the remote's is parsed
    (its reader fetches it) and then read whole."""
    try:
        with LocalSource(path) as local:
            entries, end = _entries(local)
    except ArchiveError:
        entries, end = _entries(src)  # cut inside the header: the remote's, whatever it costs
    return entries, end, src.read(0, end)


def _first_difference(a: bytes, b: bytes) -> int | None:
    if a == b:
        return None
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def _read_local(path: str, offset: int, n: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(n)
    except OSError as e:
        raise ArchiveError(path, None, f"cannot read: {e.strerror}") from None


def _repair(path, st, remote, src: Source, checker: _Manifest | None, progress, cancel, window: int) -> RepairResult:
    size = src.size
    local_size = st.st_size
    name = src.name
    if local_size > size:
        raise ArchiveError(
            path, None, f"is longer than {name} ({local_size} > {size} bytes): not a cut-off copy of it; not repaired"
        )
    entries, header_end, header = _header(path, local_size, src)
    at = _first_difference(_read_local(path, 0, min(local_size, header_end)), header[:local_size])
    if at is not None:
        raise ArchiveError(
            path, at, f"its header differs from {name}'s: another file or another version of it; not repaired"
        )

    def report(phase: str, done: int, total: int) -> None:
        if progress is not None:
            progress(Progress(phase, 0, 1, done, total))

    tmp = partial_path(path)
    if checker is not None:
        checker.refuse_other_names(entries, path, remote)
    whole = local_size == size and (checker is None or checker.matches(path, report, cancel))
    if whole:  # nothing to fetch (and nothing differs from the manifest): no copy made
        for leftover in (tmp, tmp + MARK):  # of an earlier run: the file is whole now
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        return RepairResult(
            path=path, remote=name, size=size, local_size=local_size, missing=0,
            fetched=src.bytes_fetched, resumed_from=None, changed=False,
        )  # fmt: skip

    existed = os.path.exists(tmp)
    try:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), stat.S_IMODE(st.st_mode))
    except OSError as e:
        raise WriteError(tmp, f"cannot write the repair file: {e.strerror}") from None
    try:
        _lock(fd, tmp)
        resumed = _resumable(fd, tmp, header, size) if existed else None
        have = resumed or 0
        if have < local_size:  # the local bytes first
            with LocalSource(path, cancel=cancel) as local:
                done = [have]

                def copied(n: int) -> None:
                    done[0] += n
                    report("copying", done[0], local_size)

                local.copy_range_to(fd, have, local_size - have, have, progress=copied, cancel=cancel)
            have = local_size
        if have < header_end:  # fetched already, when the header was read
            pwrite_all(fd, header[have:header_end], have)
            have = header_end
        mark = _Mark(tmp + MARK)
        mark.set(have)  # from here on, the file is whole up to the byte recorded
        _fetch(src, fd, have, size - have, lambda d: report("fetching", d, size), cancel, have, window, mark)
        refetched: tuple[str, ...] = ()
        if checker is not None:
            os.fsync(fd)
            refetched = checker.repair(tmp, path, src, fd, report, cancel)
        os.fsync(fd)
    except OSError as e:
        os.close(fd)
        raise WriteError(tmp, f"cannot write the repair file: {e.strerror}; run again to continue") from None
    except BaseException:
        os.close(fd)
        raise
    try:  # still holding the lock: checked, then renamed
        if os.fstat(fd).st_size != size or os.pread(fd, header_end, 0) != header:
            raise WriteError(tmp, f"the repaired file does not match {name}'s size and header; not renamed")
        os.replace(tmp, path)
    except OSError as e:
        raise WriteError(path, f"cannot replace it with the repaired file {tmp}: {e.strerror}") from None
    finally:
        os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp + MARK)
    fsync_dir(os.path.dirname(os.path.abspath(path)))
    return RepairResult(
        path=path, remote=name, size=size, local_size=local_size, missing=size - local_size,
        fetched=src.bytes_fetched, resumed_from=resumed, refetched=refetched,
    )  # fmt: skip


def _lock(fd: int, tmp: str) -> None:
    """One repair of a file at a time: a second one is refused, not mixed in."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory locks
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise WriteError(tmp, "another irpa repair of this file is running; wait for it to finish") from None


def _resumable(fd: int, tmp: str, header: bytes, size: int) -> int | None:
    """Where an earlier run's partial file (open as ``fd``) can be
    continued: the byte its mark records (its length without a mark), when
    it is no longer than the remote and starts with its header; the bytes
    after that byte are cut. An unusable one is emptied (another file's, or
    another version's) and None returned."""
    mark = _Mark(tmp + MARK)
    try:
        have = os.fstat(fd).st_size
        n = min(have, len(header))
        if have <= size and os.pread(fd, n, 0) == header[:n]:
            whole = min(have, mark.get(have))
            if whole < have:
                os.ftruncate(fd, whole)  # a window in progress: parts of it may be missing
            return whole or None
        os.ftruncate(fd, 0)
        mark.clear()
    except OSError as e:
        raise WriteError(tmp, f"cannot read the repair file of an earlier run: {e.strerror}") from None
    return None


class _Mark:
    """``FILE.irpa-repair.at``: how far the partial file is whole (decimal),
    replaced atomically after each window."""

    def __init__(self, path: str) -> None:
        self.path = path

    def get(self, default: int) -> int:
        try:
            with open(self.path) as f:
                text = f.read(32).strip()
        except FileNotFoundError:
            return default
        return int(text) if text.isdigit() else 0  # unreadable: trust nothing fetched

    def set(self, offset: int) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{offset}\n")
        os.replace(tmp, self.path)

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _fetch(
    src: Source, fd: int, offset: int, length: int, progress, cancel, base: int = 0,
    window: int = WINDOW, mark: _Mark | None = None,
) -> None:  # fmt: skip
    """``[offset, offset+length)`` of the remote into ``fd`` at the same
    offset, ``window`` bytes at a time (the source may fetch a window in
    parallel parts); after each window ``mark`` records the end reached."""
    done = [0]

    def piece(n: int) -> None:
        done[0] += n
        progress(base + done[0])

    at = 0
    while at < length:
        if cancel is not None and cancel.is_set():
            raise Cancelled("repair")
        n = min(window, length - at)
        src.copy_range_to(fd, offset + at, n, offset + at, progress=piece, cancel=cancel)
        at += n
        done[0] = at
        if mark is not None:
            mark.set(offset + at)


class _Manifest:
    """The manifest half of a repair: hash the result, fetch again what differs."""

    def __init__(self, path: str) -> None:
        self.manifest = read_manifest(path)
        self.algorithms = check_algorithms(self.manifest)
        if not any(f.tensors for f in self.manifest.files):
            raise ArchiveError(
                path, None, "has no per-tensor hashes (made with --no-layer?): cannot tell which tensors to fetch"
            )

    def _check(self, tmp: str, path: str, report, cancel):
        from .formats import read_file

        sf, entries = read_file(tmp, cancel=cancel)
        try:
            total = sum(e.length for e in entries if e.kind == DATA)

            def hashing(ev: Progress) -> None:
                report("hashing", ev.bytes_done, total)

            algos = [a for a in self.algorithms if a != UUID]
            fh = hash_entries(path, entries, algos, uuid=UUID in self.algorithms, progress=hashing, cancel=cancel)
        finally:
            if sf.source is not None:
                sf.source.close()
        return check([fh], self.manifest), {e.name: e for e in entries}

    def _refuse_other_files(self, result, path: str) -> None:
        other = [p for p in result.problems if p.kind != "differs"]
        if other:
            kinds = sorted({p.kind for p in other})
            raise ArchiveError(
                self.manifest.path, None,
                f"does not describe {path} ({', '.join(kinds)} tensors or files); nothing fetched for it",
            )  # fmt: skip

    def refuse_other_names(self, entries: list[Entry], path: str, remote: str) -> None:
        """Refuse, before anything is fetched, a manifest whose tensor names
        are not those of the remote file."""
        have = {e.name for e in entries if e.kind != SPLAT}
        files = self.manifest.files
        if len(files) > 1:  # a set's manifest: this file's section, by its name here or there
            names = {os.path.basename(path), posixpath.basename(remote.split("?")[0])}
            mine = [f for f in files if os.path.basename(f.name) in names or posixpath.basename(f.name) in names]
            if len(mine) != 1:
                raise ArchiveError(
                    self.manifest.path, None, f"lists {len(files)} files, and not {os.path.basename(path)} once"
                )
            self.manifest = Manifest(self.manifest.path, (mine[0],))
        listed = set(self.manifest.files[0].tensors)
        escaped = {escape(n) for n in have}
        odd = sorted(n for n in listed if n not in have and n not in escaped)
        extra = sorted(n for n in have if n not in listed and escape(n) not in listed)
        if odd or extra:
            first = escape((odd or extra)[0])
            raise ArchiveError(
                self.manifest.path, None,
                f"does not describe the remote file ({len(odd)} tensors it lacks, {len(extra)} it has unlisted; "
                f"first: '{first}'); nothing fetched",
            )  # fmt: skip

    def matches(self, path: str, report, cancel) -> bool:
        """Whether the complete local file matches the manifest (refused
        when the manifest describes another file)."""
        result, _ = self._check(path, path, report, cancel)
        self._refuse_other_files(result, path)
        return result.ok

    def repair(self, tmp: str, path: str, src: Source, fd: int, report, cancel) -> tuple[str, ...]:
        result, by_name = self._check(tmp, path, report, cancel)
        self._refuse_other_files(result, path)
        bad = [p.tensor for p in result.problems if p.tensor is not None]
        if not bad:
            if result.problems:  # only a whole-file line differs: no tensor to fetch names it
                raise ArchiveError(
                    self.manifest.path, None,
                    f"its whole-file hash differs from {path}'s, but no tensor's does: nothing to fetch",
                )  # fmt: skip
            return ()
        total = sum(by_name[n].length for n in bad)
        done = 0
        for n in bad:
            e = by_name[n]
            _fetch(src, fd, e.start, e.length, lambda d: report("re-fetching", d, total), cancel, done)
            done += e.length
        os.fsync(fd)
        again, _ = self._check(tmp, path, report, cancel)
        if again.problems:
            still = [p.tensor or "the whole file" for p in again.problems]
            raise ArchiveError(
                src.name, None,
                f"fetched again, {len(still)} tensor(s) still differ from {self.manifest.path} "
                f"(first: {still[0]}): the remote copy does not match the manifest; {path} left as it was",
            )  # fmt: skip
        return tuple(bad)
