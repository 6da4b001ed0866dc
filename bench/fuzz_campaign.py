"""A long fuzzing campaign over the three readers (run by hand).

    python bench/fuzz_campaign.py [COUNT_PER_FORMAT] [SEED]

Same seeds and mutation kinds as tests/test_fuzz_readers.py (field extremes,
truncation, bit flips, splices, invalid UTF-8), driven by a plain PRNG so
hundreds of thousands of inputs run in minutes. Any exception other than
ArchiveError, or an open slower than 5 s, is a finding: printed with the
input saved under bench/fuzz-findings/ to reproduce.
"""

import os
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.test_fuzz_readers import EXTREMES, SEEDS, check_open


class Draw:
    """Stands in for hypothesis' data.draw with a seeded PRNG."""

    def __init__(self, rng):
        self.rng = rng

    def mutate(self, blob, fields):
        r = self.rng
        b = bytearray(blob)
        kind = r.choice(["field", "field", "truncate", "flip", "splice", "utf8"])
        if kind == "field" and fields:
            off, size = r.choice(fields)
            v = r.choice([*EXTREMES, len(blob), len(blob) * 3, len(blob) - 1, r.getrandbits(8 * size)])
            b[off : off + size] = (v % 2 ** (8 * size)).to_bytes(size, "little")
        elif kind == "truncate":
            b = b[: r.randrange(len(b) + 1)]
        elif kind == "flip":
            for _ in range(r.randint(1, 8)):
                i = r.randrange(len(b))
                b[i] ^= 1 << r.randrange(8)
        elif kind == "splice":
            i, j, n = r.randrange(len(b)), r.randrange(len(b)), r.randint(1, 64)
            b[i : i + n] = blob[j : j + n]
        else:
            i = r.randrange(len(b))
            b[i : i + 2] = b"\xff\xfe"
        # Sometimes stack a second mutation.
        if r.random() < 0.3:
            return self.mutate(bytes(b), fields) if len(b) else bytes(b)
        return bytes(b)


def main(argv):
    count = int(argv[0]) if argv else 50_000
    seed = int(argv[1]) if len(argv) > 1 else 1
    rng = random.Random(seed)
    out_dir = Path(__file__).resolve().parent / "fuzz-findings"
    findings = 0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        seeds = {k: f(tmp) for k, f in SEEDS.items()}
        for fmt, (blob, fields) in seeds.items():
            path = os.path.join(tmp, f"fuzz.{fmt}")
            d = Draw(rng)
            t = time.perf_counter()
            for i in range(count):
                data = d.mutate(blob, fields)
                with open(path, "wb") as f:
                    f.write(data)
                try:
                    check_open(path)
                except Exception:
                    findings += 1
                    out_dir.mkdir(exist_ok=True)
                    keep = out_dir / f"{fmt}-{seed}-{i}.bin"
                    keep.write_bytes(data)
                    print(f"FINDING {fmt} #{i} -> {keep}")
                    traceback.print_exc(limit=4)
            print(f"{fmt}: {count} inputs in {time.perf_counter() - t:.1f} s, seed {seed}")
    total = count * len(SEEDS)
    print(f"total: {total} inputs, {findings} findings, {time.perf_counter() - t0:.1f} s")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
