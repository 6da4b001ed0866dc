"""``irpa hash``: per-tensor and whole-model hashes in the manifest format of
llama.cpp's ``llama-gguf-hash`` (and the ``gguf`` package's ``gguf_hash.py``),
for every format we read; ``--check MANIFEST`` verifies a file against one.
The rules (what a tensor is per format, line order) are in
``irpa_core.hashing``."""

from __future__ import annotations

import sys

from . import ArgumentParser, CliError, print_json
from .progress import bar_name, with_stderr_bar


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(
        prog=prog,
        description="Hash each tensor's data and all tensor data of FILE (.gguf, .safetensors, .irpa; a URL, "
        "an hf:// path, the first shard of a split set), printed as llama-gguf-hash prints it: "
        "'ALGO  HEX  FILE:TENSOR' lines, then 'ALGO  HEX  FILE'. Default: xxh64, as llama-gguf-hash. "
        "'--sha1 --sha256 --uuid' prints what gguf_hash.py prints. With --check MANIFEST, compare FILE "
        "with a manifest (theirs or ours): every tensor that differs, is missing or is extra is named; "
        "exit 0 when all match, 1 otherwise.",
    )
    p.add_argument("file", metavar="FILE", help="the file to hash")
    p.add_argument("--xxh64", action="store_true", help="use xxh64 (the default)")
    p.add_argument("--xxh3", action="store_true", help="use xxh3 (64 bits)")
    p.add_argument("--sha1", action="store_true", help="use sha1")
    p.add_argument("--sha256", action="store_true", help="use sha256")
    p.add_argument("--all", action="store_true", help="use xxh64, xxh3, sha1 and sha256 (as llama-gguf-hash)")
    p.add_argument("--uuid", action="store_true", help="add the UUIDv5 of all tensor data")
    p.add_argument("--no-layer", action="store_true", help="no per-tensor lines: whole-model lines only")
    p.add_argument("-c", "--check", metavar="MANIFEST", help="verify FILE against MANIFEST")
    p.add_argument("--json", action="store_true", help="print the hashes (or the check) as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar; with --check print nothing")
    return p


def _chosen(args) -> list[str]:
    from ..hashing import ALGORITHMS, UUID

    algos = list(ALGORITHMS) if args.all else [a for a in ALGORITHMS if getattr(args, a)]
    return algos + ([UUID] if args.uuid else [])


def run(args) -> int:
    from ..hashing import DEFAULT, UUID, check, check_algorithms, hash_files, read_manifest

    chosen = _chosen(args)
    manifest = None
    if args.check is not None:
        if args.no_layer:
            raise CliError("--no-layer and --check: a check compares every tensor the manifest lists")
        manifest = read_manifest(args.check)
        chosen = check_algorithms(manifest, chosen)
    elif not [a for a in chosen if a != UUID]:
        chosen = [*DEFAULT, *chosen]
    algos = [a for a in chosen if a != UUID]
    files = with_stderr_bar(
        lambda progress: hash_files(args.file, algos, layers=not args.no_layer, uuid=UUID in chosen, progress=progress),
        lambda ev: f"hashing {bar_name(ev.name)}",
        args.quiet,
    )
    if manifest is None:
        if args.json:
            print_json([_file_json(fh) for fh in files])
        else:
            sys.stdout.write("".join(line + "\n" for fh in files for line in fh.lines()))
        _note_skipped([s for fh in files for s in fh.skipped])
        _note_incomplete(files)
        return 0
    report = check(files, manifest)
    if args.json:
        print_json(_report_json(report))
    elif not args.quiet:
        _print_report(report, args.file)
    return 0 if report.ok else 1


def _note_skipped(names: list[str]) -> None:
    if names:
        from ..display import plural

        print(f"irpa: note: {plural(len(names), 'splat entry', 'splat entries')} not hashed (no bytes in the file)",
              file=sys.stderr)  # fmt: skip


def _note_incomplete(files) -> None:
    """A cut-off file: which tensors were not hashed, and why there are no
    whole-model lines."""
    from ..display import escape, plural

    for fh in files:
        if fh.incomplete:
            first, state = fh.incomplete[0]
            n = plural(len(fh.incomplete), "incomplete tensor", "incomplete tensors")
            print(f"irpa: warning: {escape(fh.file)}: the file is cut off: {n} not hashed (first: "
                  f"'{escape(first)}', {state}) and no whole-file hash", file=sys.stderr)  # fmt: skip


def _file_json(fh) -> dict:
    return {
        "file": fh.file,
        "tensors": [{"name": n, **d} for n, d in fh.tensors],
        "model": fh.model,
        "skipped": list(fh.skipped),
        "incomplete": [{"name": n, "state": st} for n, st in fh.incomplete],
    }


def _report_json(report) -> dict:
    return {
        "ok": report.ok,
        "manifest": report.manifest,
        "algorithms": list(report.algorithms),
        "tensors_checked": report.tensors_checked,
        "models_checked": report.models_checked,
        "problems": [
            {"kind": p.kind, "file": p.file, "tensor": p.tensor, "algorithm": p.algorithm} for p in report.problems
        ],
        "skipped": list(report.skipped),
    }


_SAY = {
    "missing": "in the manifest, not in the file",
    "extra": "in the file, not in the manifest",
    "no-file": "the manifest lists it; no such file here",
    "unlisted-file": "not in the manifest",
}


def _print_report(report, spec: str) -> None:
    from ..display import escape, plural

    for p in report.problems:
        what = escape(p.tensor) if p.tensor is not None else f"{escape(p.file)} (all tensor data)"
        if p.kind == "incomplete":
            say = f"{p.algorithm}: the file is cut off"
        else:
            say = p.algorithm if p.kind == "differs" else _SAY[p.kind]
        print(f"{p.kind:<8}  {what}  ({say})")
    algos = ", ".join(report.algorithms)
    where = f"{escape(spec)} against {escape(report.manifest)} ({algos})"
    if report.ok:
        also = " and the whole file" if report.models_checked else ""
        print(f"OK: {where}: {plural(report.tensors_checked, 'tensor')}{also} match")
    elif not report.problems:
        print(f"FAILED: {where}: the manifest lists nothing this file holds")
    else:
        n = sum(1 for p in report.problems if p.kind == "differs" and p.tensor is not None)
        counts = [f"{plural(n, 'tensor differs', 'tensors differ')}"] if n else []
        counts += [f"{report.count(k):,} {k}" for k in ("incomplete", "missing", "extra") if report.count(k)]
        if not counts and any(p.kind == "differs" for p in report.problems):
            counts.append("the whole-file hash differs")
        files = report.count("no-file") + report.count("unlisted-file")
        if files:
            counts.append(plural(files, "file", "files") + " unmatched")
        print(f"FAILED: {where}: {', '.join(counts)}")
    if report.skipped:
        print(f"note: {plural(len(report.skipped), 'splat entry', 'splat entries')} not hashed (no bytes in the file)")
