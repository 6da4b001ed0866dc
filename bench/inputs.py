"""Benchmark inputs shaped like real files.

``make_real_gguf``: a GGUF laid out as llama.cpp writes a small model: a
262,144-token vocabulary in the header (tokens, scores, token types and
262,144 merges: 15.3 MB of key/values), then about 250 MB of 32-byte-aligned
quantized tensors (a Q4_K_M-like mix of Q4_K, Q6_K and Q8_0, f32 norms),
with llama.cpp's tensor names and counts. The tensor bytes are random: the
benchmarks copy and compare them, none decodes them.
"""

from __future__ import annotations

import os
import random

import numpy as np

N_VOCAB = 262_144
N_EMBD = 768
N_FF = 2048
N_LAYER = 20
N_KV = 256  # grouped-query: k and v project to 256
# ggml type name -> (elements per block, bytes per block)
_BLOCKS = {"Q4_K": (256, 144), "Q6_K": (256, 210), "Q8_0": (32, 34)}


def _tokens(n: int, seed: int) -> list[str]:
    """Byte-pair-like tokens of 1 to 16 characters (mean about 7)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz\u0120\u010a"
    return [f"{i:x}" + "".join(rng.choices(letters, k=rng.randint(0, 12))) for i in range(n)]


def real_gguf_tensors() -> list[tuple[str, str, tuple[int, int]]]:
    """(name, ggml type, (rows, cols)) in llama.cpp's order; tied output."""
    out = [("token_embd.weight", "Q6_K", (N_VOCAB, N_EMBD))]
    for i in range(N_LAYER):
        b = f"blk.{i}."
        out += [
            (b + "attn_norm.weight", "F32", (1, N_EMBD)),
            (b + "attn_q.weight", "Q4_K", (N_EMBD, N_EMBD)),
            (b + "attn_k.weight", "Q8_0", (N_KV, N_EMBD)),
            (b + "attn_v.weight", "Q6_K", (N_KV, N_EMBD)),
            (b + "attn_output.weight", "Q4_K", (N_EMBD, N_EMBD)),
            (b + "ffn_norm.weight", "F32", (1, N_EMBD)),
            (b + "ffn_gate.weight", "Q4_K", (N_FF, N_EMBD)),
            (b + "ffn_up.weight", "Q4_K", (N_FF, N_EMBD)),
            (b + "ffn_down.weight", "Q6_K", (N_EMBD, N_FF)),
        ]
    out.append(("output_norm.weight", "F32", (1, N_EMBD)))
    return out


def make_real_gguf(path: str | os.PathLike[str], seed: int = 0) -> str:
    """Write the real-shaped GGUF to ``path`` (with the ``gguf`` package,
    llama.cpp's own writer); returns the path."""
    import gguf

    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(os.fspath(path), "llama")
    w.add_context_length(8192)
    w.add_embedding_length(N_EMBD)
    w.add_feed_forward_length(N_FF)
    w.add_block_count(N_LAYER)
    w.add_head_count(12)
    w.add_head_count_kv(4)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(_tokens(N_VOCAB, seed))
    w.add_token_scores([float(-i) for i in range(N_VOCAB)])
    w.add_token_types([1] * N_VOCAB)
    w.add_token_merges([f"{a} {b}" for a, b in zip(_tokens(N_VOCAB, seed + 1), _tokens(N_VOCAB, seed + 2))])
    w.add_file_type(15)  # MOSTLY_Q4_K_M
    for name, qtype, (rows, cols) in real_gguf_tensors():
        if qtype == "F32":
            w.add_tensor(name, rng.standard_normal(cols).astype(np.float32))
            continue
        per, size = _BLOCKS[qtype]
        data = rng.integers(0, 256, (rows, cols // per * size), dtype=np.uint8)
        w.add_tensor(name, data, raw_dtype=gguf.GGMLQuantizationType[qtype])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return os.fspath(path)


if __name__ == "__main__":  # python bench/inputs.py OUT.gguf
    import sys
    import time

    t = time.perf_counter()
    p = make_real_gguf(sys.argv[1] if len(sys.argv) > 1 else "real.gguf")
    print(f"{p}: {os.path.getsize(p) >> 20} MiB in {time.perf_counter() - t:.1f} s")
