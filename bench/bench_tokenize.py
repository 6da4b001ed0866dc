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
per run, best of 3) in a child process. Also checks
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


def ours(path: str, text: str) -> tuple[float, float, list[int]]:
    loads = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        tok = load_tokenizer(open_archive(path))
        loads.append(time.perf_counter() - t0)
    runs = []
    ids: list[int] = []
    for _ in range(REPEAT):
        tok._model.cache.clear()
        t0 = time.perf_counter()
        ids = tok.encode(text)
        runs.append(time.perf_counter() - t0)
    return min(loads), min(runs), ids


def main(paths: list[str], python: str) -> int:
    text = bench_text()
    print(f"text: {len(text.encode()):,} bytes, {len(text):,} characters; best of {REPEAT}")
    print(f"{'file':<26} {'tokens':>7} {'load ours':>10} {'llama.cpp':>10} {'ratio':>7} "
          f"{'tokenize ours':>14} {'llama.cpp':>10} {'ratio':>7}  same ids")  # fmt: skip
    for path in paths:
        load, run, ids = ours(path, text)
        ref = llama_tokenize(path, [[text, True, True]] * REPEAT, python)
        rload, rrun = ref["load"], min(ref["times"])
        same = ref["ids"][0] == ids
        print(
            f"{os.path.basename(path):<26} {len(ids):>7} {load:>9.3f}s {rload:>9.3f}s {load / rload:>6.1f}x "
            f"{run:>13.3f}s {rrun:>9.3f}s {run / rrun:>6.1f}x  {'yes' if same else 'NO'}"
        )
    return 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--llama-python=")]
    py = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--llama-python=")), LLAMA_PYTHON)
    sys.exit(main(args or DEFAULT, py))
