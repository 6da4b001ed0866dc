"""``irpa info``: what a model is (architecture, sizes, dtype mix)."""

from __future__ import annotations

import sys

from ..display import escape, human, shown
from ..summary import LABELS, bpw, count_rows, fact_text
from . import ArgumentParser, print_json
from .args import add_files_flags, input_paths, warn_if_truncated


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(
        prog=prog,
        description="Summarize a model: architecture and name, parameter count, blocks, embedding width, "
        "heads, context length, vocabulary, and the dtype mix by bytes, by elements and per layer group "
        "with bits per weight. Each figure says where it comes from; what no source gives is 'unknown'.",
    )
    add_files_flags(p, "to summarize as one archive")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def run(args) -> int:
    from .. import open_archive
    from ..summary import summarize

    archive = open_archive(*input_paths(args, "info"))
    warn_if_truncated(archive)
    s = summarize(archive)
    if args.json:
        from ..salvage import truncated_json

        print_json({**s.to_json(), "truncated": truncated_json(archive)})
    else:
        sys.stdout.write(format_summary(s))
    return 0


def format_summary(s) -> str:
    """The summary as aligned plain text (names and values escaped)."""
    lines = []
    for path, fmt in s.files:
        lines.append(f"{escape(path)}  ({fmt})")
    lines.append("")
    for key, fact in s.facts():
        src = f"  ({escape(fact.source)})" if fact.source else ""
        lines.append(f"  {LABELS[key]:<16} {fact_text(fact.value)}{src}")
    for label, value, detail in count_rows(s):
        lines.append(f"  {label:<16} {value}  {detail}")
    for note in s.notes:
        lines.append(f"  note: {escape(note)}")
    lines.append("")
    lines.append(
        f"  {'dtype':<10} {'tensors':>8} {'elements':>15} {'% elem':>7} {'bytes':>11} {'% bytes':>8} {'bits/w':>7}"
    )
    for sh in s.by_dtype:
        pe = 100 * sh.elements / s.parameters if s.parameters else 0
        pb = 100 * sh.bytes / s.bytes if s.bytes else 0
        lines.append(
            f"  {escape(sh.dtype):<10} {sh.tensors:>8,} {sh.elements:>15,} {pe:>6.1f}% {human(sh.bytes):>11} "
            f"{pb:>7.1f}% {bpw(sh.bits_per_weight):>7}"
        )
    lines.append("")
    roles = [shown(g.role, 60) for g in s.groups]
    width = min(60, max((len(r) for r in roles), default=5))
    lines.append(f"  {'layer group':<{width}} {'bits/w':>7} {'elements':>15}  dtypes")
    for role, g in zip(roles, s.groups):
        lines.append(f"  {role:<{width}} {bpw(g.bits_per_weight):>7} {g.elements:>15,}  {escape(g.mix)}")
    return "\n".join(lines) + "\n"
