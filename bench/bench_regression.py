"""This tree against an earlier one on the same local inputs, interleaved:
``irpa convert --no-fsync`` (400 MB synthetic safetensors, the real-shaped
GGUF, 100,000 small tensors) and ``irpa verify`` (400 MB).

    git archive COMMIT irpa_core | tar -x -C /tmp/base
    python bench/bench_regression.py /tmp/base [ROUNDS]

Both run as ``python -m irpa_core.cli`` with ``PYTHONPATH`` choosing the
tree, so start-up costs the same for both; medians and the ratio new/old.
"""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_convert import make_input, make_many
from bench.common import ROOT, interleaved, run
from bench.inputs import make_real_gguf


def cli(tree: str, *argv: str) -> list[str]:
    # -P: the working directory is not put first on sys.path, so a run from
    # a checkout still takes ``tree``'s irpa_core.
    return ["env", f"PYTHONPATH={tree}", sys.executable, "-P", "-m", "irpa_core.cli", *argv]


def main():
    base = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 11
    new = str(ROOT)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        out = os.path.join(d, "out.irpa")
        rm = lambda: os.path.exists(out) and os.unlink(out)  # noqa: E731
        inputs = {
            "400 MB safetensors": os.path.join(d, "in400.safetensors"),
            "real-shaped GGUF": os.path.join(d, "real.gguf"),
            "100k tensors": os.path.join(d, "many.safetensors"),
        }
        make_input(inputs["400 MB safetensors"], 400)
        make_real_gguf(inputs["real-shaped GGUF"])
        make_many(inputs["100k tensors"])
        for label, src in inputs.items():
            rounds = n if "100k" not in label else max(3, n // 3)
            argv = ("convert", f"--parameters={src}", f"--output={out}", "--quiet", "--no-fsync")
            r = interleaved({"old": cli(base, *argv), "new": cli(new, *argv)}, rounds, rm)
            report(f"convert --no-fsync, {label}", r, rounds)
        src = inputs["400 MB safetensors"]
        run(cli(new, "convert", f"--parameters={src}", f"--output={out}", "--quiet", "--no-fsync"))
        argv = ("verify", f"--parameters={src}", out, "--quiet")
        report("verify, 400 MB", interleaved({"old": cli(base, *argv), "new": cli(new, *argv)}, n), n)


def report(title: str, r: dict, n: int) -> None:
    old, new = r["old"][0], r["new"][0]
    print(f"{title} ({n} interleaved rounds): old {old:.3f} s, new {new:.3f} s, new/old {new / old:.2f}", flush=True)


if __name__ == "__main__":
    main()
