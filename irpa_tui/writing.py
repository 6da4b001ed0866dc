"""What the write dialog says about an output before it is written.

``check_output`` builds the ``Output`` of the session's plan for a format
exactly as ``irpa convert`` does (``output.build``, and ``--alignment`` of a
GGUF as its ``general.alignment`` key: ``output.aligned``), lays it out to know the real file
size, and sums up what the format does to the plan: splats written as data,
casts, metadata it cannot keep. A format that cannot hold the plan gets the
engine's own one-line refusal (naming the tensor and the fix) and nothing
to write (a plan copying a tensor a cut-off file lacks: ``salvage``). A GGUF split into shards (``split``) is checked as
``irpa convert --split-max-...`` splits it: the shard count, the size of
all the files, or the engine's refusal (too many shards). A GGUF whose
tensors disagree with its keys (``check.check_output``: the naive cut of
blocks without ``block_count``) gets the findings as warnings. It runs in a
worker: building the output may read a ``__SHARK_DATASET__`` entry, and
lays out every entry. ``beside`` gives the default path of what is
written (an archive, a plan).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from irpa_core import blocks, check, output
from irpa_core.display import escape, human
from irpa_core.errors import IrpaError
from irpa_core.model import Archive
from irpa_core.output import Output, Split
from irpa_core.plan import Fate, Plan
from irpa_core.salvage import IncompleteError
from irpa_core.sources import is_remote

from .editing import ADDED, DELETED, EDITED, EditSession

if TYPE_CHECKING:
    from irpa_core.output import Format


@dataclass(frozen=True)
class WriteCheck:
    format: Format
    alignment: int | None  # what ``write_archive`` takes (None: the format's own)
    output: Output | None  # None: the format cannot hold the plan
    size: int = 0  # bytes of the file (of all the shards)
    split: Split | None = None  # the GGUF is written as shards (``write_split``)
    shards: int = 0  # how many (0: not split)
    problem: str | None = None
    notes: tuple[str, ...] = ()  # what the format does to the plan
    warnings: tuple[str, ...] = ()  # what it leaves out that a reader may expect


def default_alignment(session: EditSession, fmt: Format) -> int | None:
    """The data alignment a format gets when none is chosen, with the
    session's edited file metadata (``output.default_alignment``)."""
    return output.default_alignment(fmt, session.metadata().edited.values)


def check_output(
    plan: Plan,
    archive: Archive,
    fates: list[Fate],
    fmt: Format,
    alignment: int | None,
    default: int | None,
    split: Split | None = None,
) -> WriteCheck:
    """The output of ``plan`` in ``fmt`` and what to say about it.
    ``alignment``: the one chosen (None or ``default``: the format's own);
    ``split``: a GGUF written as shards."""
    write_alignment = None
    try:
        # As irpa convert --alignment; the format's own one is no choice.
        plan, write_alignment = output.aligned(plan, fmt, None if alignment == default else alignment)
        out = output.build(plan, archive, fmt, fates)
        if split is None:
            size, shards = out.layout(write_alignment).file_size, 0
        else:
            files = out.split(split)
            size, shards = sum(f.layout().file_size for f in files), len(files)
    except IncompleteError as e:  # the engine's refusal, and how to do here what --salvage does
        problem = f"{e}; here: filter !state:complete, then e excludes them"
        return WriteCheck(fmt, write_alignment, None, split=split, problem=problem)
    except (IrpaError, ValueError) as e:
        return WriteCheck(fmt, write_alignment, None, split=split, problem=str(e))
    notes = tuple(_notes(out, size, shards))
    warnings = list(out.warnings())
    report = check.check_output(out, plan, archive, fates)  # a GGUF llama.cpp would refuse: said before it is written
    if report is not None:
        warnings += check.warning_lines(report)
    return WriteCheck(
        fmt, write_alignment, out, size, split=split, shards=shards, notes=notes, warnings=tuple(warnings)
    )


def _notes(out: Output, size: int, shards: int = 0) -> list[str]:
    n = len(out.targets)
    what = f"{n:,} {out.spec.noun}"
    if shards:
        what += f" in {shards:,} shard{'s' if shards != 1 else ''}"
    lines = [f"{out.format}: {what}, {human(size)} ({size:,} bytes)"]
    count, nbytes, zeros = out.expanded()
    if count:
        if zeros == nbytes:
            what = f"{human(nbytes)} of zeros"
        else:
            what = f"{human(nbytes)}: {human(zeros)} of zeros, {human(nbytes - zeros)} of other values"
        lines.append(f"{count:,} splat{'s' if count != 1 else ''} written as data: {what}")
    pairs: dict[str, int] = {}
    for t in out.targets:
        if t.cast is not None:
            key = f"{t.source.dtype_name or '?'} → {t.cast.name}"
            pairs[key] = pairs.get(key, 0) + 1
    if pairs:
        shown = ", ".join(f"{k} ×{v:,}" for k, v in sorted(pairs.items(), key=lambda kv: -kv[1])[:4])
        more = ", …" if len(pairs) > 4 else ""
        lines.append(f"{sum(pairs.values()):,} cast: {shown}{more}")
    return lines


def plan_lines(session: EditSession, limit: int = 3) -> list[str]:
    """The plan in a few lines for the write dialog: what it does to the
    tensors, then its metadata edits, one line per kind (the keys named)."""
    if not session.plan.ops:
        return []
    s = session.summary()
    counts = [(s.kept, "kept"), (s.excluded, "excluded"), (s.renamed, "renamed"), (s.splatted, "splatted")]
    counts.append((s.cast, "cast"))
    out = ["plan: " + ", ".join(f"{n:,} {what}" for n, what in counts if n)]
    for container, removed in session.plan.pruned.items():
        out.append(f"blocks {blocks.format_list(removed)} of {escape(container)}N removed, the rest renumbered")
    if not session.plan.file_ops:
        return out
    state = session.metadata()
    if state.problem:
        return [*out, f"metadata edits do not apply: {state.problem}"]
    for status in (EDITED, ADDED, DELETED):
        keys = [escape(k) for k, s in state.status.items() if s == status]
        if keys:
            shown = ", ".join(keys[:limit]) + (f" and {len(keys) - limit:,} more" if len(keys) > limit else "")
            out.append(f"metadata {status}: {shown}")
    return out


def beside(archive: Archive, suffix: str) -> str:
    """A default output path: beside the first input file, or in the current
    directory for a remote one (named after the remote file)."""
    first = archive.files[0].path
    if is_remote(first):
        from urllib.parse import unquote, urlsplit

        d = os.getcwd()
        base = os.path.basename(unquote(urlsplit(first).path.rstrip("/"))) or "remote"
    else:
        d, base = os.path.split(first)
    stem = base.split("-00001-of-")[0].rsplit(".", 1)[0] if "." in base else base
    return os.path.join(d, stem + suffix)
