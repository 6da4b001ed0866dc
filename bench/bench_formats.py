"""Writing GGUF and safetensors: irpa convert vs cp vs the libraries' own copy.

- GGUF -> GGUF of a ~300 MB model with a real-sized tokenizer (262,144
  tokens, scores, token types, 200,000 merges): ``irpa convert`` (one
  metadata edit, as a user would) against ``cp`` and against a
  ``gguf_new_metadata.py``-style copy with the ``gguf`` package
  (GGUFReader + GGUFWriter: every field re-added, tensors re-written).
- safetensors -> safetensors of ~300 MB: against ``cp`` and against
  ``safetensors.numpy`` load_file + save_file.
- casting f32 -> f16 end to end (MB/s of f32 read).
- the cost of keeping a GGUF's key/values in .irpa (the default) against
  ``--no-metadata``, on the same model.

Hot cache, commands in interleaved rounds (``bench.common.interleaved``),
``--no-fsync`` for irpa like ``cp`` (neither flushes). ``python
bench/bench_formats.py [MB] [ROUNDS]``.
"""

import os
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import installed_irpa, interleaved, mib

# A gguf_new_metadata.py-style copy, written for this benchmark with the
# gguf package's public API: read every field and tensor, write them anew.
GGUF_PACKAGE_COPY = textwrap.dedent(
    """
    import sys
    import gguf

    reader = gguf.GGUFReader(sys.argv[1])
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(sys.argv[2], arch)
    if "general.alignment" in reader.fields:
        writer.data_alignment = reader.fields["general.alignment"].contents()
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in ("general.architecture", "general.alignment"):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        value = "renamed" if field.name == "general.name" else field.contents()
        writer.add_key_value(field.name, value, kind, sub_type=sub)
    for t in reader.tensors:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in reader.tensors:
        writer.write_tensor_data(t.data)
    writer.close()
    """
)

SAFETENSORS_COPY = textwrap.dedent(
    """
    import sys
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(sys.argv[1], "np") as f:
        metadata = f.metadata()
    save_file(load_file(sys.argv[1]), sys.argv[2], metadata=metadata)
    """
)


def make_gguf(path: str, total_mb: int) -> None:
    from tests.fixtures import make_gguf as write

    n_vocab = 262_144
    kv = {
        "general.name": "bench",
        "llama.context_length": 8192,
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": [("Ġ" if i % 3 else "") + f"tok{i}" for i in range(n_vocab)],
        "tokenizer.ggml.scores": [float(-i) for i in range(n_vocab)],
        "tokenizer.ggml.token_type": [1] * n_vocab,
        "tokenizer.ggml.merges": [f"a{i} b{i}" for i in range(200_000)],
    }
    n = 48
    rows = total_mb * (1 << 20) // n // 4 // 4096
    rng = np.random.default_rng(0)
    block = rng.standard_normal((rows, 4096)).astype(np.float32)
    write(path, {f"blk.{i}.w": block for i in range(n)}, kv)


def make_safetensors(path: str, total_mb: int) -> None:
    from safetensors.numpy import save_file

    n = 48
    per = total_mb * (1 << 20) // n // 4
    block = np.random.default_rng(0).standard_normal(per).astype(np.float32)
    save_file({f"blk.{i}.w": block for i in range(n)}, path, metadata={"format": "pt"})


def report(title: str, r: dict, n: int, base: str = "cp") -> None:
    print(f"{title} (median of {n} interleaved rounds; min-max in brackets):")
    b = r[base][0]
    for name, (med, rss, walls) in r.items():
        print(f"  {name:44s} {med:7.3f} s [{min(walls):.3f}-{max(walls):.3f}] {mib(rss):>8}  {med / b:5.2f}x {base}")


def main():
    mb = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    py = sys.executable
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        irpa = installed_irpa(d)  # started as a user's wheel install starts (bench/common.py)
        g = os.path.join(d, "model.gguf")
        st = os.path.join(d, "model.safetensors")
        make_gguf(g, mb)
        make_safetensors(st, mb)
        outs = {ext: os.path.join(d, f"out.{ext}") for ext in ("gguf", "safetensors", "irpa")}

        def rm():
            for p in outs.values():
                if os.path.exists(p):
                    os.unlink(p)

        libraries = mb <= 500  # the gguf package takes a minute per GB
        size = os.path.getsize(g)
        cmds = {
            "cp": ["cp", g, outs["gguf"]],
            "irpa convert --set-metadata (gguf)": [
                irpa, "convert", g, "-o", outs["gguf"], "--quiet", "--no-fsync", "--set-metadata=general.name=renamed",
            ],
        }  # fmt: skip
        if libraries:
            cmds["gguf package (GGUFReader + GGUFWriter)"] = [py, "-c", GGUF_PACKAGE_COPY, g, outs["gguf"]]
        r = interleaved(cmds, n, rm)
        report(f"GGUF -> GGUF, {size / 1e6:.0f} MB, 262,144-token vocabulary", r, n)
        if libraries:
            ours, pkg = r["irpa convert --set-metadata (gguf)"][0], r["gguf package (GGUFReader + GGUFWriter)"][0]
            print(f"  irpa is {pkg / ours:.1f}x faster than the gguf package")

        size = os.path.getsize(st)
        cmds = {
            "cp": ["cp", st, outs["safetensors"]],
            "irpa convert (safetensors)": [irpa, "convert", st, "-o", outs["safetensors"], "--quiet", "--no-fsync"],
        }
        if libraries:
            cmds["safetensors.numpy load_file + save_file"] = [py, "-c", SAFETENSORS_COPY, st, outs["safetensors"]]
        report(f"safetensors -> safetensors, {size / 1e6:.0f} MB", interleaved(cmds, n, rm), n)

        r = interleaved(
            {
                "cp": ["cp", st, outs["safetensors"]],
                "irpa convert --cast='*=f16'": [
                    irpa, "convert", st, "-o", outs["safetensors"], "--quiet", "--no-fsync", "--cast=*=f16",
                ],
            },
            n,
            rm,
        )  # fmt: skip
        report(f"cast f32 -> f16, {size / 1e6:.0f} MB of f32 in", r, n)
        cast_s = r["irpa convert --cast='*=f16'"][0]
        print(f"  throughput: {size / 1e6 / cast_s:.0f} MB/s of f32, end to end")

        size = os.path.getsize(g)
        r = interleaved(
            {
                "cp": ["cp", g, outs["irpa"]],
                "irpa convert (gguf -> irpa, metadata kept)": [
                    irpa, "convert", g, "-o", outs["irpa"], "--quiet", "--no-fsync",
                ],
                "irpa convert --no-metadata": [
                    irpa, "convert", g, "-o", outs["irpa"], "--quiet", "--no-fsync", "--no-metadata",
                ],
            },
            n,
            rm,
        )  # fmt: skip
        report(f"GGUF -> irpa, {size / 1e6:.0f} MB, 262,144-token vocabulary", r, n)
        kept, dropped = r["irpa convert (gguf -> irpa, metadata kept)"][0], r["irpa convert --no-metadata"][0]
        print(f"  keeping the key/values costs {1000 * (kept - dropped):.0f} ms")
        encode_cost(g, n)


ENCODE = textwrap.dedent(
    """
    import sys, time
    t = time.perf_counter()
    import numpy
    numpy_s = time.perf_counter() - t
    from irpa_core import open_archive
    from irpa_core.formats import dataset_meta
    if sys.argv[2] == "decoding":
        dataset_meta.FAST_ITEMS = 1 << 62
    f = open_archive(sys.argv[1]).files[0]
    t = time.process_time()
    blob = dataset_meta.encode(f.metadata, f.metadata_types)
    print(numpy_s, time.process_time() - t, len(blob))
    """
)


def encode_cost(g: str, n: int) -> None:
    """The __SHARK_DATASET__ encoding alone, in fresh processes (CPU time,
    less sensitive to other work on the machine than wall time)."""
    import statistics
    import subprocess

    out = {"gguf_json (numpy)": [], "decoding every item": []}
    numpy_s = []
    for _ in range(n):
        for name, mode in (("gguf_json (numpy)", "fast"), ("decoding every item", "decoding")):
            r = subprocess.run([sys.executable, "-c", ENCODE, g, mode], capture_output=True, text=True, check=True)
            imp, cpu, size = r.stdout.split()
            out[name].append(float(cpu))
            numpy_s.append(float(imp))
    print(f"__SHARK_DATASET__ encoding of the same key/values ({int(size) / 1e6:.1f} MB of JSON), median of {n}:")
    for name, v in out.items():
        print(f"  {name:24s} {1000 * statistics.median(v):6.0f} ms CPU")
    print(f"  (importing numpy: {1000 * statistics.median(numpy_s):.0f} ms wall)")


if __name__ == "__main__":
    main()
