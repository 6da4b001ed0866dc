"""Shared helpers for the benchmarks: timed runs of commands with their
peak memory, medians, and the tool paths."""

from __future__ import annotations

import random
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


def installed_irpa(directory: str) -> str:
    """An ``irpa`` command started as a wheel install starts: a bare venv
    whose site-packages holds no editable-install finder (that finder
    imports pathlib and urllib at every start, about 10 ms on this machine,
    which a user's ``pip install`` never pays). It runs this tree's
    byte-compiled ``irpa_core``, and finds the dependencies (httpx2 for
    remote files) in this venv's site-packages, added to the path without
    running its .pth files. Returns the command's path."""
    import compileall
    import os
    import sysconfig
    import venv

    env = os.path.join(directory, "bare-venv")
    venv.create(env, with_pip=False)
    compileall.compile_dir(str(ROOT / "irpa_core"), quiet=1)
    launcher = os.path.join(directory, "irpa")
    with open(launcher, "w") as f:
        f.write(
            f"#!{env}/bin/python\n"
            f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nsys.path.append({sysconfig.get_paths()['purelib']!r})\n"
            "from irpa_core.cli import main\nsys.exit(main())\n"
        )
    os.chmod(launcher, 0o755)
    return launcher


def run(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run (GNU time measures the
    RSS: a forked child's own rusage would include this Python's)."""
    import tempfile

    with tempfile.NamedTemporaryFile("r") as f:
        t = time.perf_counter()
        p = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", f.name, *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        wall = time.perf_counter() - t
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {p.stderr.decode()[-500:]}")
        rss = int(f.read().split()[-1])
    return wall, rss


def median_runs(cmd: list[str], n: int = 5, before=None) -> tuple[float, int]:
    """Median wall time over n runs (after one warm-up), and the max RSS."""
    return interleaved({"cmd": cmd}, n, before)["cmd"][:2]


def interleaved(cmds: dict[str, list[str]], n: int, before=None) -> dict[str, tuple[float, int, list[float]]]:
    """Run the commands in rounds, n times (after one warm-up round), each
    round in a new order (seeded), so a slow spell of the machine hits them
    all alike and no command always follows the same one; ``before`` runs
    (untimed) before every run. Returns {name: (median seconds, max RSS KiB,
    samples)}.

    Why rounds: on this VM the kernel reports freed pages to the host
    (free page reporting), and reusing them later costs host page faults;
    a command that writes 400 MB may take 0.1 s or 0.5 s depending on what
    ran before it, whichever tool it is. Commands that wait for the disk
    (fsync) vary more still: the virtual disk's speed changes from second to
    second."""
    order = random.Random(0)
    walls: dict[str, list[float]] = {k: [] for k in cmds}
    rss = dict.fromkeys(cmds, 0)
    for round_ in range(n + 1):
        names = list(cmds)
        order.shuffle(names)
        for name in names:
            if before:
                before()
            w, r = run(cmds[name])
            if round_:
                walls[name].append(w)
                rss[name] = max(rss[name], r)
    return {k: (statistics.median(v), rss[k], v) for k, v in walls.items()}


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"
