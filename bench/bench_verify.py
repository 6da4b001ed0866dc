"""irpa verify of a ~400 MB conversion vs cmp of the same bytes (hot cache,
medians of 5)."""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_convert import make_input
from bench.common import median_runs, mib, run, tool


def main():
    mb = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        src = os.path.join(d, "in.safetensors")
        out = os.path.join(d, "out.irpa")
        make_input(src, mb)
        run([tool("irpa"), "convert", f"--parameters={src}", f"--output={out}", "--quiet", "--no-fsync"])
        # cmp compares the same tensor bytes: the data region of each file.
        from irpa_core import open_archive

        a, b = open_archive(src).entries, open_archive(out).entries
        first_a, first_b = a[0].offset, b[0].offset
        total = sum(e.length for e in a)
        ours, ours_rss = median_runs([tool("irpa"), "verify", f"--parameters={src}", out, "--quiet"])
        cmp, _ = median_runs(["sh", "-c", f"cmp -s -n {total} -i {first_a}:{first_b} {src} {out}"])
        print(
            f"verify {mb} MB (median of 5, hot cache): irpa verify {ours:.3f} s ({mib(ours_rss)}), "
            f"cmp {cmp:.3f} s, ratio {ours / cmp:.2f}"
        )


if __name__ == "__main__":
    main()
