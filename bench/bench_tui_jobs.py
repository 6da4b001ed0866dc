"""TUI jobs against the command line on the same inputs: a write of 10,000
small tensors, a verify of 100,000 entries, a 250 MB GGUF written.

Both sides run as whole commands in shuffled rounds (``interleaved``): the
TUI side is ``bench/tui_job.py`` (the app headless at 140x40, the browse
screen first, then the job as the ``w``/``v`` keys start it). Whole-command
times include the app's start-up (Textual and the first table); the job's
own time (screen pushed -> result shown) is reported beside them, against
the command line's whole time. ``python bench/bench_tui_jobs.py [ROUNDS]
[CASE...]``, cases ``small`` (the 10,000 tensors), ``verify`` and ``gguf``
(all three when none is named).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import interleaved, tool

HERE = Path(__file__).resolve().parent


def small_tensors(path: str, n: int, values: int) -> None:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    block = rng.standard_normal(values).astype(np.float32)
    save_file({f"layer.{i}.w": block for i in range(n)}, path)


def real_shaped_gguf(path: str, mb: int) -> None:
    """Llama-shaped: per block Q4_K attention/ffn matrices, Q6_K output,
    f32 norms, 32-byte aligned (gguf's writer), random block bytes."""
    import gguf

    w = gguf.GGUFWriter(path, "llama")
    w.add_uint32("llama.block_count", 0)
    rng = np.random.default_rng(0)
    budget = mb << 20
    k = 0
    sizes = {"Q4_K": (256, 144), "Q6_K": (256, 210)}
    while budget > 0:
        for name, q, rows, cols in (
            ("attn_q", "Q4_K", 1024, 2048),
            ("attn_k", "Q4_K", 256, 2048),
            ("attn_v", "Q6_K", 256, 2048),
            ("attn_output", "Q4_K", 2048, 1024),
            ("ffn_gate", "Q4_K", 2048, 2048),
            ("ffn_up", "Q4_K", 2048, 2048),
            ("ffn_down", "Q6_K", 2048, 2048),
        ):
            bs, ts = sizes[q]
            data = rng.integers(0, 256, (rows, cols // bs * ts), dtype=np.uint8)
            w.add_tensor(f"blk.{k}.{name}.weight", data, raw_dtype=gguf.GGMLQuantizationType[q])
            budget -= data.size
        for name in ("attn_norm", "ffn_norm"):
            w.add_tensor(f"blk.{k}.{name}.weight", np.ones(2048, np.float32))
        k += 1
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def compare(title: str, cli: list[str], tui: list[str], times: str, rounds: int, goal: float) -> None:
    open(times, "w").close()
    r = interleaved({"cli": cli, "tui": [*tui, "--times", times]}, rounds)
    with open(times) as f:
        jobs = [float(x) for x in f.read().split()][1:]  # the first is the warm-up round
    c, t = r["cli"][0], r["tui"][0]
    job = statistics.median(jobs)
    print(f"{title} (median of {rounds} interleaved rounds; min-max in brackets):")
    print(f"  command line   {c:7.3f} s [{min(r['cli'][2]):.3f}-{max(r['cli'][2]):.3f}]")
    print(f"  TUI, whole     {t:7.3f} s [{min(r['tui'][2]):.3f}-{max(r['tui'][2]):.3f}]  ratio {t / c:.2f}x")
    print(f"  TUI, job only  {job:7.3f} s [{min(jobs):.3f}-{max(jobs):.3f}]  ratio {job / c:.2f}x  (goal {goal}x)")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    cases = set(sys.argv[2:]) or {"small", "verify", "gguf"}
    if cases - {"small", "verify", "gguf"}:
        raise SystemExit(f"unknown case(s): {', '.join(sorted(cases - {'small', 'verify', 'gguf'}))}")
    py, job = sys.executable, str(HERE / "tui_job.py")
    irpa = tool("irpa")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        times = os.path.join(d, "times")

        if "small" in cases:
            src = os.path.join(d, "small.safetensors")
            small_tensors(src, 10_000, 300)  # 12 MB
            out = os.path.join(d, "small.irpa")
            compare(
                "write 10,000 small f32 tensors (12 MB)",
                [irpa, "convert", f"--parameters={src}", f"--output={out}"],
                [py, job, "write", src, os.path.join(d, "small-tui.irpa")],
                times,
                rounds,
                1.5,
            )

        if "verify" in cases:
            src = os.path.join(d, "many.safetensors")
            small_tensors(src, 100_000, 2)
            out = os.path.join(d, "many.irpa")
            os.system(f"{irpa} convert --parameters={src} --output={out} --quiet")
            compare(
                "verify 100,000 entries",
                [irpa, "verify", f"--parameters={src}", out, "--quiet"],
                [py, job, "verify", src, out],
                times,
                rounds,
                1.5,
            )

        if "gguf" in cases:
            src = os.path.join(d, "model.gguf")
            real_shaped_gguf(src, 250)
            size = os.path.getsize(src)
            compare(
                f"write a {size / 1e6:.0f} MB GGUF (Q4_K/Q6_K, 32-byte aligned)",
                [irpa, "convert", f"--parameters={src}", f"--output={os.path.join(d, 'model.irpa')}"],
                [py, job, "write", src, os.path.join(d, "model-tui.irpa")],
                times,
                rounds,
                1.2,
            )


if __name__ == "__main__":
    main()
