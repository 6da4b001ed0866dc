"""A 7B-shaped Q4_K_M GGUF for the benchmarks, written once under
``~/.cache/irpa-bench/`` (never in the repository): Llama-2-7B's shapes
(32 blocks, 4096 wide, 11008 feed-forward, 32,000-token vocabulary) and
llama.cpp's Q4_K_M type mix (Q4_K, with Q6_K for ``attn_v``/``ffn_down``
of the first and last eighth of the blocks and every third one between,
and for ``output``; f32 norms), about 4 GB.

The blocks are random bytes with sane f16 scales (0.001 to 0.01) rather
than 7 billion quantized floats: quantizing that much takes hours in
numpy, and statistics decode random blocks exactly as real ones (same
kernels, same cost). Usage: ``python bench/make_7b.py [PATH]``; prints the
path. ``IRPA_BENCH_CACHE`` moves the cache directory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

BLOCKS, WIDTH, FF, VOCAB = 32, 4096, 11008, 32000
ALIGN = 32
SIZES = {"Q4_K": (256, 144), "Q6_K": (256, 210)}
# Where a block's f16 scales are: d and dmin for Q4_K, d for Q6_K.
SCALES = {"Q4_K": (0, 2), "Q6_K": (208,)}


def default_path() -> Path:
    cache = Path(os.environ.get("IRPA_BENCH_CACHE", Path.home() / ".cache" / "irpa-bench"))
    return cache / "llama-7b-shaped-Q4_K_M.gguf"


def more_bits(i: int, n: int = BLOCKS) -> bool:
    """llama.cpp's use_more_bits: the layers Q4_K_M gives Q6_K."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def tensors() -> list[tuple[str, str, tuple[int, int]]]:
    """(name, type, (rows, columns)) in file order."""
    out = [("token_embd.weight", "Q4_K", (VOCAB, WIDTH))]
    for i in range(BLOCKS):
        b = f"blk.{i}."
        big = "Q6_K" if more_bits(i) else "Q4_K"
        out += [
            (b + "attn_norm.weight", "F32", (1, WIDTH)),
            (b + "attn_q.weight", "Q4_K", (WIDTH, WIDTH)),
            (b + "attn_k.weight", "Q4_K", (WIDTH, WIDTH)),
            (b + "attn_v.weight", big, (WIDTH, WIDTH)),
            (b + "attn_output.weight", "Q4_K", (WIDTH, WIDTH)),
            (b + "ffn_norm.weight", "F32", (1, WIDTH)),
            (b + "ffn_gate.weight", "Q4_K", (FF, WIDTH)),
            (b + "ffn_up.weight", "Q4_K", (FF, WIDTH)),
            (b + "ffn_down.weight", big, (WIDTH, FF)),
        ]
    out += [("output_norm.weight", "F32", (1, WIDTH)), ("output.weight", "Q6_K", (VOCAB, WIDTH))]
    return out


def _nbytes(kind: str, rows: int, cols: int) -> int:
    if kind == "F32":
        return rows * cols * 4
    block, size = SIZES[kind]
    return rows * (cols // block) * size


def _data(kind: str, rows: int, cols: int, rng: np.random.Generator, chunk_rows: int):
    """The tensor's bytes, a bounded piece at a time."""
    if kind == "F32":
        yield (1 + 0.05 * rng.standard_normal(rows * cols)).astype(np.float32).tobytes()
        return
    block, size = SIZES[kind]
    per_row = cols // block
    for r in range(0, rows, chunk_rows):
        n = min(chunk_rows, rows - r)
        raw = np.frombuffer(rng.bytes(n * per_row * size), np.uint8).reshape(-1, size).copy()
        scales = rng.uniform(0.001, 0.01, (len(raw), len(SCALES[kind]))).astype(np.float16).view(np.uint8)
        for k, off in enumerate(SCALES[kind]):
            raw[:, off : off + 2] = scales[:, 2 * k : 2 * k + 2]
        yield raw.tobytes()


def make(path: Path) -> Path:
    import gguf

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    w = gguf.GGUFWriter(str(tmp), "llama")
    w.add_block_count(BLOCKS)
    w.add_embedding_length(WIDTH)
    w.add_feed_forward_length(FF)
    w.add_head_count(32)
    w.add_head_count_kv(32)
    w.add_context_length(4096)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    for name, kind, (rows, cols) in tensors():
        if kind == "F32":
            w.add_tensor_info(
                name, (cols,), np.dtype(np.float32), rows * cols * 4, raw_dtype=gguf.GGMLQuantizationType.F32
            )
        else:
            nbytes = _nbytes(kind, rows, cols)
            qt = gguf.GGMLQuantizationType[kind]
            w.add_tensor_info(name, (rows, nbytes // rows), np.dtype(np.uint8), nbytes, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    rng = np.random.default_rng(7)
    with open(tmp, "ab") as f:
        f.write(b"\0" * (-f.tell() % ALIGN))
        for _name, kind, (rows, cols) in tensors():
            for piece in _data(kind, rows, cols, rng, chunk_rows=1024):
                f.write(piece)
            f.write(b"\0" * (-f.tell() % ALIGN))
    os.replace(tmp, path)
    return path


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else default_path()
    print(make(path))


if __name__ == "__main__":
    main()
