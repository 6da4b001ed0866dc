"""Run every benchmark in this directory, one after the other (``make bench``).

Each ``bench_*.py`` builds its own inputs in a temporary directory, runs
ours against the reference tool on the same input, and prints medians and
ratios; copy the figures into ``bench/RESULTS.md``. These take minutes and
gigabytes of scratch space, which is why they are not part of ``make test``.
Pass names to run a subset: ``python bench/run_all.py dump convert``.
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in argv]
    failed = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        if subprocess.call([sys.executable, str(script)]) != 0:
            failed.append(script.name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
