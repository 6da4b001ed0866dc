"""``irpa diff A B``: compare two archives by name, bytes and values."""

from __future__ import annotations

import json
import os
import sys

from . import ArgumentParser, CliError
from .args import rename_pairs, repeatable


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(
        prog=prog,
        description="Compare two archives by name: only in A / only in B, kind, "
        "dtype and shape changes, identical bytes, where bytes differ (element, "
        "file offsets, both values), and value error figures for tensors that differ. "
        "Exit 0 when every entry pairs up and is identical or within tolerance.",
    )
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    repeatable(p, "--rename", "OLD=NEW", "A's OLD is B's NEW, as in convert (globs: 'blk.*=layers.*')")
    p.add_argument(
        "--atol", type=float, default=0.0, metavar="X", help="absolute tolerance (default 0: bit-exact values)"
    )
    p.add_argument(
        "--rtol", type=float, default=0.0, metavar="X", help="relative tolerance: |A-B| <= atol + rtol*|A| (default 0)"
    )
    p.add_argument("--all", action="store_true", help="list identical entries too")
    p.add_argument("--json", action="store_true")
    return p


def run(args) -> int:
    from .. import open_archive
    from ..diff import IDENTICAL, diff
    from ..display import escape
    from ..plan import Plan

    renames = rename_pairs(args.rename)
    if args.atol < 0 or args.rtol < 0 or args.atol != args.atol or args.rtol != args.rtol:
        raise CliError("--atol and --rtol must be numbers >= 0")
    plan = Plan.from_reference_flags(rename=renames)
    report = diff(open_archive(args.a), open_archive(args.b), rename=plan, atol=args.atol, rtol=args.rtol)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        files = (os.path.basename(args.a), os.path.basename(args.b))
        for p in report.pairs:
            if p.status == IDENTICAL and not args.all:
                continue
            line = f"{p.status:<16} {escape(p.name)}"
            if p.notes:
                line += "  " + escape(", ".join(p.notes))
            print(line)
            if p.difference:
                for text in p.difference.lines("A", "B", *files):
                    print(" " * 17 + text)
            if p.metrics:
                print(" " * 17 + p.metrics.text())
        parts = ", ".join(f"{n} {s}" for s, n in report.counts.items() if n)
        verdict = "identical" if report.identical else "within tolerance" if report.ok else "different"
        print(f"{verdict}: {parts or 'no entries'}")
    return 0 if report.ok else 1
