"""irpa convert vs iree-convert-parameters vs cp on the same ~400 MB input.

Hot cache, medians of 5, peak RSS of each process. Also a strip-with-keep
edit (the reproducer use case) and a 2 GB input for the memory claim.
"""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import median_runs, mib, tool  # noqa: E402


def make_input(path: str, total_mb: int, n: int = 64):
    # Written tensor by tensor: the generator itself stays small.
    import json
    import struct
    per = total_mb * (1 << 20) // n // 4 * 4
    header = {f"blk.{i}.w": {"dtype": "F32", "shape": [per // 4], "data_offsets": [i * per, (i + 1) * per]}
              for i in range(n)}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    rng = np.random.default_rng(0)
    block = rng.standard_normal(per // 4).astype(np.float32).tobytes()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for _ in range(n):
            f.write(block)


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [400, 2000]
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        for mb in sizes:
            src = os.path.join(d, f"in{mb}.safetensors")
            make_input(src, mb)
            out = os.path.join(d, "out.irpa")
            rm = lambda: os.path.exists(out) and os.unlink(out)  # noqa: E731
            n = 5 if mb <= 500 else 3
            cp, cp_rss = median_runs(["cp", src, out], n, rm)
            ours, ours_rss = median_runs([tool("irpa"), "convert", f"--parameters={src}", f"--output={out}",
                                          "--quiet"], n, rm)
            nofs, nofs_rss = median_runs([tool("irpa"), "convert", f"--parameters={src}", f"--output={out}",
                                          "--quiet", "--no-fsync"], n, rm)
            cps, _ = median_runs(["sh", "-c", f"cp {src} {out} && sync {out}"], n, rm)
            ref, ref_rss = median_runs([tool("iree-convert-parameters"), f"--parameters={src}",
                                        f"--output={out}", "--quiet"], n, rm)
            strip, strip_rss = median_runs([tool("irpa"), "convert", f"--parameters={src}", f"--output={out}",
                                            "--quiet", "--strip", "--keep=blk.1.w", "--keep=blk.7.w"], n, rm)
            print(f"input {mb} MB (median of {n}, hot cache):")
            print(f"  cp                      {cp:7.3f} s  {mib(cp_rss):>8}")
            print(f"  irpa convert            {ours:7.3f} s  {mib(ours_rss):>8}   {ref / ours:.2f}x faster than "
                  f"the reference, {ours / cp:.2f}x cp")
            print(f"  cp && sync              {cps:7.3f} s            {ours / cps:.2f}x (irpa convert fsyncs)")
            print(f"  irpa convert --no-fsync {nofs:7.3f} s  {mib(nofs_rss):>8}   {ref / nofs:.2f}x faster than "
                  f"the reference, {nofs / cp:.2f}x cp")
            print(f"  iree-convert-parameters {ref:7.3f} s  {mib(ref_rss):>8}   (does not fsync)")
            print(f"  irpa convert --strip --keep x2  {strip:7.3f} s  {mib(strip_rss):>8}")
            os.unlink(src)


if __name__ == "__main__":
    main()
