"""``irpa convert``: the flags of ``iree-convert-parameters``, and more.

Reference flags: ``--parameters=FILE`` (repeatable, ``scope=FILE``),
``--exclude=NAME``, ``--rename=OLD=NEW``, ``--strip``, ``--splat=NAME`` /
``--splat=NAME=TYPE=VALUE``, ``--output=FILE``, ``--quiet``; both
``--flag=value`` and ``--flag value``. Ours on top: shell globs in names
(``blk.*.ffn_*``), ``--keep=NAME`` (stays data even with ``--strip``),
``--plan FILE`` / ``--save-plan FILE``, ``--alignment N``. A name holding
``=`` is written with ``\\=`` (the reference cannot address it at all).
"""

from __future__ import annotations

import sys

from ..errors import PlanError
from . import ArgumentParser, CliError
from .args import add_convert_flags, bool_flag, escape_hint, plan_with_hints


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(
        prog=prog,
        description="Write a new .irpa from one or more parameter files, with edits. "
        "Flags are those of iree-convert-parameters.",
    )
    p.add_argument("inputs", nargs="*", metavar="FILE", help="input files (same as --parameters)")
    add_convert_flags(p)
    bool_flag(p, "--quiet", "no progress bar and no listing of the result")
    return p


def run(args) -> int:
    from .. import open_archive
    from ..write import write_archive

    inputs = [*args.parameters, *args.inputs]
    if not inputs:
        raise CliError("no input given (--parameters=FILE)")
    if not args.output:
        raise CliError("no output given (--output=FILE.irpa)")
    archive = open_archive(*inputs)
    plan = plan_with_hints(args, archive)
    for op in plan.unmatched(archive):
        print(
            f"irpa: warning: {op.describe()}: no parameter matches{escape_hint(op.pattern, archive)}", file=sys.stderr
        )
    targets = plan.apply(archive)
    if args.save_plan:
        try:
            plan.save(args.save_plan)
        except OSError as e:
            raise PlanError(None, f"{args.save_plan}: cannot save plan: {e.strerror}") from None
    if args.quiet:
        write_archive(targets, args.output, alignment=args.alignment, fsync=not args.no_fsync)
        return 0
    result = _write_with_progress(targets, args.output, args.alignment, not args.no_fsync)
    from .dump import format_table

    sys.stdout.write(format_table(open_archive(args.output)))
    print(f"wrote {result.path}: {result.entries} entries, {result.bytes} bytes in {result.seconds:.2f} s")
    return 0


def _write_with_progress(targets, output, alignment, fsync=True):
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from ..write import write_archive

    total = sum(t.length for t in targets if t.kind == "data")
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("writing", total=total or 1)

        def on_progress(ev):
            bar.update(task, completed=ev.bytes_done, description=f"{ev.index + 1}/{ev.count} {ev.name[:40]}")

        result = write_archive(targets, output, alignment=alignment, progress=on_progress, fsync=fsync)
        bar.update(task, completed=total or 1)
    return result
