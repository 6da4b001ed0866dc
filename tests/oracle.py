"""The reference implementation as a test oracle.

``iree.runtime.ParameterIndex`` is IREE's own runtime loader; the CLI tools
come from the same ``iree-base-runtime`` wheel. Tests check what we read and
write against these, never against our own reader alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RefEntry:
    name: str
    kind: str  # "data" or "splat" (the runtime folds external into data)
    length: int
    data: bytes | None  # the bytes of a data entry
    pattern: bytes | None
    offset: int | None  # absolute offset in the file holding the data


def load(*paths: str | os.PathLike) -> dict[str, RefEntry]:
    """Every entry IREE's runtime loads from ``paths`` (irpa, gguf, safetensors)."""
    import iree.runtime as rt

    idx = rt.ParameterIndex()
    for p in paths:
        idx.load(str(p))
    out: dict[str, RefEntry] = {}
    for key, e in idx.items():
        if e.is_splat:
            out[key] = RefEntry(key, "splat", e.length, None, bytes(e.splat_pattern), None)
        else:
            _, off = e.file_storage
            out[key] = RefEntry(key, "data", e.length, bytes(e.file_view), None, off)
    return out


def tool(name: str) -> str:
    """Path of an IREE tool installed beside this Python (in the venv)."""
    cand = Path(sys.executable).parent / name
    if cand.exists():
        return str(cand)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: install the test extras (iree-base-runtime)")
    return found


def run_tool(name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run an IREE tool; ``check`` raises with its output when it fails."""
    proc = subprocess.run([tool(name), *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{name} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def gguf_kvs(path) -> dict:
    """Every key/value of a GGUF as the gguf package reads it: key -> (types, contents)."""
    import gguf

    return {
        k: (f.types, f.contents()) for k, f in gguf.GGUFReader(str(path)).fields.items() if not k.startswith("GGUF.")
    }


def gguf_tensors(path) -> dict:
    """name -> (ggml type, dims in GGUF order, bytes), by the gguf package, in file order."""
    import gguf

    return {
        t.name: (t.tensor_type, tuple(int(d) for d in t.shape), t.data.tobytes())
        for t in gguf.GGUFReader(str(path)).tensors
    }
