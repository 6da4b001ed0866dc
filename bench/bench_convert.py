"""irpa convert vs iree-convert-parameters vs cp on the same ~400 MB input.

Hot cache, the commands run round-robin (see ``interleaved``), medians and
the peak RSS of each process. Also a strip-with-keep edit (the reproducer
use case) and a 2 GB input for the memory claim.
"""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import interleaved, mib, tool  # noqa: E402


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
            n = 9 if mb <= 500 else 5
            irpa = [tool("irpa"), "convert", f"--parameters={src}", f"--output={out}", "--quiet"]
            r = interleaved({
                "cp": ["cp", src, out],
                "irpa convert --no-fsync": [*irpa, "--no-fsync"],
                "iree-convert-parameters": [tool("iree-convert-parameters"), f"--parameters={src}",
                                            f"--output={out}", "--quiet"],
                "cp && sync": ["sh", "-c", f"cp {src} {out} && sync {out}"],
                "irpa convert": irpa,
                "irpa convert --strip --keep x2": [*irpa, "--strip", "--keep=blk.1.w", "--keep=blk.7.w"],
            }, n, rm)
            print(f"input {mb} MB (median of {n} interleaved rounds, hot cache; min-max in brackets):")
            for name, (med, rss, walls) in r.items():
                print(f"  {name:32s} {med:7.3f} s [{min(walls):.3f}-{max(walls):.3f}]  {mib(rss):>8}")
            ref, cp, cps = (r[k][0] for k in ("iree-convert-parameters", "cp", "cp && sync"))
            nofs, ours = r["irpa convert --no-fsync"][0], r["irpa convert"][0]
            print(f"  no fsync (like cp and the reference): {ref / nofs:.2f}x faster than the reference, "
                  f"{nofs / cp:.2f}x the time of cp")
            print(f"  fsync (the default):                  {ref / ours:.2f}x faster than the reference, "
                  f"{ours / cps:.2f}x the time of cp && sync, {ours / cp:.2f}x cp")
            os.unlink(src)


if __name__ == "__main__":
    main()
