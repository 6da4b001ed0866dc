"""Shared helpers for the benchmarks: timed runs of commands with their
peak memory, medians, and the tool paths."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    p = BIN / name
    return str(p) if p.exists() else (shutil.which(name) or name)


def run(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run (GNU time measures the
    RSS: a forked child's own rusage would include this Python's)."""
    import tempfile
    with tempfile.NamedTemporaryFile("r") as f:
        t = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", f.name, *cmd],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {p.stderr.decode()[-500:]}")
        rss = int(f.read().split()[-1])
    return wall, rss


def median_runs(cmd: list[str], n: int = 5, before=None) -> tuple[float, int]:
    """Median wall time over n runs (after one warm-up), and the max RSS."""
    if before:
        before()
    run(cmd)
    walls, rss = [], 0
    for _ in range(n):
        if before:
            before()
        w, r = run(cmd)
        walls.append(w)
        rss = max(rss, r)
    return statistics.median(walls), rss


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"
