"""Fingerprint of what the ``irpa`` command line prints and writes, to show
that a refactor changes nothing a user sees.

    python bench/cli_fingerprint.py OUT.txt [--gguf MODEL.gguf] [--safetensors DIR_OR_FILE]

Runs a fixed list of commands (dump, info, stats, heatmap, convert to each
format with each kind of edit, create, verify, diff) on the demo archive and
on the given models, and writes one line per command: its exit code and the
SHA-256 of its stdout, its stderr and every file it wrote. Run it before and
after a change, then ``diff BEFORE.txt AFTER.txt``: no output means the same
bytes everywhere. Temporary paths and the seconds a write took are replaced by
placeholders before hashing, so two runs compare.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

from irpa_core.demo import make_demo


def _commands(demo: str, gguf: str | None, st: str | None) -> list[tuple[str, list[str]]]:
    cmds: list[tuple[str, list[str]]] = []
    inputs = [("demo", demo)] + ([("gguf", gguf)] if gguf else []) + ([("st", st)] if st else [])
    for tag, src in inputs:
        cmds += [
            (f"{tag}-dump", ["dump", src]),
            (f"{tag}-dump-json", ["dump", "--json", src] if _has_flag("dump", "--json") else ["dump", src]),
            (f"{tag}-info", ["info", src]),
            (f"{tag}-stats-sample", ["stats", "--sample", "--json", src]),
            (f"{tag}-anomalies", ["stats", "--anomalies", src]),
        ]
        for fmt in ("irpa", "gguf", "safetensors"):
            out = f"@OUT/{tag}.{fmt}"
            meta = ["--set-metadata", "general.architecture=string:llama"] if fmt == "gguf" else []
            if fmt == "safetensors" and tag != "st":
                meta = ["--cast", "*=f16"]  # safetensors has no GGUF block types
            cmds += [
                (f"{tag}-to-{fmt}", ["convert", src, "-o", out, "--no-fsync", *meta]),
                (
                    f"{tag}-to-{fmt}-strip",
                    ["convert", src, "-o", out, "--strip", "--keep", "*norm*", "--no-fsync", *meta],
                ),
                (
                    f"{tag}-to-{fmt}-edits",
                    [
                        "convert",
                        src,
                        "-o",
                        out,
                        "--no-fsync",
                        "--exclude",
                        "*.1.*",
                        "--rename",
                        "blk.*=layer.*",
                        "--splat",
                        "*bias=f32=0.5",
                        "--set-metadata",
                        "irpa.test=string:x",
                        *meta,
                    ],
                ),
                (f"{tag}-to-{fmt}-cast", ["convert", src, "-o", out, "--no-fsync", "--cast", "*norm*=f16", *meta]),
                (f"{tag}-to-{fmt}-nometa", ["convert", src, "-o", out, "--no-fsync", "--no-metadata", *meta]),
            ]
        cmds += [
            (f"{tag}-align-irpa", ["convert", src, "-o", f"@OUT/{tag}.a.irpa", "--alignment", "4096", "--no-fsync"]),
            (
                f"{tag}-align-gguf",
                [
                    "convert",
                    src,
                    "-o",
                    f"@OUT/{tag}.a.gguf",
                    "--alignment",
                    "64",
                    "--no-fsync",
                    "--set-metadata",
                    "general.architecture=string:llama",
                ],
            ),
            (f"{tag}-align-st", ["convert", src, "-o", f"@OUT/{tag}.a.safetensors", "--alignment", "64"]),
            (
                f"{tag}-split",
                [
                    "convert",
                    src,
                    "-o",
                    "@OUT/m.gguf",
                    "--split-max-tensors",
                    "20",
                    "--no-fsync",
                    "--set-metadata",
                    "general.architecture=string:llama",
                ],
            ),
            (
                f"{tag}-verify",
                [
                    "convert",
                    src,
                    "-o",
                    "@OUT/v.irpa",
                    "--strip",
                    "--keep",
                    "*norm*",
                    "--no-fsync",
                    "&&",
                    "verify",
                    "@OUT/v.irpa",
                    "--parameters",
                    src,
                    "--strip",
                    "--keep",
                    "*norm*",
                ],
            ),
            (
                f"{tag}-verify-bad",
                [
                    "convert",
                    src,
                    "-o",
                    "@OUT/v.irpa",
                    "--no-fsync",
                    "&&",
                    "verify",
                    "@OUT/v.irpa",
                    "--parameters",
                    src,
                    "--strip",
                ],
            ),
            (
                f"{tag}-diff",
                [
                    "convert",
                    src,
                    "-o",
                    "@OUT/d.safetensors",
                    "--cast",
                    "*=f16",
                    "--no-fsync",
                    "&&",
                    "diff",
                    src,
                    "@OUT/d.safetensors",
                ],
            ),
        ]
    cmds += [
        ("create-irpa", ["create", "--data", "a=4x8xf32=1.5", "--splat", "b=16xi8=3", "-o", "@OUT/c.irpa"]),
        (
            "create-gguf",
            [
                "create",
                "--data",
                "a=4x8xf32=1.5",
                "--splat",
                "b=16xi8=3",
                "-o",
                "@OUT/c.gguf",
                "--set-metadata",
                "general.architecture=string:llama",
            ],
        ),
        ("create-st", ["create", "--data", "a=4x8xf32=1.5", "--splat", "b=16xi8=3", "-o", "@OUT/c.safetensors"]),
        ("heatmap", ["heatmap", demo, "--name", "token_embd.weight", "--json", "--cells", "8x8"]),
        ("heatmap-png", ["heatmap", demo, "--name", "token_embd.weight", "--png", "@OUT/h.png"]),
        ("bad-input", ["dump", "@OUT/missing.irpa"]),
        ("bad-flag", ["convert", demo, "-o", "@OUT/x.irpa", "--rename", "nonsense"]),
    ]
    return cmds


def _has_flag(cmd: str, flag: str) -> bool:
    r = subprocess.run([sys.executable, "-m", "irpa_core.cli", cmd, "--help"], capture_output=True, text=True)
    return flag in r.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--gguf")
    ap.add_argument("--safetensors")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="irpa-fp-")
    try:
        demo = str(make_demo(os.path.join(work, "in")))
        lines = []
        for tag, argv in _commands(demo, args.gguf, args.safetensors):
            outdir = os.path.join(work, "out")
            shutil.rmtree(outdir, ignore_errors=True)
            os.makedirs(outdir)
            argv = [a.replace("@OUT", outdir) for a in argv]
            h = []
            steps = " ".join(argv).split(" && ")  # steps in one output directory, the last one's output kept
            for step in [a.split(" ") for a in steps] if "&&" in argv else [argv]:
                r = subprocess.run([sys.executable, "-m", "irpa_core.cli", *step], capture_output=True)
                h = [f"rc={r.returncode}", "out=" + _h(r.stdout, work), "err=" + _h(r.stderr, work)]
            for root, _, files in sorted(os.walk(outdir)):
                for f in sorted(files):
                    p = os.path.join(root, f)
                    with open(p, "rb") as fh:
                        h.append(f"{os.path.relpath(p, outdir)}={hashlib.sha256(fh.read()).hexdigest()[:16]}")
            lines.append(f"{tag} " + " ".join(h))
            print(lines[-1], flush=True)
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _h(data: bytes, work: str) -> str:
    data = data.replace(work.encode(), b"@WORK")
    data = re.sub(rb"in \d+\.\d+ s\b", b"in T s", data)  # how long a write took
    return hashlib.sha256(data).hexdigest()[:16]


if __name__ == "__main__":
    main()
