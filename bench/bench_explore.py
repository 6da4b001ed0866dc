"""Exploring a real-sized quantized GGUF (gemma-3-270m's shape: 262,144-token
vocabulary, 18 blocks, 640 wide, Q8_0/Q5_0/Q4_K/Q6_K, about 250 MB):

- key latency while the exact statistics pass of token_embd.weight
  (167,772,160 Q8_0 values) runs, against the same keys with no pass, for
  this tree and a baseline tree (before: the pass ran in threads of the UI
  process);
- ``S`` (the whole-archive scan) against ``irpa stats`` on the same file.

Each measurement is a fresh process (bench/explore_probe.py), rounds
interleaved in a shuffled order (bench/common.py's reasoning).

    python bench/bench_explore.py [--rounds N] [--baseline TREE] [--file GGUF]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def probe(tree: str, mode: str, path: str) -> dict:
    out = subprocess.run(
        [sys.executable, str(HERE / "explore_probe.py"), tree, mode, path],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def irpa_stats(path: str) -> float:
    t = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "irpa"), "stats", path], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--baseline", default="/work/main", help="a tree to compare against ('' for none)")
    ap.add_argument("--file", help="an existing GGUF (default: generate the gemma-like one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = args.file
        if not path:
            from tests.fixtures import make_model_gguf

            path = str(make_model_gguf(Path(d) / "gemma-like.gguf", vocab=262_144, blocks=18, width=640,
                                       heads=4, head_dim=256, ff=2048))  # fmt: skip
        trees = {"ours": str(ROOT)}
        if args.baseline and Path(args.baseline, "irpa_tui").is_dir():
            trees["baseline"] = args.baseline
        jobs = [(name, mode) for name in trees for mode in ("latency", "idle")] + [("ours", "scan"), ("cli", "stats")]
        results: dict[tuple[str, str], list] = {j: [] for j in jobs}
        rng = random.Random(0)
        for _ in range(args.rounds):
            rng.shuffle(jobs)
            for name, mode in jobs:
                if name == "cli":
                    results[(name, mode)].append({"seconds": irpa_stats(path)})
                else:
                    results[(name, mode)].append(probe(trees[name], mode, path))
        raw = {f"{n} {m}": v for (n, m), v in results.items()}
        Path(HERE / "explore-last.json").write_text(json.dumps(raw, indent=1))  # every run, for RESULTS.md
        print(f"file: {path} ({Path(path).stat().st_size / 1e6:.0f} MB), {args.rounds} rounds, interleaved")
        for name in trees:
            for mode in ("latency", "idle"):
                rs = results[(name, mode)]
                med = lambda k, rs=rs: statistics.median([r[k] for r in rs if r[k] == r[k]] or [float("nan")])  # noqa: E731
                top = max((r["effect_max_ms"] for r in rs if r["effect_max_ms"] == r["effect_max_ms"]), default=0)
                print(
                    f"{name:8} {mode:8} keys/run {med('keys'):.0f}  key to filter applied {med('effect_ms'):.0f} ms "
                    f"(max {top:.0f})  handled {med('handled_ms'):.0f} ms "
                    f"(max {max(r['handled_max_ms'] for r in rs):.0f})  with next frame {med('median_ms'):.0f} ms "
                    f"(p90 {med('p90_ms'):.0f})  UI-thread CPU {med('cpu_ms'):.1f} ms"
                )
        scan = statistics.median(r["scan_s"] for r in results[("ours", "scan")])
        cli = statistics.median(r["seconds"] for r in results[("cli", "stats")])
        print(
            f"S (scan in the TUI) {scan:.2f} s, irpa stats {cli:.2f} s (process start included): ratio {scan / cli:.2f}"
        )


if __name__ == "__main__":
    main()
