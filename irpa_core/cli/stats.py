"""``irpa stats``: statistics of tensors, as a table or JSON."""

from __future__ import annotations

import fnmatch
import json
import sys

from ..display import num
from . import ArgumentParser, CliError
from .args import add_files_flags, input_paths, repeatable


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(
        prog=prog,
        description="Statistics of tensors: min, max, mean, std, zeros, NaN/Inf, "
        "percentiles and a histogram, in one streaming pass each.",
    )
    add_files_flags(p, "to read")
    repeatable(p, "--name", "NAME_OR_GLOB", "only these parameters (repeatable; default all)")
    viewed = "view entries without a dtype (raw irpa) as this dtype (f32, bf16, i8, Q8_0...)"
    p.add_argument("--as", dest="as_dtype", metavar="DTYPE", help=viewed)
    p.add_argument("--sample", action="store_true", help="quick estimate from a sample instead of the exact pass")
    p.add_argument("--bins", type=int, default=64, help="histogram bins (default 64)")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def run(args) -> int:
    from .. import dtypes, open_archive
    from .. import stats as S

    paths = input_paths(args, "stats")
    as_dtype = None
    if args.as_dtype:
        as_dtype = dtypes.by_name(args.as_dtype) or dtypes.from_iree(args.as_dtype)
        if as_dtype is None:
            raise CliError(f"--as={args.as_dtype}: unknown dtype")
    if args.bins < 1:
        raise CliError("--bins must be at least 1")
    archive = open_archive(*paths)
    entries = [e for e in archive.entries if not args.name or any(fnmatch.fnmatchcase(e.name, n) for n in args.name)]
    if args.name and not entries:
        raise CliError(f"no parameter matches {', '.join(args.name)}")
    results, skipped = [], []
    for e in entries:
        view = as_dtype if (e.dtype is None or e.dtype.kind == "raw") else None
        if not S.can_decode(e, view):
            skipped.append(e)
            continue
        fn = S.sample_stats if args.sample else S.compute_stats
        results.append((e, fn(e, as_dtype=view, bins=args.bins)))
    if args.json:
        doc = {
            "entries": [{"name": e.name, **st.to_json()} for e, st in results],
            "skipped": [{"name": e.name, "dtype": e.dtype_name, "reason": "cannot decode"} for e in skipped],
        }
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    _print_table(results, skipped)
    return 0


def _print_table(results, skipped) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(box=None, header_style="bold")
    for col in ("name", "dtype", "count", "min", "max", "mean", "std", "zeros %", "nan", "inf", "p1", "p50", "p99"):
        if col == "name":
            t.add_column(col, min_width=12, overflow="fold")
        else:
            t.add_column(col, justify="left" if col == "dtype" else "right", no_wrap=True)
    for e, st in results:
        t.add_row(
            e.name,
            st.dtype + ("" if st.exact else "~"),
            str(st.count),
            num(st.min),
            num(st.max),
            num(st.mean),
            num(st.std),
            f"{st.sparsity:.1f}",
            str(st.nans),
            str(st.infs),
            num(st.percentiles["1"]),
            num(st.percentiles["50"]),
            num(st.percentiles["99"]),
        )
    # Piped output keeps every column rather than squeezing to 80.
    con = Console(width=None if sys.stdout.isatty() else 200)
    con.print(t)
    if results:
        con.print(
            f"[dim]percentiles exact to a relative {results[0][1].percentile_error:.2g}; "
            "~ marks sampled estimates[/dim]"
        )
    for e in skipped:
        con.print(
            f"[yellow]skipped[/yellow] {e.name}: dtype {e.dtype_name or 'unknown'} cannot be decoded"
            + ("" if e.dtype else " (use --as DTYPE)")
        )
