"""``irpa repair``: complete a cut-off download from a remote copy, fetching
only the bytes it lacks; with ``--manifest`` also fetch again the tensors
whose hashes differ. The engine and its safety rules: ``irpa_core.repair``."""

from __future__ import annotations

import sys

from . import ArgumentParser, CliError
from .progress import with_stderr_bar


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(
        prog=prog,
        description="Complete FILE, a cut-off download, from a remote copy: only the missing bytes are "
        "fetched (from the byte reached). With --manifest, the tensors whose hashes differ from it are "
        "fetched again. The result is built in FILE.irpa-repair and renamed over FILE only when complete "
        "and verified (header equal to the remote's; hashes equal to the manifest's). Interrupted, it "
        "continues where it stopped when run again.",
    )
    p.add_argument("file", metavar="FILE", help="the local file to repair")
    p.add_argument("--from", dest="remote", metavar="URL", required=True, help="the remote copy (https:// or hf://)")
    p.add_argument("--manifest", metavar="MANIFEST", help="a hash manifest (irpa hash, llama-gguf-hash, gguf_hash.py)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def run(args) -> int:
    from ..display import escape, human
    from ..repair import partial_path, repair
    from ..sources import is_remote

    if not is_remote(args.remote):
        raise CliError(f"--from={args.remote}: give the remote copy's https:// URL or hf:// path")
    try:
        result = with_stderr_bar(
            lambda progress: repair(args.file, args.remote, manifest=args.manifest, progress=progress),
            lambda ev: ev.name,  # the phase: copying, fetching, hashing, re-fetching
            args.quiet,
        )
    except KeyboardInterrupt:
        print(f"irpa: interrupted: run the same command again to continue ({escape(partial_path(args.file))} kept)",
              file=sys.stderr)  # fmt: skip
        return 130
    f = escape(result.path)
    fetched = f"fetched {result.fetched:,} bytes ({human(result.fetched)})"
    if not result.changed:
        print(f"{f}: complete and verified: nothing to repair ({fetched} to check the header)")
        return 0
    parts = []
    if result.missing:
        parts.append(f"{result.missing:,} missing bytes")
    if result.refetched:
        parts.append(
            f"{len(result.refetched)} tensor(s) that differed: " + ", ".join(escape(n) for n in result.refetched[:5])
        )
    resumed = f"; continued a run stopped at byte {result.resumed_from:,}" if result.resumed_from is not None else ""
    print(f"{f}: repaired from {escape(result.remote)}: {'; '.join(parts)}; {fetched}{resumed}")
    return 0
