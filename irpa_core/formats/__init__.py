"""Format detection and ``open_archive``: one reader module per format.

The format comes from the file's first bytes, never its extension, and
``registry`` says which reader reads it: ``read_<format>(source, scope) ->
(entries, metadata, metadata_types, data_end)``, reading through an open ``Source``
(local or remote: see ``irpa_core.sources``), imported only when a file of
its format is opened.
Remote specs (``https://``, ``hf://``) are expanded and opened through
``irpa_core.remote``, imported only for them.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .. import shards
from ..errors import ArchiveError, reading
from ..model import Archive, Entry, SourceFile
from ..sources import Source, is_remote, open_source, remote_handler
from . import registry


def detect(source: Source | str) -> str:
    """The format name of a source (or of the file at a path) from its first
    bytes (``registry``)."""
    if not isinstance(source, Source):
        with open_source(source) as src:
            return detect(src)
    head = source.read(0, min(16, source.size))
    if not head:
        raise ArchiveError(source.name, 0, "file is empty")
    found = registry.sniff(head)
    if isinstance(found, str):
        raise ArchiveError(source.name, 0, found)
    if found is None:
        raise ArchiveError(source.name, 0, "not an IRPA, GGUF or safetensors file (unrecognised first bytes)")
    return found.name


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
    """The files one user-given path stands for: a directory stands for the
    model file it holds (``shards.pick_model``: its index, its one
    safetensors file or its one GGUF), an index gives its shards, the first
    shard of a split GGUF gives all (``shards`` names them); a bare
    ``hf://ORG/REPO`` gives the files its listing points to."""
    if is_remote(path):
        return remote_handler(path).expand_remote(path, cancel=cancel)
    if os.path.isdir(path):
        with reading(path):
            names = [n for n in os.listdir(path) if os.path.isfile(os.path.join(path, n))]
        path = os.path.join(path, shards.pick_model(path, names))
    if shards.is_index(path):
        return _index_shards(os.path.dirname(path) or ".", path)
    split = shards.split_gguf_shards(path)
    for s in split or ():
        if not os.path.isfile(s):
            raise ArchiveError(
                s, None, f"missing shard {os.path.basename(s)} of the split model {os.path.basename(path)}"
            )
    return split or [path]


def _index_shards(directory: str, index: str) -> list[str]:
    with reading(index), open(index, "rb") as f:
        raw = f.read(64 << 20)
    return [os.path.join(directory, s) for s in shards.index_shards(index, raw)]


def read_file(
    path: str, scope: str = "", cancel=None, opened: Callable[[Source], None] | None = None
) -> tuple[SourceFile, list[Entry]]:
    """Open one file (any format, local or remote) as a SourceFile and its
    entries; the file stays open as their ``source``. ``opened``: see
    ``open_source``."""
    src = open_source(path, cancel=cancel, opened=opened)
    try:
        fmt = detect(src)
        entries, metadata, types, data_end = registry.get(fmt).read(src, scope)
    except BaseException:
        src.close()
        raise
    return SourceFile(path, fmt, src.size, metadata, scope, types, src, data_end), entries


def open_archive(*paths, cancel=None, opened: Callable[[Source], None] | None = None) -> Archive:
    """Open one or more files as one archive, entries in file order.

    Each path may be ``scope=path`` as in the reference ``--parameters`` flag;
    a directory opens the model it holds (its ``model.safetensors.index.json``
    and all its shards, its one safetensors file, or its one GGUF) and the
    first shard of a split GGUF opens every shard. A path may be an
    ``http(s)://`` URL or an ``hf://ORG/REPO[@REVISION][/PATH]``: only the
    headers are fetched. ``cancel`` (a ``threading.Event``) stops a remote
    open, and stays the remote files' cancel flag for later reads.
    ``opened(source)`` is called with each file's source as soon as it
    exists, before its first read (a remote one before its first request):
    an interface can show what a slow open has fetched so far.
    A file cut off in its data (a truncated download) opens: its entries
    list, ``archive.truncated`` is true and ``model.entry_state`` tells each
    entry complete, partial or missing (``irpa_core.salvage``); a file cut
    inside its header is an ``ArchiveError``.
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
