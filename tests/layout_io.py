"""Writing a ``Layout`` to a file, for writer tests until write.py learns
the new formats: the head at 0, each target's bytes at its offset (splats
materialised from their pattern), the file cut to the layout's size."""

from __future__ import annotations

import os
from pathlib import Path

from irpa_core.model import read_bytes


def target_bytes(t) -> bytes:
    if t.kind == "splat":
        pat = t.pattern or b"\0"
        return (pat * (t.length // len(pat) + 1))[: t.length]
    return read_bytes(t.source)


def write_layout(path, lay, targets, data: dict | None = None) -> Path:
    """``data``: target name -> bytes to write instead of the source's
    (cast values)."""
    with open(path, "wb") as f:
        f.write(lay.head)
        for t, off in zip(targets, lay.offsets):
            f.seek(off)
            f.write(data[t.name] if data and t.name in data else target_bytes(t))
        f.truncate(lay.file_size)
    assert os.path.getsize(path) == lay.file_size
    return Path(path)
