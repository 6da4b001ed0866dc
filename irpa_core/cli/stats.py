"""``irpa stats``: statistics of tensors, as a table or JSON."""

from __future__ import annotations

import fnmatch
import sys

from ..display import escape, num, plural
from ..model import COMPLETE, entry_state, incomplete_detail, require_complete
from . import ArgumentParser, CliError, print_json
from .args import add_files_flags, input_paths, repeatable, warn_if_truncated


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
    p.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="threads for the exact pass (default: one per core, up to 8; results are the same)",
    )
    p.add_argument(
        "--anomalies",
        action="store_true",
        help="list only what looks wrong: NaN/Inf, all-zero, constant (splat candidates), "
        "std far from its siblings in other blocks",
    )
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
    if args.jobs is not None and args.jobs < 1:
        raise CliError("--jobs must be at least 1")
    archive = open_archive(*paths)
    entries = [e for e in archive.entries if not args.name or any(fnmatch.fnmatchcase(e.name, n) for n in args.name)]
    if args.name and not entries:
        raise CliError(f"no parameter matches {', '.join(args.name)}")
    if args.anomalies and args.sample:
        raise CliError("--anomalies needs the exact pass (leave out --sample)")
    warn_if_truncated(archive)
    # From a cut-off file, the complete tensors are computed and the rest
    # listed as skipped with their state.
    cut = [e for e in entries if entry_state(e) != COMPLETE] if archive.truncated else []
    if cut:
        gone = {id(e) for e in cut}
        entries = [e for e in entries if id(e) not in gone]
        if args.name and not entries:  # asked for nothing but incomplete tensors: say why, exit 1
            require_complete(cut[0])
    results, skipped = [], []
    if args.sample:
        for e in entries:
            view = as_dtype if (e.dtype is None or e.dtype.kind == "raw") else None
            if S.can_decode(e, view):
                results.append((e, S.sample_stats(e, as_dtype=view, bins=args.bins)))
            else:
                skipped.append(e)
    else:
        # Entries with their own dtype, then raw ones viewed --as: one pass
        # each through a shared pool (small tensors keep both cores busy).
        typed = [e for e in entries if e.dtype is not None and e.dtype.kind != "raw"]
        raw = [e for e in entries if e.dtype is None or e.dtype.kind == "raw"]
        order = {id(e): k for k, e in enumerate(entries)}
        for group, view in ((typed, None), (raw, as_dtype)):
            for e, st in S.stats_many(group, as_dtype=view, bins=args.bins, threads=args.jobs):
                if isinstance(st, Exception):
                    skipped.append(e)
                else:
                    results.append((e, st))
        results.sort(key=lambda r: order[id(r[0])])
        skipped.sort(key=lambda e: order[id(e)])
    if args.anomalies:
        return _anomalies(archive, results, skipped, cut, args.json)
    if args.json:
        doc = {
            "entries": [{"name": e.name, **st.to_json()} for e, st in results],
            "skipped": _skipped_json(skipped, cut),
        }
        print_json(doc)
        return 0
    _print_table(results, skipped, cut)
    return 0


def _skipped_json(skipped, cut) -> list[dict]:
    out = [{"name": e.name, "dtype": e.dtype_name, "reason": "cannot decode"} for e in skipped]
    for e in cut:
        out.append({"name": e.name, "dtype": e.dtype_name, "reason": entry_state(e), "state": entry_state(e)})
    return out


def _anomalies(archive, results, skipped, cut, as_json: bool) -> int:
    from ..scan import Row, anomalies

    index = {id(e): i for i, e in enumerate(archive.entries)}
    rows = {index[id(e)]: Row.of(st) for e, st in results}
    flags = anomalies(archive.entries, rows)
    if as_json:
        doc = {
            "scanned": len(results),
            "flagged": [
                {"name": archive.entries[i].name, "flags": [f.to_json() for f in fs]} for i, fs in flags.items()
            ],
            "skipped": _skipped_json(skipped, cut),
        }
        print_json(doc)
        return 0
    from rich.table import Table
    from rich.text import Text

    con = _console()
    if flags:
        t = Table(box=None, header_style="bold")
        t.add_column("name", overflow="fold")
        t.add_column("flag", no_wrap=True)
        t.add_column("detail", overflow="fold")
        for i, fs in flags.items():
            for k, f in enumerate(fs):
                t.add_row(
                    Text(escape(archive.entries[i].name) if k == 0 else ""),
                    Text(f.kind, style="yellow"),
                    Text(escape(f.text)),
                )
        con.print(t)
    n = sum(len(fs) for fs in flags.values())
    con.print(
        Text(
            f"{plural(n, 'anomaly', 'anomalies')} in {len(flags):,} of {plural(len(results), 'tensor')} scanned"
            if n
            else f"no anomalies in {plural(len(results), 'tensor')} scanned"
        )
    )
    _print_skipped(con, skipped, cut)
    return 0


def _console():
    from rich.console import Console

    # Piped output keeps every column rather than squeezing to 80.
    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


def _print_skipped(con, skipped, cut=()) -> None:
    from rich.text import Text

    for e in cut:
        con.print(Text.assemble(("skipped", "yellow"), f" {escape(e.name)}: {entry_state(e)}, {incomplete_detail(e)}"))
    for e in skipped:
        con.print(
            Text.assemble(
                ("skipped", "yellow"),
                f" {escape(e.name)}: dtype {escape(e.dtype_name or 'unknown')} cannot be decoded",
                "" if e.dtype else " (use --as DTYPE)",
            )
        )


def _print_table(results, skipped, cut) -> None:
    from rich.table import Table
    from rich.text import Text

    t = Table(box=None, header_style="bold")
    for col in ("name", "dtype", "count", "min", "max", "mean", "std", "zeros %", "nan", "inf", "p1", "p50", "p99"):
        if col == "name":
            t.add_column(col, min_width=12, overflow="fold")
        else:
            t.add_column(col, justify="left" if col == "dtype" else "right", no_wrap=True)
    for e, st in results:
        cells = (
            escape(e.name),
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
        # Text cells: no markup or emoji to look for (a sixth of the
        # time gemma's 236 rows took).
        t.add_row(*map(Text, cells))
    con = _console()
    con.print(t)
    if results:
        if all(st.percentiles_exact for _, st in results):
            note = "percentiles exact (value of rank p(n-1)/100)"
        else:
            err = max(st.percentile_error for _, st in results)
            note = f"percentiles exact for integer, bool, f16, bf16 and 8-bit floats, else within a relative {err:.2g}"
        con.print(Text(note + "; ~ marks sampled estimates", style="dim"))
    _print_skipped(con, skipped, cut)
