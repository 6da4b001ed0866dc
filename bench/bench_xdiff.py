"""irpa diff --map of a real quantized GGUF against a re-quantization of it
(bench/make_conversions.py), against irpa stats over both files; peak RSS
of each (medians of 3, hot cache).

Usage: python bench/bench_xdiff.py [model.gguf] [work_dir]
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, mib
from bench.make_conversions import requantize


def timed(cmd: list[str]) -> tuple[float, int, int, float]:
    """Wall seconds, peak RSS (KiB), exit status (diff exits 1 for
    "different") and CPU seconds (user + system, workers included: the
    figure that does not depend on what else the machine runs)."""
    with tempfile.NamedTemporaryFile("r") as f:
        t = time.perf_counter()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this tree's irpa_core, whatever is installed
        p = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", f.name, *cmd], stdout=subprocess.DEVNULL, env=env)
        wall = time.perf_counter() - t
        rss, user, system = f.read().split()[-3:]
        return wall, int(rss), p.returncode, float(user) + float(system)


def main() -> None:
    model = sys.argv[1] if len(sys.argv) > 1 else "/work/models/gemma.gguf"
    with tempfile.TemporaryDirectory(dir=sys.argv[2] if len(sys.argv) > 2 else os.environ.get("BENCH_DIR")) as d:
        requant = os.path.join(d, "requant.gguf")
        requantize(model, requant)
        irpa = [sys.executable, "-m", "irpa_core.cli"]
        cmds = {
            "diff": [*irpa, "diff", model, requant, "--map=identity"],
            "stats A": [*irpa, "stats", model],
            "stats B": [*irpa, "stats", requant],
        }
        runs: dict[str, list[tuple[float, int, int, float]]] = {k: [] for k in cmds}
        for _ in range(4):  # one warm-up round
            for k, c in cmds.items():
                runs[k].append(timed(c))
        med = {k: statistics.median(r[0] for r in v[1:]) for k, v in runs.items()}
        cpu = {k: statistics.median(r[3] for r in v[1:]) for k, v in runs.items()}
        rss = {k: max(r[1] for r in v) for k, v in runs.items()}
        stats = med["stats A"] + med["stats B"]
        print(
            f"diff {med['diff']:.2f} s ({mib(rss['diff'])}, exit {runs['diff'][-1][2]}); "
            f"stats of both {stats:.2f} s ({mib(max(rss['stats A'], rss['stats B']))}); "
            f"ratio {med['diff'] / stats:.2f}; CPU: diff {cpu['diff']:.2f} s, stats of both "
            f"{cpu['stats A'] + cpu['stats B']:.2f} s"
        )


if __name__ == "__main__":
    main()
