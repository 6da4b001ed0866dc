"""Format detection and ``open_archive``: one reader module per format.

The format comes from the file's first bytes, never its extension. Each
reader module exposes ``read_<format>(source, scope) -> (entries, metadata,
metadata_types)``, reading through an open ``Source`` (local or remote: see
``irpa_core.sources``), and is imported only when a file of its format is
opened, so ``irpa dump`` of an irpa file never pays for the gguf reader.
Remote specs (``https://``, ``hf://``) are expanded and opened through
``irpa_core.remote``, imported only for them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable

from ..errors import ArchiveError, reading
from ..model import Archive, Entry, SourceFile
from ..sources import Source, is_remote, open_source, remote_handler

SAFETENSORS_INDEX = "model.safetensors.index.json"
_SPLIT_GGUF = re.compile(r"^(?P<stem>.*)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$")


def detect(source: Source | str) -> str:
    """``irpa``, ``gguf`` or ``safetensors`` from the first bytes of a
    source (or of the file at a path)."""
    if not isinstance(source, Source):
        with _open(source) as src:
            return detect(src)
    path = source.name
    head = source.read(0, min(16, source.size))
    if head[:4] == b"IRPA":
        return "irpa"
    if head[:4] == b"GGUF":
        return "gguf"
    if head[:4] == b"FUGG":
        raise ArchiveError(path, 0, "big-endian GGUF files are not supported")
    # safetensors: u64 header size, then a JSON object starting with '{'.
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if not head:
        raise ArchiveError(path, 0, "file is empty")
    raise ArchiveError(path, 0, "not an IRPA, GGUF or safetensors file (unrecognised first bytes)")


def _open(spec: str, cancel=None, opened: Callable[[Source], None] | None = None) -> Source:
    try:
        return open_source(spec, cancel=cancel, opened=opened)
    except ArchiveError as e:
        if e.reason == "is a directory":
            raise ArchiveError(spec, None, f"is a directory without a {SAFETENSORS_INDEX}") from None
        raise


def _split_scope(spec) -> tuple[str, str]:
    """``scope=path`` (the reference ``--parameters`` syntax) or a plain
    path. A URL is never split: its query may hold '='."""
    spec = os.fspath(spec)
    if is_remote(spec):
        return "", spec
    if "=" in spec and not os.path.exists(spec):
        scope, _, path = spec.partition("=")
        return scope, path
    return "", spec


def expand(path: str, cancel=None) -> list[str]:
    """The files one user-given path stands for: a sharded safetensors
    directory gives its shards, the first shard of a split GGUF gives all;
    a bare ``hf://ORG/REPO`` gives the files its listing points to."""
    if is_remote(path):
        return remote_handler(path).expand_remote(path, cancel=cancel)
    if os.path.isdir(path):
        index = os.path.join(path, SAFETENSORS_INDEX)
        if not os.path.isfile(index):
            raise ArchiveError(path, None, f"is a directory without a {SAFETENSORS_INDEX}")
        return _index_shards(path, index)
    if os.path.basename(path) == SAFETENSORS_INDEX:
        return _index_shards(os.path.dirname(path) or ".", path)
    m = _SPLIT_GGUF.match(path)
    if m and int(m["index"]) == 1 and int(m["count"]) > 1:
        count = int(m["count"])
        shards = [f"{m['stem']}-{i:05d}-of-{count:05d}.gguf" for i in range(1, count + 1)]
        for s in shards:
            if not os.path.isfile(s):
                raise ArchiveError(
                    s, None, f"missing shard {os.path.basename(s)} of the split model {os.path.basename(path)}"
                )
        return shards
    return [path]


def _index_shards(directory: str, index: str) -> list[str]:
    try:
        with reading(index), open(index, "rb") as f:
            doc = json.loads(f.read(64 << 20))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ArchiveError(index, None, f"not valid JSON: {e}") from None
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise ArchiveError(index, None, "has no 'weight_map' object of tensor name -> shard file")
    shards: list[str] = []
    for name in weight_map.values():
        if name not in shards:
            if os.path.isabs(name) or ".." in name.replace("\\", "/").split("/"):
                raise ArchiveError(index, None, f"shard path {name!r} points outside the directory")
            shards.append(name)
    return [os.path.join(directory, s) for s in shards]


Reader = Callable[[Source, str], tuple[list[Entry], dict, dict[str, str]]]


def reader_for(fmt: str) -> Reader:
    """The reader of one format, imported on first use (so ``irpa dump`` of
    an irpa file never pays for the gguf reader)."""
    if fmt == "irpa":
        from .irpa import read_irpa

        return read_irpa
    if fmt == "gguf":
        from .gguf import read_gguf

        return read_gguf
    if fmt == "safetensors":
        from .safetensors import read_safetensors

        return read_safetensors
    raise ValueError(f"no reader for format {fmt!r}")


def read_file(
    path: str, scope: str = "", cancel=None, opened: Callable[[Source], None] | None = None
) -> tuple[SourceFile, list[Entry]]:
    """Open one file (any format, local or remote) as a SourceFile and its
    entries; the file stays open as their ``source``. ``opened``: see
    ``open_source``."""
    src = _open(path, cancel, opened)
    try:
        fmt = detect(src)
        entries, metadata, types = reader_for(fmt)(src, scope)
    except BaseException:
        src.close()
        raise
    return SourceFile(path, fmt, src.size, metadata, scope, types, src), entries


def open_archive(*paths, cancel=None, opened: Callable[[Source], None] | None = None) -> Archive:
    """Open one or more files as one archive, entries in file order.

    Each path may be ``scope=path`` as in the reference ``--parameters`` flag;
    a directory with a ``model.safetensors.index.json`` opens all its shards
    and the first shard of a split GGUF opens every shard. A path may be an
    ``http(s)://`` URL or an ``hf://ORG/REPO[@REVISION][/PATH]``: only the
    headers are fetched. ``cancel`` (a ``threading.Event``) stops a remote
    open, and stays the remote files' cancel flag for later reads.
    ``opened(source)`` is called with each file's source as soon as it
    exists, before its first read (a remote one before its first request):
    an interface can show what a slow open has fetched so far.
    """
    if not paths:
        raise ArchiveError("", None, "no input file given")
    files: list[SourceFile] = []
    entries: list[Entry] = []
    for spec in paths:
        scope, path = _split_scope(spec)
        for p in expand(path, cancel):
            sf, es = read_file(p, scope, cancel, opened)
            files.append(sf)
            entries.extend(es)
    return Archive(tuple(files), tuple(entries))
