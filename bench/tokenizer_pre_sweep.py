"""Every BPE pre-tokenizer we cover, against llama.cpp (a dev check).

Usage: python bench/tokenizer_pre_sweep.py [BPE_VOCAB.gguf] [--fuzz=N] [--llama-python=PY]

Writes, in a temporary directory, one copy of a byte-level BPE vocabulary
(default: llama.cpp's ggml-vocab-qwen2.gguf from $IRPA_LLAMA_MODELS) per
distinct pre-tokenizer of ``pretok.PRE`` (patterns and flags; the
``▁``-style ones need a ``▁`` vocabulary and are left out), then runs
``tokenizer_oracle`` on them: the same ids as llama.cpp's, or not.
"""

from __future__ import annotations

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tokenizer_oracle import LLAMA_PYTHON, main

from irpa_core import open_archive
from irpa_core.tokenizer import load_tokenizer
from irpa_core.tokenizer.pretok import PRE

MODELS = os.environ.get("IRPA_LLAMA_MODELS", "/work/llama-src/llama.cpp/models")


def write_copies(source: str, directory: str) -> list[str]:
    import gguf

    tok = load_tokenizer(open_archive(source))
    v = tok.vocab
    merges = v.strings("merges")
    seen: dict[tuple, str] = {}
    for name, spec in PRE.items():
        if not spec.escape_whitespaces:
            seen.setdefault((spec.patterns, spec.ignore_merges, spec.add_bos, spec.no_bos), name)
    paths = []
    for name in seen.values():
        path = os.path.join(directory, f"{name}.gguf")
        w = gguf.GGUFWriter(path, "qwen2")
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre(name)
        w.add_token_list(v.tokens)
        w.add_token_types(v.types)
        w.add_token_merges(merges)
        if tok.bos_id is not None:
            w.add_bos_token_id(tok.bos_id)
        if tok.eos_id is not None:
            w.add_eos_token_id(tok.eos_id)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        paths.append(path)
    return paths


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    py = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--llama-python=")), LLAMA_PYTHON)
    n_fuzz = next((int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--fuzz=")), 200)
    source = args[0] if args else os.path.join(MODELS, "ggml-vocab-qwen2.gguf")
    with tempfile.TemporaryDirectory() as d:
        sys.exit(main(write_copies(source, d), "-v" in sys.argv, py, n_fuzz))
