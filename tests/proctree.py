"""The peak memory of a process and its descendants together (Linux
/proc): what the statistics' memory bound is measured by, in the tests
and in ``bench/bench_stats_models.py``."""

from __future__ import annotations

import os


def descendants(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc)."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    kids.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += kids.get(p, [])
    return found


def rss(pids: list[int]) -> int:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    return total


def peak_tree_rss(proc) -> int:
    """Peak resident bytes of a running ``subprocess.Popen`` and its
    descendants together, until it ends: the tree looked up every tenth
    look (a walk of /proc costs milliseconds), its members every 20 ms."""
    import subprocess

    peak, looks, pids = 0, 0, [proc.pid]
    while True:
        if looks % 10 == 0:
            pids = descendants(proc.pid)
        looks += 1
        peak = max(peak, rss(pids))
        try:
            proc.wait(timeout=0.02)
            return peak
        except subprocess.TimeoutExpired:
            continue
