"""``irpa convert``: the flags of ``iree-convert-parameters``, and more.

Reference flags: ``--parameters=FILE`` (repeatable, ``scope=FILE``),
``--exclude=NAME``, ``--rename=OLD=NEW``, ``--strip``, ``--splat=NAME`` /
``--splat=NAME=TYPE=VALUE``, ``--output=FILE``, ``--quiet``; both
``--flag=value`` and ``--flag value``. Ours on top: shell globs in names
(``blk.*.ffn_*``), ``--keep=NAME`` (stays data even with ``--strip``),
``--plan FILE`` / ``--save-plan FILE``, ``--alignment N``, the output format
(``.irpa``, ``.gguf``, ``.safetensors`` or ``--format``), ``--cast``, and
the metadata flags (``--set-metadata``, ``--set-metadata-file``,
``--unset-metadata``, ``--no-metadata``), block pruning (``--prune-blocks``,
``--keep-blocks``, as llama-quantize --prune-layers, with a config.json
beside a safetensors output), and a split GGUF output
(``--split-max-size``, ``--split-max-tensors``, as llama.cpp's gguf-split). A name holding ``=`` is written
with ``\\=`` (the reference cannot address it at all).
"""

from __future__ import annotations

import sys

from ..errors import PlanError
from . import ArgumentParser, CliError
from .args import (
    add_convert_flags,
    aligned_for,
    bool_flag,
    escape_hint,
    output_format,
    plan_with_hints,
    split_of,
    warn_if_truncated,
)


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(
        prog=prog,
        description="Write a new .irpa, .gguf or .safetensors from one or more parameter files, with edits. "
        "Flags are those of iree-convert-parameters, and more.",
        epilog="File metadata comes from the first input that has any (GGUF key/values, safetensors "
        "__metadata__, an .irpa's __SHARK_DATASET__ entry) and is kept in every output format: GGUF "
        "key/values with their types, an .irpa's __SHARK_DATASET__ entry (sharktank's JSON, GGUF types "
        "kept, so .gguf -> .irpa -> .gguf gives back every key), safetensors __metadata__ (string values "
        "only). GGUF and safetensors have no splats: splats are written as data there. A split .gguf "
        "(--split-max-size, --split-max-tensors) is written as llama.cpp's gguf-split writes it: every "
        "key/value in the first shard, split.no/split.count/split.tensors.count in each; all shards or none.",
    )
    p.add_argument("inputs", nargs="*", metavar="FILE", help="input files (same as --parameters)")
    add_convert_flags(p)
    bool_flag(p, "--quiet", "no progress bar and no listing of the result")
    bool_flag(p, "--strict", "an edit that matches no parameter is an error (exit 1, nothing written)")
    bool_flag(
        p,
        "--salvage",
        "from a cut-off input (a truncated download), write only the complete tensors and say how many "
        "were left out; without it, copying a partial or missing tensor is an error naming it",
    )
    return p


def strict_check(plan, archive) -> None:
    """--strict: edits that match no parameter are an error, not a warning."""
    unmatched = plan.unmatched(archive)
    if unmatched:
        ops = ", ".join(op.describe() for op in unmatched)
        raise PlanError(None, f"--strict: {len(unmatched)} edit(s) match no parameter ({ops}); nothing written")


def run(args) -> int:
    from .. import open_archive
    from ..display import escape
    from ..output import build
    from ..splat import splat_warnings

    inputs = [*args.parameters, *args.inputs]
    if not inputs:
        raise CliError("no input given (--parameters=FILE)")
    if not args.output:
        raise CliError("no output given (--output=FILE.irpa, .gguf or .safetensors)")
    fmt = output_format(args)
    split = split_of(args, fmt)
    archive = open_archive(*inputs)
    warn_if_truncated(archive)
    plan = plan_with_hints(args, archive, fmt)
    for op in plan.unmatched(archive):
        print(
            f"irpa: warning: {op.describe()}: no parameter matches{escape_hint(op.pattern, archive)}", file=sys.stderr
        )
    if args.strict:
        strict_check(plan, archive)
    aligned_plan, alignment = aligned_for(args, plan, fmt)
    out = build(aligned_plan, archive, fmt, salvage=args.salvage)
    warn_about_metadata(out)
    # A GGUF llama.cpp would refuse (the naive cut of blocks, say): said
    # before it is written, as the TUI's write dialog says it. Written all
    # the same: a broken file can be what a reproducer is for.
    from ..formats import registry

    if registry.get(fmt).expected_keys:  # a format whose keys a runtime checks (a plain copy imports less)
        from .. import check

        report = check.check_output(out, aligned_plan, archive)
        for line in check.warning_lines(report) if report is not None else ():
            print(f"irpa: warning: {escape(line)}", file=sys.stderr)
    for line in splat_warnings(plan.splats(archive)):
        print(f"irpa: warning: {escape(line)}", file=sys.stderr)
    if args.save_plan:
        try:
            plan.save(args.save_plan)
        except OSError as e:
            raise PlanError(None, f"{args.save_plan}: cannot save plan: {e.strerror}") from None
    if args.quiet:
        write_output(out, args.output, alignment, split, fsync=not args.no_fsync)
        return 0
    result = _write_with_progress(out, args.output, alignment, not args.no_fsync, split)
    from .dump import format_table

    sys.stdout.write(format_table(open_archive(result.path)))
    print(describe_result(result))
    fetched = fetch_summary(archive)
    if fetched:
        print(fetched)
    return 0


def write_output(out, output, alignment, split, *, progress=None, fsync=True):
    """``out`` written as one file, or as the shards of ``split``."""
    from ..write import write_archive, write_split

    if split is not None:
        return write_split(out, output, split, progress=progress, fsync=fsync)
    return write_archive(out, output, alignment=alignment, progress=progress, fsync=fsync)


def describe_result(result) -> str:
    from ..display import plural

    def counts(entries: int, size: int) -> str:
        return f"{plural(entries, 'entry', 'entries', fmt='')}, {plural(size, 'byte', fmt='')}"

    r = result
    if not r.shards:
        return f"wrote {r.path} ({r.format}): {counts(r.entries, r.bytes)} in {r.seconds:.2f} s"
    lines = [f"wrote {s.path} ({s.format}): {counts(s.entries, s.bytes)}" for s in r.shards]
    lines.append(f"{plural(len(r.shards), 'shard')}: {counts(r.entries, r.bytes)} in {r.seconds:.2f} s")
    return "\n".join(lines)


def fetch_summary(archive) -> str:
    """What reading the remote inputs cost, headers included (empty when
    every input is local)."""
    from ..display import human, plural

    remote = [s for s in archive.sources if s.remote]
    if not remote:
        return ""
    fetched = sum(s.bytes_fetched for s in remote)
    requests = sum(s.requests for s in remote)
    files = plural(len(remote), "remote file")
    return f"fetched {plural(fetched, 'byte', fmt='')} ({human(fetched)}) in {plural(requests, 'request')} from {files}"


def warn_about_metadata(out) -> None:
    """What the output leaves out or lacks that a reader may expect."""
    from ..display import escape

    for line in out.warnings():
        print(f"irpa: warning: {escape(line)}", file=sys.stderr)


def _write_with_progress(out, output, alignment, fsync=True, split=None):
    from .progress import bar_name, byte_bar

    total = out.data_bytes
    with byte_bar("writing", total) as update:

        def on_progress(ev):
            shard = f"shard {ev.shard + 1}/{ev.shards} " if split is not None else ""
            update(ev.bytes_done, description=f"{shard}{ev.index + 1}/{ev.count} {bar_name(ev.name)}")

        result = write_output(out, output, alignment, split, progress=on_progress, fsync=fsync)
        update(total or 1)
    return result
