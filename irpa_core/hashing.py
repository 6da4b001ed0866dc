"""Hashes of tensor data, and manifests of them: ``irpa hash``'s engine.

A manifest is what llama.cpp's ``llama-gguf-hash`` and the ``gguf``
package's ``gguf_hash.py`` print: per tensor, one line per algorithm,
``ALGO`` padded to 8 columns, two spaces, the hex digest, two spaces,
``FILE:TENSOR``; then the whole-model lines ``ALGO  HEX  FILE`` over all
tensor data of the file in order, and ``uuid  UUID  FILE``: a UUIDv5 (the
SHA-1 of the namespace ``ef001206-dadc-5f6d-a15f-3359e577d4e5`` followed by
all tensor data, version and variant bits set as RFC 9562 says). Lines come
in their order: for each tensor xxh64, xxh3, sha1, sha256; then the model
lines in the same order, uuid last. ``--sha1 --sha256 --uuid`` thus prints
exactly what ``gguf_hash.py`` prints (it always hashes with those two and
adds the UUID). xxh64 and xxh3 come from the ``xxhash`` package (hashlib has
neither); their hex is the canonical big-endian form both tools print.

What a "tensor" is in each format:

- GGUF: each tensor of the tensor-info table, in table order, its
  ``n_bytes`` of data (not the alignment padding after it). Like
  ``llama-gguf-hash``, every tensor is hashed; ``gguf_hash.py`` alone skips
  names ending in ``.attention.masked_bias``, ``.attention.bias`` and
  ``.rotary_emb.inv_freq`` (which GGUF converters do not write).
- safetensors: each tensor of the header, in the order of its data in the
  file, its bytes as stored.
- irpa: each data entry (and external entry: the bytes in the file it names)
  in table order. A splat entry has no bytes in any file: it is not hashed,
  not part of the whole-model hashes, and ``check`` ignores it on our side
  (a manifest line naming it counts as "missing"). ``FileHashes.skipped``
  lists them so front ends can say so.

A file cut off in its data (``salvage``) is hashed as far as it goes: each
complete tensor gets its lines; a partial or missing one is listed in
``FileHashes.incomplete`` with its state instead, and the file gets no
whole-model lines (their value depends on bytes that are not there).
``check`` names each such tensor ``incomplete``, so a cut-off download
fails its manifest for exactly the tensors it lacks.

A split GGUF set or safetensors shards give one section per file, each as
the tools print for that file alone, so concatenated per-shard manifests of
theirs check against a set of ours.

Names are printed as they are when printable; a name holding a control or
format character is written escaped (``display.escape``), so a manifest
never carries terminal control, and ``check`` matches either form.
"""

from __future__ import annotations

import hashlib
import os
import uuid as _uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .display import escape
from .errors import ArchiveError, Cancelled
from .model import CHUNK, COMPLETE, SPLAT, Entry, data_of, entry_state, iter_chunks, source_of
from .write import Progress

# In the order the tools print them.
ALGORITHMS = ("xxh64", "xxh3", "sha1", "sha256")
UUID = "uuid"
# The strongest first: what ``check`` uses when the caller names none (as llama-gguf-hash does).
STRENGTH = ("sha256", "sha1", "xxh64", "xxh3", UUID)
DEFAULT = ("xxh64",)  # llama-gguf-hash's default
UUID_NAMESPACE = _uuid.UUID("ef001206-dadc-5f6d-a15f-3359e577d4e5")


def _new(algo: str):
    if algo in ("sha1", "sha256"):
        return hashlib.new(algo)
    import xxhash

    return xxhash.xxh64() if algo == "xxh64" else xxhash.xxh3_64()


@dataclass(frozen=True, slots=True, kw_only=True)
class FileHashes:
    """The hashes of one file: ``tensors`` (name, {algorithm: hex}) in file
    order (empty with ``layers=False``), ``model`` {algorithm: hex} over all
    tensor data (``uuid``: the UUIDv5 when asked; empty for a cut-off
    file), ``skipped``: splat entries (no bytes to hash), ``incomplete``:
    (name, state) of the tensors a cut-off file does not hold whole (not
    hashed), ``bytes``: tensor bytes hashed."""

    file: str
    tensors: tuple[tuple[str, dict[str, str]], ...]
    model: dict[str, str]
    skipped: tuple[str, ...] = ()
    incomplete: tuple[tuple[str, str], ...] = ()
    bytes: int = 0

    def lines(self, name: str | None = None) -> list[str]:
        """Manifest lines, ``name`` standing for the file (default: as opened)."""
        f = escape(self.file if name is None else name)
        out = []
        for tensor, digests in self.tensors:
            out += [f"{a:<8}  {digests[a]}  {f}:{escape(tensor)}" for a in ALGORITHMS if a in digests]
        out += [f"{a:<8}  {self.model[a]}  {f}" for a in (*ALGORITHMS, UUID) if a in self.model]
        return out


def hash_entries(
    file: str,
    entries: Iterable[Entry],
    algorithms: Sequence[str] = DEFAULT,
    *,
    layers: bool = True,
    uuid: bool = False,
    progress: Callable[[Progress], None] | None = None,
    cancel=None,
    done: int = 0,
    total: int | None = None,
) -> FileHashes:
    """Hash ``entries`` (one file's, in file order) with ``algorithms`` (a
    subset of ``ALGORITHMS``): per tensor when ``layers``, and over all of
    them; ``uuid`` adds the UUIDv5. Streams each entry in ``CHUNK`` pieces:
    memory stays bounded. ``progress`` gets a ``Progress`` after each piece
    (``done``/``total``: bytes already hashed and to hash in all, for work
    over several files); ``cancel.is_set()`` raises ``Cancelled``."""
    algos = [a for a in ALGORITHMS if a in algorithms]
    unknown = set(algorithms) - set(ALGORITHMS)
    if unknown:
        raise ValueError(f"unknown hash algorithms: {sorted(unknown)}")
    items = list(entries)
    skipped = tuple(e.name for e in items if e.kind == SPLAT)
    states = [(e, entry_state(e)) for e in items if e.kind != SPLAT]
    data = [e for e, state in states if state == COMPLETE]
    incomplete = tuple((e.name, state) for e, state in states if state != COMPLETE)
    if total is None:
        total = done + sum(e.length for e in data)
    model = {a: _new(a) for a in algos}
    if uuid:
        model[UUID] = hashlib.sha1(UUID_NAMESPACE.bytes)
    tensors: list[tuple[str, dict[str, str]]] = []
    hashed = 0
    buf = memoryview(bytearray(CHUNK))
    for i, e in enumerate(data):
        own = {a: _new(a) for a in algos} if layers else {}
        if cancel is not None and cancel.is_set():
            raise Cancelled("hashing")
        for chunk in _pieces(e, buf):
            if cancel is not None and cancel.is_set():
                raise Cancelled("hashing")
            for h in own.values():
                h.update(chunk)
            for h in model.values():
                h.update(chunk)
            hashed += len(chunk)
            if progress is not None:
                progress(Progress(e.name, i, len(data), done + hashed, total))
        if layers:
            tensors.append((e.name, {a: h.hexdigest() for a, h in own.items()}))
    digests = {a: h.hexdigest() for a, h in model.items() if a != UUID}
    if uuid:
        digests[UUID] = str(_uuid.UUID(bytes=model[UUID].digest()[:16], version=5))
    if incomplete:  # over the bytes present only: not the file's hash, not printed
        digests = {}
    return FileHashes(
        file=file, tensors=tuple(tensors), model=digests, skipped=skipped, incomplete=incomplete, bytes=hashed
    )


def _pieces(e: Entry, buf: memoryview) -> Iterable[memoryview | bytes]:
    """The entry's bytes in order: a local file's read into ``buf``, reused
    (no new buffer, no copy per piece: hashing runs at the speed of the hash,
    as ``openssl dgst`` does); a remote file's as ``iter_chunks`` streams
    them (one request per entry)."""
    src = source_of(e)
    if src.remote:
        yield from iter_chunks(e)
        return
    what = data_of(e)
    src.check_range(e.start, e.length, what)
    pos = 0
    while pos < e.length:
        n = min(len(buf), e.length - pos)
        src.readinto(e.start + pos, buf[:n], what)
        yield buf[:n]
        pos += n


def hash_files(
    spec: str,
    algorithms: Sequence[str] = DEFAULT,
    *,
    layers: bool = True,
    uuid: bool = False,
    progress: Callable[[Progress], None] | None = None,
    cancel=None,
) -> list[FileHashes]:
    """Hash the file ``spec`` names (a path, URL or ``hf://`` spec; the first
    shard of a split GGUF or a safetensors index stands for every file of
    the set; a directory, its model): one ``FileHashes`` per file, named
    ``spec`` when it names that one file (as the tools print the path they
    were given), else by the path or URL of each file."""
    from .formats import expand, read_file

    paths = expand(spec, cancel)
    opened = []
    try:
        for p in paths:
            opened.append(read_file(p, cancel=cancel))
        total = sum(e.length for _, es in opened for e in es if e.kind != SPLAT and entry_state(e) == COMPLETE)
        out: list[FileHashes] = []
        done = 0
        for sf, entries in opened:
            name = spec if paths == [spec] else sf.path
            fh = hash_entries(
                name, entries, algorithms, layers=layers, uuid=uuid, progress=progress, cancel=cancel,
                done=done, total=total,
            )  # fmt: skip
            done += fh.bytes
            out.append(fh)
        return out
    finally:
        for sf, _ in opened:
            if sf.source is not None:
                sf.source.close()


# ---------------------------------------------------------------------------
# Manifests: reading theirs and ours, and checking a file against one


@dataclass(slots=True)
class ManifestFile:
    """What a manifest says of one file: tensor digests by name (each name
    as written) and whole-model digests, per algorithm."""

    name: str
    tensors: dict[str, dict[str, str]] = field(default_factory=dict)
    model: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Manifest:
    path: str
    files: tuple[ManifestFile, ...]

    @property
    def algorithms(self) -> set[str]:
        return {a for f in self.files for d in (f.model, *f.tensors.values()) for a in d}


def parse_manifest(text: str, path: str = "manifest") -> Manifest:
    """Read a manifest (``llama-gguf-hash``'s, ``gguf_hash.py``'s or ours).

    Each line is ``ALGO HEX NAME`` separated by whitespace; lines whose first
    word is not a known algorithm are ignored (headers, the verdict lines of
    a ``--check`` run). A name is a file's whole-model line, or
    ``FILE:TENSOR`` when it starts with the name of such a line and a colon
    (a file name may itself hold colons: ``hf://...``, ``C:\\...``).
    ``ArchiveError`` when no line is a hash line."""
    rows: list[tuple[str, str, str]] = []
    known = {*ALGORITHMS, UUID}
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 3 or parts[0] not in known:
            continue
        name = parts[2].rstrip()
        if "  -  " in name and name.rsplit("  -  ", 1)[1] in ("Ok", "Mismatch", "Not Found"):
            name = name.rsplit("  -  ", 1)[0]  # a line of llama-gguf-hash --check's own output
        rows.append((parts[0], parts[1].lower(), name))
    if not rows:
        raise ArchiveError(path, None, "not a hash manifest: no line of the form 'ALGORITHM  HEX  FILE[:TENSOR]'")
    names = {n for _, _, n in rows}
    files: dict[str, ManifestFile] = {}

    def split(name: str) -> tuple[str, str | None]:
        at = name.find(":")
        while at != -1:
            if name[:at] in names:
                return name[:at], name[at + 1 :]
            at = name.find(":", at + 1)
        return name, None

    parsed = [(a, h, *split(n)) for a, h, n in rows]
    # Files first (their model lines come last in a manifest), then tensors.
    for _, _, f, t in parsed:
        if t is None or f not in files:
            files.setdefault(f, ManifestFile(f))
    for a, h, f, t in parsed:
        mf = files[f]
        if t is None:
            mf.model[a] = h
        else:
            mf.tensors.setdefault(t, {})[a] = h
    return Manifest(path, tuple(files.values()))


def read_manifest(path: str) -> Manifest:
    """``parse_manifest`` of a file; ``ArchiveError`` naming it when it cannot be read."""
    try:
        with open(path, "rb") as f:
            raw = f.read(256 << 20)
    except FileNotFoundError:
        raise ArchiveError(path, None, "no such manifest file") from None
    except IsADirectoryError:
        raise ArchiveError(path, None, "is a directory, not a manifest file") from None
    except OSError as e:
        raise ArchiveError(path, None, f"cannot read the manifest: {e.strerror}") from None
    return parse_manifest(raw.decode("utf-8", "surrogateescape"), path)


def check_algorithms(manifest: Manifest, wanted: Sequence[str] = ()) -> list[str]:
    """What to compute to check against ``manifest``: the algorithms asked
    for that it holds, else its strongest one per kind of line (tensor
    lines and whole-file lines), as llama-gguf-hash picks the strongest.
    ``ArchiveError`` when none asked for is in it."""
    present = manifest.algorithms
    if wanted:
        chosen = [a for a in STRENGTH if a in wanted and a in present]
        if not chosen:
            have = ", ".join(a for a in STRENGTH if a in present)
            raise ArchiveError(manifest.path, None, f"holds no {'/'.join(wanted)} hashes (it has {have})")
        return chosen
    per_tensor = {a for f in manifest.files for d in f.tensors.values() for a in d}
    per_file = {a for f in manifest.files for a in f.model}
    best = {next(a for a in STRENGTH if a in kind) for kind in (per_tensor, per_file) if kind}
    return [a for a in STRENGTH if a in best]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of ``check``: ``kind`` is ``differs`` (a tensor's or the
    whole file's hash), ``missing`` (in the manifest, not in the file),
    ``extra`` (in the file, not in the manifest), ``no-file`` (a file of the
    manifest with no file here) or ``unlisted-file`` (a file here the
    manifest does not name). ``tensor`` is None for a whole-file finding."""

    kind: str
    file: str
    tensor: str | None = None
    algorithm: str | None = None


@dataclass(frozen=True, slots=True)
class CheckReport:
    manifest: str
    algorithms: tuple[str, ...]
    problems: tuple[Problem, ...]
    tensors_checked: int  # tensors of the manifest compared
    models_checked: int  # whole-file lines compared
    skipped: tuple[str, ...] = ()  # splat entries of the file (not hashed)

    @property
    def ok(self) -> bool:
        return not self.problems and (self.tensors_checked > 0 or self.models_checked > 0)

    def count(self, kind: str) -> int:
        return sum(1 for p in self.problems if p.kind == kind)


def _pair(ours: Sequence[FileHashes], manifest: Manifest) -> list[tuple[FileHashes | None, ManifestFile | None]]:
    """Our files with the manifest's: same name, else same base name, else a
    lone file on each side."""
    left = list(ours)
    right = list(manifest.files)
    pairs: list[tuple[FileHashes | None, ManifestFile | None]] = []
    for key in (lambda s: s, os.path.basename):
        for fh in list(left):
            match = [mf for mf in right if key(mf.name) in (key(fh.file), key(escape(fh.file)))]
            if len(match) == 1:
                pairs.append((fh, match[0]))
                left.remove(fh)
                right.remove(match[0])
    if len(left) == 1 and len(right) == 1:
        pairs.append((left.pop(), right.pop()))
    pairs += [(fh, None) for fh in left]
    pairs += [(None, mf) for mf in right]
    return pairs


def check(ours: Sequence[FileHashes], manifest: Manifest) -> CheckReport:
    """Compare hashes (from ``hash_files`` with ``check_algorithms``) with a
    manifest: every tensor that differs, is missing or is extra, and each
    whole-file line. Tensors are matched by name (the file part of a
    manifest line may be another path to the same file)."""
    algos = sorted({a for fh in ours for a in fh.model} | {a for fh in ours for _, d in fh.tensors for a in d})
    problems: list[Problem] = []
    tensors_checked = models_checked = 0
    for fh, mf in _pair(ours, manifest):
        if mf is None:
            assert fh is not None
            problems.append(Problem("unlisted-file", fh.file))
            continue
        if fh is None:
            problems.append(Problem("no-file", mf.name))
            continue
        listed = {t: d for t, d in mf.tensors.items() if any(a in d for a in algos)}
        seen: set[str] = set()
        for name, state in fh.incomplete:
            key = name if name in listed else escape(name)
            if key in listed:
                seen.add(key)
                problems.append(Problem("incomplete", fh.file, name, state))
            elif listed:
                problems.append(Problem("extra", fh.file, name))
        for name, digests in fh.tensors:
            key = name if name in listed else escape(name)
            want = listed.get(key)
            if want is None:
                if listed:  # a manifest without tensor lines has nothing to say of extras
                    problems.append(Problem("extra", fh.file, name))
                continue
            seen.add(key)
            tensors_checked += 1
            bad = next((a for a in STRENGTH if a in want and a in digests and want[a] != digests[a]), None)
            if bad is not None:
                problems.append(Problem("differs", fh.file, name, bad))
        for name in listed:
            if name not in seen:
                problems.append(Problem("missing", fh.file, name))
        for a in STRENGTH:
            if a in mf.model and a in fh.model:
                models_checked += 1
                if mf.model[a] != fh.model[a]:
                    problems.append(Problem("differs", fh.file, None, a))
    skipped = tuple(s for fh in ours for s in fh.skipped)
    return CheckReport(manifest.path, tuple(algos), tuple(problems), tensors_checked, models_checked, skipped)
