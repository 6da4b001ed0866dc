"""Our tokenizer against llama.cpp's own test vectors (a dev check, not a test).

Usage: python bench/tokenizer_vectors.py LLAMA_CPP/models [NAME...] [-v]

For each ``ggml-vocab-NAME.gguf`` with ``.inp``/``.out`` beside it, the
texts of ``.inp`` (separated by ``\\n__ggml_vocab_test__\\n``) are
tokenized as llama.cpp's ``tests/test-tokenizer-0.cpp`` does
(``common_tokenize(ctx, text, add_special=false, parse_special=false)``)
and compared with the ids of ``.out``. Prints pass/fail per vocabulary;
``-v`` shows each failure. Exit status 1 when any text fails.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from irpa_core import open_archive
from irpa_core.errors import IrpaError
from irpa_core.tokenizer import load_tokenizer

SEP = "\n__ggml_vocab_test__\n"


def cases(inp: str, out: str) -> list[tuple[str, list[int]]]:
    with open(inp, encoding="utf-8", newline="") as f:
        raw = f.read()
    texts = raw.split(SEP)
    if texts and texts[-1] == "":  # a separator at the very end closes the last text
        texts.pop()
    with open(out, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(texts) != len(lines):
        raise SystemExit(f"{inp}: {len(texts)} texts for {len(lines)} lines of ids")
    return [(t, [int(x) for x in line.split()]) for t, line in zip(texts, lines)]


def run(models: str, names: list[str], verbose: bool) -> int:
    bad = 0
    for fn in sorted(os.listdir(models)):
        if not (fn.startswith("ggml-vocab-") and fn.endswith(".gguf")):
            continue
        name = fn[len("ggml-vocab-") : -len(".gguf")]
        if names and name not in names:
            continue
        path = os.path.join(models, fn)
        if not os.path.exists(path + ".inp"):
            print(f"{name:<18} no .inp/.out")
            continue
        t0 = time.perf_counter()
        try:
            tok = load_tokenizer(open_archive(path))
        except IrpaError as e:
            print(f"{name:<18} refused: {e}")
            bad += 1
            continue
        t1 = time.perf_counter()
        tests = cases(path + ".inp", path + ".out")
        fails = []
        for text, want in tests:
            try:
                got = tok.encode(text, add_special=False, parse_special=False)
            except IrpaError as e:
                got = [f"error: {e}"]  # type: ignore[list-item]
            if got != want:
                fails.append((text, want, got))
        t2 = time.perf_counter()
        status = "PASS" if not fails else "FAIL"
        print(
            f"{name:<18} {status} {len(tests) - len(fails)}/{len(tests)}  ({tok.kind} {tok.pre or ''}) "
            f"load {t1 - t0:.2f} s, tokenize {t2 - t1:.2f} s"
        )
        if verbose:
            for text, want, got in fails:
                print(f"    {text!r}\n      want {want}\n      got  {got}")
        bad += len(fails)
    return 1 if bad else 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "-v"]
    if not args:
        raise SystemExit(__doc__)
    sys.exit(run(args[0], args[1:], "-v" in sys.argv))
