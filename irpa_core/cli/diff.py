"""``irpa diff A B``: compare two archives by name, bytes and values."""

from __future__ import annotations

import json
import sys

from . import ArgumentParser, CliError
from .args import repeatable, split_unescaped


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(
        prog=prog,
        description="Compare two archives by name: only in A / only in B, kind, "
        "dtype and shape changes, identical bytes, and value error "
        "figures for tensors that differ.",
    )
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    repeatable(p, "--rename", "OLD=NEW", "A's OLD is B's NEW (globs: 'blk.*=layers.*')")
    p.add_argument("--all", action="store_true", help="list identical entries too")
    p.add_argument("--json", action="store_true")
    return p


def run(args) -> int:
    from .. import open_archive
    from ..diff import IDENTICAL, diff
    from ..plan import Plan

    plan = Plan()
    for spec in args.rename:
        old, new = split_unescaped(spec)
        if not new:
            raise CliError(f"--rename={spec}: expected OLD=NEW")
        plan = plan.rename(old, new)
    report = diff(open_archive(args.a), open_archive(args.b), rename=plan)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        for p in report.pairs:
            if p.status == IDENTICAL and not args.all:
                continue
            line = f"{p.status:<14} {p.name}"
            if p.notes:
                line += "  " + ", ".join(p.notes)
            if p.metrics:
                m = p.metrics
                line += f"  max|d|={m.max_abs:.4g} mean|d|={m.mean_abs:.4g} relL2={m.rel_l2:.4g} cos={m.cosine:.6f}"
            print(line)
        parts = ", ".join(f"{n} {s}" for s, n in report.counts.items() if n)
        print(("identical" if report.identical else "different") + f": {parts or 'no entries'}")
    return 0 if report.identical else 1
