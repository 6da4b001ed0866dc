"""Tokenizing 100 KB of text: our tokenizer against llama.cpp's C++.

Usage: python bench/bench_tokenize.py [FILE.gguf...] [--llama-python=PY]

Default files: the Gemma 3 GGUF (262,144-token SPM vocabulary) at
/work/models/gemma.gguf and llama.cpp's Qwen2 vocabulary (151,936-token
byte-level BPE) from $IRPA_LLAMA_MODELS (default
/work/llama-src/llama.cpp/models). For each: the time to load the
tokenizer (open the file and read the vocabulary) and to tokenize
``tokenizer_texts.bench_text()`` (100 KB of prose, code and many scripts;
special tokens parsed, BOS added), best of 3, with our word caches emptied
before each run; llama.cpp's figures come from llama-cpp-python's C API
(a vocabulary-only ``llama_model_load_from_file``, one ``llama_tokenize``
per run, best of 3) in a child process. Wall and CPU seconds: on a busy
machine the CPU time is the steadier figure. Also checks
that both give the same ids.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tokenizer_oracle import LLAMA_PYTHON, llama_tokenize
from tokenizer_texts import bench_text

from irpa_core import open_archive
from irpa_core.tokenizer import load_tokenizer

MODELS = os.environ.get("IRPA_LLAMA_MODELS", "/work/llama-src/llama.cpp/models")
DEFAULT = ["/work/models/gemma.gguf", os.path.join(MODELS, "ggml-vocab-qwen2.gguf")]
REPEAT = 3


def best(fn, repeat: int = REPEAT):
    """fn() ``repeat`` times: (least wall seconds, least CPU seconds, the last result)."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus), result


def ours(path: str, text: str):
    load, load_cpu, tok = best(lambda: load_tokenizer(open_archive(path)))

    def run():
        tok._model.cached.cache_clear()  # every run starts without remembered words
        return tok.encode(text)

    run_wall, run_cpu, ids = best(run)
    return (load, load_cpu), (run_wall, run_cpu), ids


def main(paths: list[str], python: str) -> int:
    text = bench_text()
    print(f"text: {len(text.encode()):,} bytes, {len(text):,} characters; best of {REPEAT}; wall (CPU) seconds")
    print(f"{'file':<24} {'tokens':>7} {'load: ours':>16} {'llama.cpp':>16} {'ratio':>11}   "
          f"{'tokenize: ours':>16} {'llama.cpp':>16} {'ratio':>11}  same ids")  # fmt: skip
    for path in paths:
        (load, load_cpu), (run, run_cpu), ids = ours(path, text)
        ref = llama_tokenize(path, [[text, True, True]] * REPEAT, python)
        rload, rload_cpu = ref["load"], ref["load_cpu"]
        rrun, rrun_cpu = min(ref["times"]), min(ref["cpu"])
        same = ref["ids"][0] == ids

        def pair(w, c):
            return f"{w:.3f} ({c:.3f})"

        print(
            f"{os.path.basename(path):<24} {len(ids):>7} {pair(load, load_cpu):>16} {pair(rload, rload_cpu):>16} "
            f"{load / rload:>4.1f}x ({load_cpu / rload_cpu:.1f}x)   {pair(run, run_cpu):>16} "
            f"{pair(rrun, rrun_cpu):>16} {run / rrun:>4.1f}x ({run_cpu / rrun_cpu:.1f}x)  {'yes' if same else 'NO'}"
        )
    return 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--llama-python=")]
    py = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--llama-python=")), LLAMA_PYTHON)
    sys.exit(main(args or DEFAULT, py))
