"""Our chat template rendering against llama-cpp-python's, on a corpus of
real templates (a dev check, not a test).

Usage: python bench/templates_corpus.py [TEMPLATES_DIR] [--python PYTHON] [-v]

TEMPLATES_DIR: llama.cpp's ``models/templates`` (default
``/work/llama-src/llama.cpp/models/templates``), every ``*.jinja`` in it.
PYTHON: an interpreter where ``import llama_cpp`` works (default
``/work/llamavenv/bin/python``); its ``llama_chat_format.Jinja2ChatFormatter``
renders the same cases in one child process (no model loaded).

Cases per template: the default conversation (``DEFAULT_MESSAGES``) with
and without the generation prompt, and with ``SAMPLE_TOOLS`` when the
template reads ``tools``. BOS/EOS are ``<s>``/``</s>`` for both. A case is
"same" when both give the same prompt or both refuse it. Prints one line
per template, then the totals; ``-v`` shows the first difference. Exit
status 1 when any case differs.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jinja2 import meta

from irpa_core.chat_template import DEFAULT_MESSAGES, TemplateError, render
from irpa_core.chat_template.sandbox import SAMPLE_TOOLS, parse

DEFAULT_DIR = "/work/llama-src/llama.cpp/models/templates"
DEFAULT_PYTHON = "/work/llamavenv/bin/python"
BOS, EOS = "<s>", "</s>"

# Runs in PYTHON: each case through llama-cpp-python's formatter.
REFERENCE = r"""
import json, sys
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
out = []
for case in json.load(sys.stdin):
    try:
        f = Jinja2ChatFormatter(template=case["template"], eos_token=case["eos"], bos_token=case["bos"],
                                add_generation_prompt=case["gen"])
        out.append({"prompt": f(messages=case["messages"], tools=case["tools"]).prompt})
    except Exception as e:
        out.append({"error": f"{type(e).__name__}: {e}"})
json.dump(out, sys.stdout)
"""


def cases(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        template = f.read()
    base = {"template": template, "messages": [dict(m) for m in DEFAULT_MESSAGES], "bos": BOS, "eos": EOS}
    out = [{**base, "gen": True, "tools": None, "label": "default"}]
    out.append({**base, "gen": False, "tools": None, "label": "no generation prompt"})
    try:
        if "tools" in meta.find_undeclared_variables(parse(template)):
            out.append({**base, "gen": True, "tools": list(SAMPLE_TOOLS), "label": "tools"})
    except TemplateError:
        pass
    return out


def ours(case: dict) -> dict:
    try:
        prompt = render(case["template"], case["messages"], add_generation_prompt=case["gen"], bos_token=case["bos"],
                        eos_token=case["eos"], tools=case["tools"])  # fmt: skip
    except TemplateError as e:
        return {"error": e.reason}
    return {"prompt": prompt}


def reference(python: str, all_cases: list[dict]) -> list[dict] | None:
    payload = [{k: v for k, v in c.items() if k != "label"} for c in all_cases]
    try:
        done = subprocess.run(
            [python, "-c", REFERENCE], input=json.dumps(payload), capture_output=True, text=True, check=False
        )
    except OSError as e:
        print(f"reference: cannot run {python}: {e}", file=sys.stderr)
        return None
    if done.returncode != 0:
        print(f"reference: {python} failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout)


def first_difference(a: str, b: str) -> str:
    i = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
    return f"at {i}: ours {a[max(0, i - 20) : i + 40]!r} / llama_cpp {b[max(0, i - 20) : i + 40]!r}"


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    args = [a for a in argv if a != "-v"]
    python = DEFAULT_PYTHON
    if "--python" in args:
        i = args.index("--python")
        python = args[i + 1]
        del args[i : i + 2]
    directory = args[0] if args else DEFAULT_DIR
    paths = sorted(glob.glob(os.path.join(directory, "*.jinja")))
    per_file = [(p, cases(p)) for p in paths]
    all_cases = [c for _, cs in per_file for c in cs]
    t0 = time.perf_counter()
    mine = [ours(c) for c in all_cases]
    t_ours = time.perf_counter() - t0
    ref = reference(python, all_cases)
    k = 0
    totals = {"templates": len(paths), "render": 0, "cases": len(all_cases), "same": 0, "differ": 0}
    for path, cs in per_file:
        results = []
        for c in cs:
            m, r = mine[k], ref[k] if ref is not None else None
            k += 1
            if r is None:
                verdict = "ok" if "prompt" in m else "refused"
            elif "prompt" in m and "prompt" in r:
                verdict = "same" if m["prompt"] == r["prompt"] else "DIFFER"
            elif "error" in m and "error" in r:
                verdict = "same (both refuse)"
            else:
                verdict = "DIFFER"
            if verdict.startswith("same"):
                totals["same"] += 1
            elif verdict == "DIFFER":
                totals["differ"] += 1
            results.append((c["label"], verdict, m, r))
        if "prompt" in results[0][2]:
            totals["render"] += 1
        line = ", ".join(f"{label}: {verdict}" for label, verdict, _, _ in results)
        print(f"{os.path.basename(path):<52} {line}")
        for label, verdict, m, r in results:
            if verbose and (verdict == "DIFFER" or "error" in m):
                if r is not None and "prompt" in m and "prompt" in r:
                    print(f"    {label}: {first_difference(m['prompt'], r['prompt'])}")
                else:
                    print(f"    {label}: ours {m.get('error', 'renders')!s:.160} / llama_cpp "
                          f"{(r or {}).get('error', 'renders')!s:.160}")  # fmt: skip
    print(
        f"\n{totals['render']}/{totals['templates']} templates render the default conversation; "
        f"{totals['cases']} cases rendered in {t_ours:.1f} s"
    )
    if ref is None:
        print("llama_cpp not available: nothing compared")
        return 0
    print(f"{totals['same']}/{totals['cases']} cases equal llama_cpp's Jinja2ChatFormatter, {totals['differ']} differ")
    return 1 if totals["differ"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
