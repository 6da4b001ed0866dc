"""Which files a model is made of: the shards of a safetensors index and of
a split GGUF, by name alone. Pure functions, no I/O: the local opener
(``formats.expand``), the remote one (``remote.expand_remote``) and the
GGUF split writer all use them, so a path is checked the same way wherever
the index comes from.

- A safetensors index (``model.safetensors.index.json``, or any
  ``*.safetensors.index.json``) names its shards in ``weight_map``; they
  must lie in the index's directory.
- A split GGUF is ``PREFIX-00001-of-0000N.gguf`` ... ``PREFIX-0000N-of-0000N.gguf``
  (llama.cpp's ``gguf-split`` naming); its first shard stands for all.
- A directory (local, or a Hub repository's listing) stands for its index,
  else its one safetensors file, else its one GGUF model (``pick_model``).
"""

from __future__ import annotations

import json
import posixpath
import re

from .display import one_line
from .errors import ArchiveError

SAFETENSORS_INDEX = "model.safetensors.index.json"
INDEX_SUFFIX = ".safetensors.index.json"
SPLIT_GGUF = re.compile(r"(?P<stem>.*)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf")
_SHARD_SUFFIX = re.compile(r"-\d{5}-of-\d{5}\.gguf$", re.IGNORECASE)


def is_index(path: str) -> bool:
    """Whether ``path`` (local or a URL path) names a safetensors index."""
    return posixpath.basename(path.replace("\\", "/")).endswith(INDEX_SUFFIX)


def index_shards(spec: str, raw: bytes) -> list[str]:
    """Shard file names of a safetensors index (its bytes ``raw``), relative
    to its directory, in first-use order. ArchiveError naming ``spec`` for
    JSON that is not an index, or a shard outside the index's directory."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ArchiveError(spec, None, f"not valid JSON: {one_line(str(e))}") from None
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise ArchiveError(spec, None, "has no 'weight_map' object of tensor name -> shard file")
    shards: list[str] = []
    for name in weight_map.values():
        if name not in shards:
            if name.startswith("/") or "\\" in name or ".." in name.split("/") or "://" in name:
                raise ArchiveError(spec, None, f"shard path {one_line(name)!r} points outside the directory")
            shards.append(name)
    return shards


def pick_model(spec: str, files: list[str]) -> str:
    """The file a directory of a model stands for, from the names of the
    files it holds (a local directory's, a Hub repository's listing): its
    ``model.safetensors.index.json``, else its one ``*.safetensors`` (the
    ``model.safetensors`` of a small Hugging Face model), else its one GGUF
    (a split GGUF: the first shard). Several candidates, or none, is an
    ArchiveError naming ``spec`` that lists them and asks for a path."""
    if SAFETENSORS_INDEX in files:
        return SAFETENSORS_INDEX
    where = spec.rstrip("/") or spec
    safetensors = sorted(f for f in files if f.endswith(".safetensors"))
    if len(safetensors) == 1:
        return safetensors[0]
    if safetensors:
        raise ArchiveError(
            spec,
            None,
            f"holds several safetensors files and no {SAFETENSORS_INDEX} "
            f"({_listed(safetensors)}): give one as {where}/PATH",
        )
    ggufs: list[str] = []
    for f in sorted(f for f in files if f.lower().endswith(".gguf")):
        first = first_shard(f)
        if first not in ggufs:
            ggufs.append(first)
    if len(ggufs) == 1:
        return ggufs[0]
    if ggufs:
        raise ArchiveError(spec, None, f"holds several GGUF models ({_listed(ggufs)}): give one as {where}/PATH")
    raise ArchiveError(
        spec, None, f"holds no {SAFETENSORS_INDEX}, safetensors or GGUF file: give a path as {where}/PATH"
    )


def _listed(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(one_line(n, 120) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def split_gguf_shards(path: str) -> list[str] | None:
    """All shard paths when ``path`` is the first shard of a split GGUF
    (``NAME-00001-of-0000N.gguf``, N > 1), else None."""
    m = SPLIT_GGUF.fullmatch(path)
    if not m or int(m["index"]) != 1 or int(m["count"]) < 2:
        return None
    return _names(m["stem"], int(m["count"]))


def first_shard(name: str) -> str:
    """The name that stands for a split GGUF one of whose shards is ``name``
    (its first shard); ``name`` itself for any other file."""
    m = SPLIT_GGUF.fullmatch(name)
    return f"{m['stem']}-00001-of-{m['count']}.gguf" if m else name


def shard_paths(output: str, count: int) -> list[str]:
    """The files of a model split in ``count`` shards written as ``output``:
    ``DIR/model.gguf`` gives ``DIR/model-00001-of-00003.gguf`` and so on;
    a name without ``.gguf`` is the prefix itself (gguf-split's OUT);
    ``DIR/model-00001-of-00002.gguf`` gives the prefix ``DIR/model``."""
    prefix = _SHARD_SUFFIX.sub("", output)
    if prefix == output and output.lower().endswith(".gguf"):
        prefix = output[: -len(".gguf")]
    return _names(prefix, count)


def _names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{i:05d}-of-{count:05d}.gguf" for i in range(1, count + 1)]
