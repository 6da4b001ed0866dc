"""Our tokenizer against llama.cpp itself (llama-cpp-python), a dev check.

Usage: python bench/tokenizer_oracle.py FILE.gguf... [-v] [--fuzz=N] [--llama-python=PY]

llama.cpp runs in a child process of ``PY`` (default
/work/llamavenv/bin/python, or $LLAMA_PYTHON), a Python with
``llama_cpp`` (llama-cpp-python) installed. For each file, a
varied set of texts (``tokenizer_texts.texts``: scripts, whitespace,
emoji, code, the file's own special tokens) is tokenized both ways, with
special tokens parsed and BOS/EOS as the file says
(``llama_tokenize(..., add_special=true, parse_special=true)``), and also
without either; ``--fuzz=N`` adds N random texts (``tokenizer_texts.fuzz``).
Prints matches per file; ``-v`` shows each difference.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tokenizer_texts import fuzz, texts

from irpa_core import open_archive
from irpa_core.tokenizer import load_tokenizer

LLAMA_PYTHON = os.environ.get("LLAMA_PYTHON", "/work/llamavenv/bin/python")
# Run by the llama_cpp Python: reads [path, [[text, add, parse], ...]] as JSON
# on stdin, prints the ids of each, the seconds the load took and each text's.
# The C API directly: one llama_tokenize call per text (the Llama class
# calls it twice when its context is smaller than the result) and a
# vocabulary-only model load (no context).
CHILD = r"""
import json, sys, time
import llama_cpp
path, jobs = json.load(sys.stdin)
llama_cpp.llama_backend_init()
t0 = time.perf_counter()
params = llama_cpp.llama_model_default_params()
params.vocab_only = True
model = llama_cpp.llama_model_load_from_file(path.encode(), params)
vocab = llama_cpp.llama_model_get_vocab(model)
t1 = time.perf_counter()
out, times = [], []
for text, add, parse in jobs:
    data = text.encode("utf-8")
    buf = (llama_cpp.llama_token * (len(data) + 8))()
    t2 = time.perf_counter()
    n = llama_cpp.llama_tokenize(vocab, data, len(data), buf, len(buf), add, parse)
    times.append(time.perf_counter() - t2)
    out.append(list(buf[:n]))
json.dump({"ids": out, "load": t1 - t0, "times": times}, sys.stdout)
"""


def llama_tokenize(path: str, jobs: list, python: str = LLAMA_PYTHON) -> dict:
    """llama.cpp's ids for each (text, add_special, parse_special), and its times."""
    import json
    import subprocess

    r = subprocess.run(
        [python, "-c", CHILD], input=json.dumps([path, jobs]), capture_output=True, text=True, check=False
    )
    if r.returncode:
        raise SystemExit(f"llama_cpp failed on {path}: {r.stderr.strip()[-2000:]}")
    return json.loads(r.stdout)


def main(paths: list[str], verbose: bool, python: str = LLAMA_PYTHON, n_fuzz: int = 0) -> int:
    bad = 0
    for path in paths:
        ours = load_tokenizer(open_archive(path))
        specials = [ours.piece(i) for i in ours.vocab.special[:: max(1, len(ours.vocab.special) // 12)]][:12]
        specials += [ours.piece(i) for i in (ours.bos_id, ours.eos_id, ours.eot_id) if i is not None]
        cases = texts(sorted(set(specials)))
        if n_fuzz:
            import random

            rng = random.Random(0)
            pieces = [ours.piece(rng.randrange(ours.n_vocab)) for _ in range(5000)]
            cases += fuzz(pieces, sorted(set(specials)), n_fuzz)
        jobs = [[text, add, parse] for text in cases for add, parse in ((True, True), (False, False))]
        ref = llama_tokenize(path, jobs, python)["ids"]
        n = fails = 0
        for (text, add, parse), want in zip(jobs, ref):
            n += 1
            got = ours.encode(text, add_special=add, parse_special=parse)
            if got != want:
                fails += 1
                if verbose:
                    print(f"  {text!r} add_special={add} parse_special={parse}\n    want {want}\n    got  {got}")
        print(f"{os.path.basename(path):<32} {'PASS' if not fails else 'FAIL'} {n - fails}/{n}")
        bad += fails
    return 1 if bad else 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "-v" and not a.startswith("--")]
    py = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--llama-python=")), LLAMA_PYTHON)
    n_fuzz = next((int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--fuzz=")), 0)
    if not args:
        raise SystemExit(__doc__)
    sys.exit(main(args, "-v" in sys.argv, py, n_fuzz))
