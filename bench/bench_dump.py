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
    import gguf

    g = os.path.join(d, "model.gguf")
    w = gguf.GGUFWriter(g, "llama")
    n_vocab = 262_144
    w.add_array("tokenizer.ggml.tokens", [f"tok{i}" for i in range(n_vocab)])
    w.add_array("tokenizer.ggml.scores", [float(i) for i in range(n_vocab)])
    w.add_array("tokenizer.ggml.token_type", [1] * n_vocab)
    w.add_array("tokenizer.ggml.merges", [f"a{i} b{i}" for i in range(200_000)])
    small = np.zeros((8, 32), np.float32)
    w.add_tensor("token_embd.weight", small)
    for i in range(32):
        for n in (
            "attn_q",
            "attn_k",
            "attn_v",
            "attn_output",
            "ffn_gate",
            "ffn_up",
            "ffn_down",
            "attn_norm",
            "ffn_norm",
        ):
            w.add_tensor(f"blk.{i}.{n}.weight", small)
    w.add_tensor("output_norm.weight", small)
    w.add_tensor("output.weight", small)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
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
