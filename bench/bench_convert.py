"""irpa convert vs iree-convert-parameters vs cp on the same inputs.

Inputs: synthetic safetensors (~400 MB and 2 GB, 64 f32 tensors at
unaligned offsets), the real-shaped GGUF of ``bench/inputs.py`` (262,144-token
vocabulary header, 32-byte-aligned Q4_K/Q6_K/Q8_0 tensors, ~250 MB) and
100,000 small tensors. Hot cache, the commands run round-robin (see
``interleaved``), medians and the peak RSS of each process. Also a
strip-with-keep edit (the reproducer use case), a cold cache (when this
process may drop the page cache). ``irpa`` runs as a wheel install starts
(``installed_irpa``); ``--no-metadata`` is measured when the flag exists.

    python bench/bench_convert.py [400] [gguf] [2000]
"""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import installed_irpa, interleaved, mib, tool
from bench.inputs import make_real_gguf

IRPA = tool("irpa")  # replaced by a wheel-like install in main()


def make_input(path: str, total_mb: int, n: int = 64):
    # Written tensor by tensor: the generator itself stays small.
    import json
    import struct

    per = total_mb * (1 << 20) // n // 4 * 4
    header = {
        f"blk.{i}.w": {"dtype": "F32", "shape": [per // 4], "data_offsets": [i * per, (i + 1) * per]} for i in range(n)
    }
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    rng = np.random.default_rng(0)
    block = rng.standard_normal(per // 4).astype(np.float32).tobytes()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for _ in range(n):
            f.write(block)


DROP_CACHES = "/proc/sys/vm/drop_caches"


def cold_cache():
    """Write back and drop the page cache (root only), so sources are read from disk."""
    os.sync()
    with open(DROP_CACHES, "w") as f:
        f.write("3")


def report(title: str, r: dict, n: int) -> None:
    print(f"{title} (median of {n} interleaved rounds; min-max in brackets):")
    for name, (med, rss, walls) in r.items():
        print(f"  {name:32s} {med:7.3f} s [{min(walls):.3f}-{max(walls):.3f}]  {mib(rss):>8}")
    ref, cp = r["iree-convert-parameters"][0], r["cp"][0]
    nofs = r["irpa convert --no-fsync"][0]
    if "irpa convert --no-fsync --no-metadata" in r:
        nm = r["irpa convert --no-fsync --no-metadata"][0]
        print(f"  --no-metadata: {nm / ref:.2f}x the reference's time, {nm / cp:.2f}x the time of cp")
    print(
        f"  no fsync (like cp and the reference): {ref / nofs:.2f}x faster than the reference, "
        f"{nofs / cp:.2f}x the time of cp"
    )
    if "irpa convert" in r and "cp && sync" in r:
        ours, cps = r["irpa convert"][0], r["cp && sync"][0]
        print(
            f"  fsync (the default):                  {ref / ours:.2f}x faster than the reference, "
            f"{ours / cps:.2f}x the time of cp && sync, {ours / cp:.2f}x cp"
        )


def has_flag(flag: str) -> bool:
    import subprocess

    return flag in subprocess.run([IRPA, "convert", "--help"], capture_output=True, text=True).stdout


def commands(src: str, out: str, durable: bool = True) -> dict[str, list[str]]:
    irpa = [IRPA, "convert", f"--parameters={src}", f"--output={out}", "--quiet"]
    cmds = {
        "cp": ["cp", src, out],
        "irpa convert --no-fsync": [*irpa, "--no-fsync"],
        "iree-convert-parameters": [
            tool("iree-convert-parameters"),
            f"--parameters={src}",
            f"--output={out}",
            "--quiet",
        ],
    }
    if durable:
        cmds["cp && sync"] = ["sh", "-c", f"cp {src} {out} && sync {out}"]
        cmds["irpa convert"] = irpa
    return cmds


def make_many(path: str, count: int = 100_000):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    save_file({f"layer.{i}.w": rng.standard_normal(256).astype(np.float32) for i in range(count)}, path)


def main():
    global IRPA
    sizes = sys.argv[1:] or ["400", "gguf", "2000"]
    can_drop = os.access(DROP_CACHES, os.W_OK)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        IRPA = installed_irpa(d)
        out = os.path.join(d, "out.irpa")
        rm = lambda: os.path.exists(out) and os.unlink(out)  # noqa: E731
        for size in sizes:
            if size == "gguf":
                src = make_real_gguf(os.path.join(d, "real.gguf"))
                n = 15
                cmds = commands(src, out)
                if has_flag("--no-metadata"):
                    cmds["irpa convert --no-fsync --no-metadata"] = [*cmds["irpa convert --no-fsync"], "--no-metadata"]
                cmds["irpa convert --strip --keep blk.0.*"] = [*cmds["irpa convert"], "--strip", "--keep=blk.0.*"]
                title = f"real-shaped GGUF ({os.path.getsize(src) >> 20} MiB, 262,144-token vocabulary)"
                report(f"{title}, hot cache", interleaved(cmds, n, rm), n)
                os.unlink(src)
                continue
            mb = int(size)
            src = os.path.join(d, f"in{mb}.safetensors")
            make_input(src, mb)
            n = 15 if mb <= 500 else 5
            cmds = commands(src, out)
            cmds["irpa convert --strip --keep x2"] = [
                *cmds["irpa convert"],
                "--strip",
                "--keep=blk.1.w",
                "--keep=blk.7.w",
            ]
            report(f"input {mb} MB, hot cache", interleaved(cmds, n, rm), n)
            if can_drop:
                report(
                    f"input {mb} MB, cold cache",
                    interleaved(commands(src, out, durable=False), 3, lambda: (rm(), cold_cache())),
                    3,
                )
            os.unlink(src)
        src = os.path.join(d, "many.safetensors")
        make_many(src)
        report("100,000 tensors of 1 KiB (98 MiB), hot cache", interleaved(commands(src, out), 3, rm), 3)


if __name__ == "__main__":
    main()
