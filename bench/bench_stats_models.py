"""Exact statistics over whole models (issue 27): ``irpa stats`` on a real
GGUF and on a 7B-shaped Q4_K_M one (``bench/make_7b.py``), against the
naive way (each tensor dequantized whole by ``gguf.quants.dequantize``,
then reduced with numpy: every figure ``irpa stats`` prints, or only the
issue's min, max, mean, std and zeros), with the peak memory of the process (and of
any children) together; ``--anomalies``, ``irpa verify`` of a conversion, and the
TUI's scan (its job runner, as the app runs it).

Every figure is a fresh process, the median of ``--runs``; the machine's
load (``uptime``) is printed beside each one, for the machine may be
shared, and ``--before TREE`` runs in rounds with this tree. Usage::

    python bench/bench_stats_models.py [--runs 3] [--naive-runs N] [--before TREE]
                                       [--gguf /work/models/gemma.gguf] [--no-7b]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import make_7b
from bench.common import ROOT
from tests.proctree import peak_tree_rss

PY = sys.executable
# The naive way: each tensor's bytes (read through our lazy reader, as
# gguf's GGUFReader alone takes ~20 s and 700 MB to open gemma, which is not
# the reduction the issue means) dequantized whole by gguf, then reduced
# with numpy: every figure irpa stats prints (NAIVE), or only those the
# issue's naive way took (ISSUE_NAIVE: 6.9 s and 2.9 GB then).
_EACH_TENSOR = r"""
import sys
import numpy as np
import gguf
from gguf import quants
from irpa_core import open_archive
from irpa_core.model import read_bytes
for t in open_archive(sys.argv[1]).entries:
    raw = np.frombuffer(read_bytes(t), np.uint8)
    with np.errstate(all="ignore"):
        x = quants.dequantize(raw, gguf.GGMLQuantizationType(t.dtype.ggml)).astype(np.float32).ravel()
"""
NAIVE = (
    _EACH_TENSOR
    + r"""
        f = x[np.isfinite(x)].astype(np.float64)
        figures = (f.min(), f.max(), f.mean(), f.std(), np.count_nonzero(x == 0), np.isnan(x).sum(),
                   np.percentile(f, [1, 5, 25, 50, 75, 95, 99], method="lower"), np.histogram(f, 64))
"""
)
ISSUE_NAIVE = (
    _EACH_TENSOR
    + r"""
        figures = (x.min(), x.max(), x.mean(dtype=np.float64), x.std(dtype=np.float64), np.count_nonzero(x == 0))
"""
)
TUI_SCAN = r"""
import sys, time
from irpa_core import open_archive
from irpa_core import scan as SC
from irpa_tui.jobs import JobRunner
if __name__ == "__main__":
    t0 = time.perf_counter()
    a = open_archive(sys.argv[1])
    opened = time.perf_counter() - t0
    jobs = JobRunner()
    jobs.start()
    jobs.spare_ready(60)
    t = time.perf_counter()
    jobs.run(SC.scan_in_batches, a.entries, progress=lambda *x: None, rate=None, nice=0)
    print(f"{opened:.3f} {time.perf_counter() - t:.3f}")
"""
# The detail pane's exact pass over the largest tensor, through the job
# runner as the pane runs it.
TUI_DETAIL = r"""
import sys, time
from irpa_core import open_archive
from irpa_core import stats as S
from irpa_tui.jobs import JobRunner
if __name__ == "__main__":
    a = open_archive(sys.argv[1])
    e = max(a.entries, key=lambda e: e.length)
    jobs = JobRunner()
    jobs.start()
    jobs.spare_ready(60)
    t = time.perf_counter()
    jobs.run(S.compute_stats, e, progress=lambda *x: None)
    print(e.name, f"{time.perf_counter() - t:.3f}")
    jobs.close()
"""


def load() -> str:
    return os.getloadavg().__repr__()


def run(cmd: list[str], tree: str = str(ROOT)) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (the process and its children), peak RSS
    of the process tree (bytes), stdout; ``tree``: the irpa sources run."""
    env = {**os.environ, "PYTHONPATH": tree}
    before = os.times()
    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, env=env)
        peak = peak_tree_rss(proc)
        wall = time.perf_counter() - t
        after = os.times()
        out.seek(0)
        text = out.read()
    if proc.returncode:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, peak, text


def median(cmd: list[str], runs: int, tree: str = str(ROOT)) -> tuple[float, float, int, str, str]:
    return interleaved(cmd, runs, [tree])[0]


def interleaved(cmd: list[str], runs: int, trees: list[str]) -> list[tuple[float, float, int, str, str]]:
    """``median`` of ``cmd`` run from each tree, in rounds (one run of each
    tree a round): a shared machine's load then weighs on every tree alike."""
    got: list[list] = [[] for _ in trees]
    seen = load()
    for _ in range(runs):
        for k, tree in enumerate(trees):
            got[k].append(run(cmd, tree))
    ld = f"load {seen} -> {load()}"
    return [
        (statistics.median(g[0] for g in gs), statistics.median(g[1] for g in gs), max(g[2] for g in gs), gs[-1][3], ld)
        for gs in got
    ]


def show(what: str, r) -> None:
    wall, cpu, peak, _out, ld = r
    print(f"{what:<46} {wall:7.2f} s  cpu {cpu:6.2f} s  peak {peak / 2**20:6.0f} MiB  ({ld})", flush=True)


def irpa(*args: str) -> list[str]:
    # -P: the working directory does not go first on sys.path, so --before
    # TREE runs TREE's irpa_core even from a checkout of another.
    return [PY, "-P", "-m", "irpa_core.cli", *args]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--gguf", default="/work/models/gemma.gguf")
    ap.add_argument("--naive-runs", type=int, help="runs of the naive way (default --runs)")
    ap.add_argument("--before", metavar="TREE", help="also time irpa stats from this source tree (an older commit)")
    ap.add_argument("--no-7b", action="store_true")
    args = ap.parse_args()
    g = args.gguf
    mb = os.path.getsize(g) / 1e6
    # Both trees byte-compiled, as an install is: with PYTHONDONTWRITEBYTECODE
    # set, a module without a current .pyc is compiled again on every run.
    for tree in [str(ROOT)] + ([args.before] if args.before else []):
        subprocess.run([PY, "-m", "compileall", "-q", "irpa_core"], cwd=tree, check=True, stdout=subprocess.DEVNULL)
    if args.before:  # the two trees in rounds, so that they meet the same load
        ours, old = interleaved(irpa("stats", "--json", g), args.runs, [str(ROOT), args.before])
    else:
        ours = median(irpa("stats", "--json", g), args.runs)
    show(f"irpa stats {Path(g).name} ({mb:.0f} MB)", ours)
    one = median(irpa("stats", "--json", "--jobs", "1", g), args.runs)
    show("  --jobs 1", one)
    naive = median([PY, "-c", NAIVE, g], args.naive_runs or args.runs)
    show("  naive: gguf dequantize + numpy", naive)
    print(f"  ours / naive: {ours[0] / naive[0]:.3f} (wall), {ours[1] / naive[1]:.3f} (cpu); {mb / ours[0]:.0f} MB/s")
    light = median([PY, "-c", ISSUE_NAIVE, g], args.naive_runs or args.runs)
    show("  the issue's naive: min, max, mean, std, zeros", light)
    print(f"  ours / the issue's naive: {ours[0] / light[0]:.3f} (wall), {ours[1] / light[1]:.3f} (cpu)")
    for _ in range(args.runs):
        name, took = run([PY, "-c", TUI_DETAIL, g])[3].split()
        print(f"TUI detail pane, exact {name}: {took} s ({load()})")
    if args.before:
        show(f"  before ({args.before}), in rounds with ours", old)
        print(f"  before / naive: {old[0] / naive[0]:.3f} (wall); ours / before: {ours[0] / old[0]:.3f}")
    if args.no_7b:
        return
    big = make_7b.make(make_7b.default_path())
    gb = os.path.getsize(big) / 1e9
    subprocess.run(["cat", str(big)], stdout=subprocess.DEVNULL, check=True)  # a hot page cache, as for gemma
    r = median(irpa("stats", "--json", str(big)), 1)
    show(f"irpa stats 7B-shaped Q4_K_M ({gb:.2f} GB)", r)
    print(f"  {gb * 1e3 / r[0]:.0f} MB/s")
    show("  --anomalies", median(irpa("stats", "--anomalies", "--json", str(big)), 1))
    with tempfile.TemporaryDirectory(dir=big.parent) as d:
        out = os.path.join(d, "out.irpa")
        show("irpa convert 7B -> irpa", median(irpa("convert", f"--parameters={big}", f"--output={out}", "--quiet"), 1))
        show("irpa verify of that conversion", median(irpa("verify", f"--parameters={big}", out, "--quiet"), 1))
    scan = run([PY, "-c", TUI_SCAN, str(big)])
    opened, scanned = (float(x) for x in scan[3].split())
    print(f"TUI (job runner): open {opened:.2f} s, scan {scanned:.2f} s, peak {scan[2] / 2**20:.0f} MiB ({load()})")


if __name__ == "__main__":
    main()
