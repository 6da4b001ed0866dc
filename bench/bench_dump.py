"""irpa dump vs iree-dump-parameters on the same real-sized files.

Builds (in a temp dir) a GGUF shaped like a small llama: 291 tensors, a
262,144-string tokenizer, scores, token types and 200,000 merges; and a
100,000-entry safetensors. Medians of 5 runs, hot cache.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import median_runs, tool


def make_inputs(d: str):
    from tests.fixtures import make_gguf

    n_vocab = 262_144
    kv = {
        "tokenizer.ggml.tokens": [f"tok{i}" for i in range(n_vocab)],
        "tokenizer.ggml.scores": [float(i) for i in range(n_vocab)],
        "tokenizer.ggml.token_type": [1] * n_vocab,
        "tokenizer.ggml.merges": [f"a{i} b{i}" for i in range(200_000)],
    }
    small = np.zeros((8, 32), np.float32)
    names = ["token_embd.weight"]
    layer = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down", "attn_norm", "ffn_norm")
    names += [f"blk.{i}.{n}.weight" for i in range(32) for n in layer]
    names += ["output_norm.weight", "output.weight"]
    g = os.path.join(d, "model.gguf")
    make_gguf(g, dict.fromkeys(names, small), kv)
    # 100,000-entry safetensors (tiny tensors, big header)
    from safetensors.numpy import save_file

    st = os.path.join(d, "many.safetensors")
    save_file({f"layer.{i}.w": np.zeros(2, np.float32) for i in range(100_000)}, st)
    return g, st


def main():
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        g, st = make_inputs(d)
        print(
            f"inputs built in {time.perf_counter() - t:.1f} s: {os.path.getsize(g) >> 20} MiB gguf, "
            f"{os.path.getsize(st) >> 20} MiB safetensors"
        )
        from irpa_core import open_archive

        for path in (g, st):
            t = time.perf_counter()
            a = open_archive(path)
            print(f"open_archive({os.path.basename(path)}): {len(a)} entries in {time.perf_counter() - t:.3f} s")
        print(f"{'file':<20} {'irpa dump':>10} {'iree-dump':>10} {'ratio':>6}")
        for path in (g, st):
            ours, _ = median_runs([tool("irpa"), "dump", path])
            ref, _ = median_runs([tool("iree-dump-parameters"), f"--parameters={path}"])
            print(f"{os.path.basename(path):<20} {ours:>9.3f}s {ref:>9.3f}s {ours / ref:>6.2f}")


if __name__ == "__main__":
    main()
