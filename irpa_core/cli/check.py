"""``irpa check``: does a file hold together as a model of its architecture?"""

from __future__ import annotations

import sys

from ..display import escape
from . import ArgumentParser, print_json
from .args import add_files_flags, input_paths


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(
        prog=prog,
        description="Check that a GGUF's tensors agree with its key/values as llama.cpp reads them (and a "
        "safetensors file with the config.json beside it): tensor names the architecture knows, blocks "
        "0..block_count-1 with the same roles in each, the tensors the architecture requires, shapes "
        "against the hyperparameters, per-layer key arrays of block_count items, special token ids inside "
        "the vocabulary. Each finding names the key or tensor, what was expected and what was found. "
        "Exit status 1 when anything is inconsistent.",
    )
    add_files_flags(p, "to check as one archive (a split GGUF's shards, a model directory)")
    p.add_argument("--json", action="store_true", help='print JSON: {"ok": ..., "findings": [...]}')
    return p


def run(args) -> int:
    from .. import open_archive
    from ..check import check_archive

    paths = input_paths(args, "check")
    report = check_archive(open_archive(*paths))
    if args.json:
        print_json(report.to_json())
    else:
        sys.stdout.write(format_report(report, ", ".join(paths)))
    return 0 if report.ok else 1


def format_report(report, what: str) -> str:
    """One line when consistent; else one line per finding (names escaped)."""
    lines = [f"{escape(what)}: {escape(report.headline())}"]
    for f in report.findings:
        lines.append(f"  {f.severity}: {escape(f.message)}")
    if report.findings:
        lines += [f"  note: {escape(n)}" for n in report.notes]
    return "\n".join(lines) + "\n"
