"""``irpa verify``: check an output against its sources under the same edit
flags as ``irpa convert`` (change the verb of a convert command line)."""

from __future__ import annotations

import json
import os
import sys

from . import ArgumentParser, CliError
from .args import add_convert_flags, aligned_for, bool_flag, plan_from_args
from .convert import strict_check


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(
        prog=prog,
        description="Check that OUTPUT (.irpa, .gguf or .safetensors) holds exactly what the edits applied "
        "to the sources give: names, kinds, dtypes and shapes, bytes (cast values included), splat "
        "patterns, file metadata.",
    )
    p.add_argument("target", nargs="?", metavar="OUTPUT", help="the archive to check (or --output)")
    add_convert_flags(p, output_ignored=True)
    bool_flag(p, "--quiet", "print nothing; the exit code says it all")
    bool_flag(p, "--strict", "an edit that matches no parameter is an error (as in convert)")
    p.add_argument("--all", action="store_true", help="list every entry, not only problems")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def run(args) -> int:
    from .. import open_archive
    from ..display import escape
    from ..output import format_of
    from ..verify import verify

    target = args.target or args.output
    if not target:
        raise CliError("no archive to check (irpa verify --parameters=SRC... OUTPUT)")
    if args.target and args.output and args.target != args.output:
        raise CliError("give the archive to check once (OUTPUT or --output)")
    if not args.parameters:
        raise CliError("no sources given (--parameters=FILE)")
    if (args.split_max_size or args.split_max_tensors) and not os.path.exists(target):
        target = first_shard(target)
    sources, output = open_archive(*args.parameters), open_archive(target)
    fmt = format_of(output)
    plan = plan_from_args(args, sources, fmt)
    if args.strict:
        strict_check(plan, sources)
    report = verify(sources, aligned_for(args, plan, fmt)[0], output)
    if args.json:
        json.dump(report.to_json(args.all), sys.stdout, indent=1)
        sys.stdout.write("\n")
    elif not args.quiet:
        for c in report.checks:
            if args.all or not c.ok:
                print(f"{c.status:<16} {escape(c.name)}" + (f"  ({escape(c.detail)})" if c.detail else ""))
                if c.difference is not None:
                    # The summary is in the detail; then the file offsets and the two values.
                    files = (os.path.basename(_file_of(sources, c.source)), os.path.basename(target))
                    for line in c.difference.lines("expected", "written", *files)[1:]:
                        print(" " * 17 + line)
        print(report.summary())
    return 0 if report.ok else 1


def first_shard(output: str) -> str:
    """The first shard of the split set that ``convert --output=OUTPUT
    --split-...`` wrote (``DIR/model.gguf``: ``DIR/model-00001-of-N.gguf``)."""
    import glob

    from ..shards import shard_paths

    prefix = shard_paths(output, 1)[0][: -len("-00001-of-00001.gguf")]
    found = sorted(glob.glob(glob.escape(prefix) + "-00001-of-[0-9][0-9][0-9][0-9][0-9].gguf"))
    if not found:
        raise CliError(f"{output}: no split set written there ({os.path.basename(prefix)}-00001-of-N.gguf)")
    if len(found) > 1:
        names = ", ".join(os.path.basename(f) for f in found)
        raise CliError(f"{output}: {len(found)} split sets written there ({names}): give the first shard as OUTPUT")
    return found[0]


def _file_of(sources, name: str | None) -> str:
    e = sources.by_name.get(name) if name is not None else None
    return e.file if e is not None else ""
