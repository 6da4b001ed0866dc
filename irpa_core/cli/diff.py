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
    p.add_argument(
        "--map",
        metavar="MODE",
        help="pair tensors across naming schemes and give quantization-aware verdicts: 'auto' "
        "(same names, then Hugging Face <-> GGUF through the gguf package's tables), 'identity', "
        "or FILE.json (an object of A names -> B names, globs allowed)",
    )
    p.add_argument(
        "--by-layer",
        action="store_true",
        help="with verdicts: rel_rmse per block and tensor role (where the error or a finetune's change is)",
    )
    p.add_argument("--strict", action="store_true", help="with verdicts: tensors left unpaired fail the run")
    p.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="with verdicts: worker processes comparing values (default: one per core, at most 8; "
        "results are the same)",
    )
    p.add_argument("--all", action="store_true", help="list identical entries too")
    p.add_argument("--json", action="store_true")
    return p


def run(args) -> int:
    from .. import open_archive
    from ..diff import IDENTICAL, diff
    from ..display import escape
    from ..plan import Plan

    if args.map is not None or args.by_layer or args.strict:
        from ..errors import IrpaError

        try:
            return _run_mapped(args)
        except IrpaError as e:  # 2 on error, as diff(1): 1 means "different"
            from ..display import escape

            print(f"irpa: error: {escape(str(e))}", file=sys.stderr)
            return 2
    if args.jobs is not None:
        raise CliError("--jobs applies with --map (a by-name diff compares bytes, as fast as it reads them)")
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


def _run_mapped(args) -> int:
    """Verdict mode: pairs across schemes, quantization-aware verdicts."""
    from .. import open_archive
    from ..display import escape
    from ..verdict import IDENTICAL, mapped_diff

    if args.rename:
        raise CliError("--rename and --map cannot be combined: put the renames in a --map FILE.json")
    if args.atol or args.rtol:
        raise CliError("--atol/--rtol do not apply with --map: verdicts use each type's noise envelope")
    if args.jobs is not None and args.jobs < 1:
        raise CliError("--jobs must be at least 1")
    workers = args.jobs or min(os.cpu_count() or 1, 8)
    report = mapped_diff(
        open_archive(args.a), open_archive(args.b), args.map or "identity", strict=args.strict, workers=workers
    )
    if args.json:
        json.dump(report.to_json(by_layer=args.by_layer), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0 if report.ok else 1
    for note in report.notes:
        print(f"note: {escape(note)}")
    for p in report.pairs:
        if p.verdict == IDENTICAL and not args.all:
            continue
        names = escape(p.a) if p.a == p.b else f"{escape(p.a)} -> {escape(p.b)}"
        types = p.dtype_a if p.dtype_a == p.dtype_b else f"{p.dtype_a} -> {p.dtype_b}"
        print(f"{p.verdict:<18} {names}  {types}")
        if p.transform:
            src = p.transform.get("source")
            if p.transform["kind"] == "fused":
                inner = ", ".join(f"{t['kind']} on {t['part']}" for t in p.transform["applied"])
                text = "fused: A's parts stacked in B's rows, in order" + (f" ({inner})" if inner else "")
            else:
                text = p.transform.get("text") or f"{p.transform['kind']} applied" + (f" ({src})" if src else "")
            print(" " * 19 + escape(text))
        if p.metrics:
            line = p.metrics.text()
            if p.worst is not None and p.metrics.max_abs:
                ia = list(p.worst.index_a) if p.worst.index_a is not None else p.worst.flat_a
                ib = list(p.worst.index_b) if p.worst.index_b is not None else p.worst.flat_b
                at = f"A{ia}" if ia == ib else f"A{ia} B{ib}"
                line += f" worst at {at} (A {p.worst.a:.6g}, B {p.worst.b:.6g})"
            print(" " * 19 + line)
        for note in p.notes:
            print(" " * 19 + escape(note))
    for side, items in (("only in A", report.only_a), ("only in B", report.only_b)):
        for name, reason in items:
            print(f"{side:<18} {escape(name)}  ({escape(reason)})")
    if args.by_layer:
        _print_by_layer(report.by_layer())
    counts = ", ".join(f"{n} {v}" for v, n in report.counts().items() if n)
    unpaired = f"; {len(report.only_a)} only in A, {len(report.only_b)} only in B"
    verdict = "ok" if report.ok else "different"
    print(f"{verdict}: {len(report.pairs)} pairs ({counts or 'none'}){unpaired}")
    return 0 if report.ok else 1


def _print_by_layer(table: dict) -> None:
    from ..display import escape

    if not table["blocks"]:
        print("by layer: no numbered blocks")
        return
    from ..layer_chart import roles_that_differ

    roles = roles_that_differ(table)
    same = len(table["roles"]) - len(roles)
    print(
        "by layer: rel_rmse (%) per block and role" + (f" ({same} roles equal in every block left out)" if same else "")
    )
    width = max([9, *(len(r) for r in roles)])
    print("block".rjust(5) + "  " + "all".rjust(9) + "".join("  " + escape(r).rjust(width) for r in roles))

    def cell(v) -> str:
        return "-" if v is None else v if isinstance(v, str) else f"{100 * v:.4f}"

    for row in table["blocks"]:
        line = str(row["block"]).rjust(5) + "  " + cell(row["rel_rmse"]).rjust(9)
        line += "".join("  " + cell(row["roles"].get(r)).rjust(width) for r in roles)
        print(line)
