"""Statistics throughput (values/s) and peak memory, per dtype; the exact
pass over a 167M-value Q8_0 tensor; the sampled estimate.

Each measurement runs in a fresh process (peak RSS from GNU time).
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import mib

CHILD = r"""
import json, sys, time
from irpa_core import open_archive
from irpa_core import stats as S
e = open_archive(sys.argv[1]).entries[0]
mode = sys.argv[2]
t = time.perf_counter()
st = S.sample_stats(e) if mode == "sample" else S.compute_stats(e)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "count": st.count, "exact": st.exact}))
"""


def make_gguf(path, qname, rows, cols):
    import gguf
    from gguf import quants

    qt = gguf.GGMLQuantizationType[qname] if qname not in ("F32", "F16", "BF16") else None
    rng = np.random.default_rng(0)
    chunk_rows = max(1, (1 << 22) // cols)
    w = gguf.GGUFWriter(path, "llama")
    # Declare the tensor, then stream its bytes chunk by chunk.
    if qname == "F32":
        block = rng.standard_normal((chunk_rows, cols)).astype(np.float32)
        raw_dtype, nbytes_row = gguf.GGMLQuantizationType.F32, cols * 4
    elif qname == "F16":
        block = rng.standard_normal((chunk_rows, cols)).astype(np.float16)
        raw_dtype, nbytes_row = gguf.GGMLQuantizationType.F16, cols * 2
    elif qname == "BF16":
        import ml_dtypes

        block = rng.standard_normal((chunk_rows, cols)).astype(ml_dtypes.bfloat16).view(np.uint8)
        raw_dtype, nbytes_row = gguf.GGMLQuantizationType.BF16, cols * 2
    else:
        try:
            block = quants.quantize(rng.standard_normal((chunk_rows, cols)).astype(np.float32), qt)
        except NotImplementedError:  # gguf has no quantizer for K-quants: random blocks decode too
            bs, ts = gguf.GGML_QUANT_SIZES[qt]
            block = rng.integers(0, 256, (chunk_rows, cols // bs * ts), dtype=np.uint8)
        raw_dtype, nbytes_row = qt, block.shape[1]
    w.add_tensor_info(
        "t",
        (rows, nbytes_row) if qname not in ("F32", "F16") else (rows, cols),
        np.dtype(np.uint8) if qname not in ("F32", "F16") else block.dtype,
        rows * nbytes_row,
        raw_dtype=raw_dtype,
    )
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.fout[0].flush() if hasattr(w, "fout") and isinstance(w.fout, list) else None
    w.close()
    # Append the data after the aligned header (gguf pads to 32).
    size = os.path.getsize(path)
    with open(path, "ab") as f:
        f.write(b"\0" * (-size % 32))
        left = rows
        raw = block.tobytes()
        while left > 0:
            n = min(left, chunk_rows)
            f.write(raw[: n * nbytes_row])
            left -= n
    return path


def measure(path, mode):
    import tempfile as tf

    with tf.NamedTemporaryFile("r") as f:
        out = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", f.name, sys.executable, "-c", CHILD, path, mode],
            capture_output=True,
            text=True,
            check=True,
        )
        rss = int(f.read().split()[-1])
    return json.loads(out.stdout), rss


def main():
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        print(f"{'dtype':<6} {'values':>12} {'exact s':>8} {'Mvalues/s':>10} {'peak':>8} {'sample s':>9}")
        for qname in ("F32", "F16", "BF16", "Q8_0", "Q4_K", "Q6_K"):
            rows, cols = 8192, 4096  # 33.5M values
            p = make_gguf(os.path.join(d, f"{qname}.gguf"), qname, rows, cols)
            r, rss = measure(p, "exact")
            s, _ = measure(p, "sample")
            print(
                f"{qname:<6} {r['count']:>12,} {r['seconds']:>8.2f} {r['count'] / r['seconds'] / 1e6:>10.1f} "
                f"{mib(rss):>8} {s['seconds']:>9.3f}"
            )
            os.unlink(p)
        # The goal case: 167M values of Q8_0 (e.g. a 32000 x 5120 embedding).
        p = make_gguf(os.path.join(d, "big.gguf"), "Q8_0", 40960, 4096)
        r, rss = measure(p, "exact")
        s, srss = measure(p, "sample")
        print(
            f"Q8_0 167M: exact {r['seconds']:.2f} s, peak {mib(rss)}; sample {s['seconds']:.3f} s, "
            f"peak {mib(srss)} ({r['count']:,} values, {os.path.getsize(p) >> 20} MiB)"
        )


if __name__ == "__main__":
    main()
