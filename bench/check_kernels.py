"""Our dequantization kernels against ``gguf.quants.dequantize`` on every
tensor of real GGUF files, bit for bit (the tests use random and
adversarial blocks; this is the acceptance check on models). Reads each
tensor in pieces of about 16M values. Usage::

    python bench/check_kernels.py MODEL.gguf [MODEL.gguf ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from irpa_core import open_archive
from irpa_core.model import read_bytes
from irpa_core.stats.native import load

KERNELS = load().KERNELS  # the machine code every process loads

PIECE = 1 << 24  # values


def check(path: str) -> int:
    import gguf
    from gguf import quants

    bad = 0
    counts: dict[str, int] = {}
    for e in open_archive(path).entries:
        d = e.dtype
        if d is None or d.name not in KERNELS:
            continue
        qt = gguf.GGMLQuantizationType[d.name]
        step = PIECE // d.block_size * d.type_size
        for pos in range(0, e.length, step):
            raw = np.frombuffer(read_bytes(e, pos, min(step, e.length - pos)), np.uint8)
            with np.errstate(all="ignore"):
                ours = KERNELS[d.name](raw)
                theirs = quants.dequantize(raw.reshape(1, -1), qt).reshape(-1)
            if not np.array_equal(ours.view(np.uint32), theirs.view(np.uint32)):
                print(f"DIFFERENT: {e.name} ({d.name}) at byte {pos}")
                bad += 1
                break
        counts[d.name] = counts.get(d.name, 0) + 1
    print(f"{path}: {', '.join(f'{n} {k}' for k, n in sorted(counts.items()))} tensors checked, {bad} different")
    return bad


def main() -> None:
    sys.exit(1 if sum(check(p) for p in sys.argv[1:]) else 0)


if __name__ == "__main__":
    main()
