"""``irpa dump``: list parameters like ``iree-dump-parameters``, plus dtype,
shape and kind, and totals per dtype.

Plain string formatting on purpose: no numpy, rich or textual imported, so a
dump starts as fast as Python does.
"""

from __future__ import annotations

import sys

from .. import open_archive
from ..display import escape, human, plural, shape_str
from ..formats import registry
from ..model import Archive, entry_state
from . import ArgumentParser, print_json
from .args import add_files_flags, input_paths, warn_if_truncated


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(prog=prog, description="List the parameters of IRPA, GGUF and safetensors files.")
    add_files_flags(p, "to list")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--full", action="store_true", help="with --json, every item of GGUF arrays")
    return p


def run(args) -> int:
    archive = open_archive(*input_paths(args, "dump"))
    warn_if_truncated(archive)
    out = sys.stdout
    if args.json:
        print_json(to_json(archive, full=args.full))
    else:
        out.write(format_table(archive))
    return 0


def format_table(archive: Archive) -> str:
    """The dump table: one line per entry (start, end, length, name, dtype,
    shape, kind; and its state when a file is cut off) under a header per
    file, and a footer of totals per dtype (and per state)."""
    lines: list[str] = []
    cut = archive.truncated
    by_file: dict[tuple[str, str], list] = {}
    opened = {f.path for f in archive.files}
    for e in archive.entries:
        by_file.setdefault((e.scope, _declaring_file(archive, opened, e)), []).append(e)
    for (scope, path), entries in by_file.items():
        total = sum(e.length for e in entries)
        label = escape(f"{scope}={path}" if scope else path)
        counts = f"{plural(len(entries), 'entry', 'entries', fmt='')}, {plural(total, 'byte', fmt='')}"
        lines.append(f"# {label}: {counts} ({human(total)})")
        state = f"{'state':<9}" if cut else ""
        lines.append(f"{'start':>14} {'end':>14} {'length':>14}  {'dtype':<10} {'shape':<18} {'kind':<8} {state}name")
        row = "{:>14} {:>14} {:>14}  {:<10} {:<18} {:<8} {}{}".format
        for e in entries:
            off = e.offset
            lines.append(
                row(
                    "-" if off is None else off,
                    "-" if off is None else off + e.length,
                    e.length,
                    e.dtype.name if e.dtype is not None else "?",
                    shape_str(e.shape),
                    e.kind,
                    f"{entry_state(e):<9}" if cut else "",
                    escape(e.name),
                )
            )
        lines.append("")
    totals: dict[str, list[int]] = {}
    for e in archive.entries:
        t = totals.setdefault(e.dtype_name or "?", [0, 0])
        t[0] += 1
        t[1] += e.length
    n, size = len(archive.entries), archive.total_bytes
    lines.append(f"{plural(n, 'entry', 'entries', fmt='')}, {plural(size, 'byte', fmt='')} ({human(size)})")
    for name, (count, size) in sorted(totals.items(), key=lambda kv: -kv[1][1]):
        counted, nbytes = plural(count, "entry", "entries", fmt=">8"), plural(size, "byte", fmt=">16")
        lines.append(f"  {name:<10} {counted:<16} {nbytes:<22} ({human(size)})")
    if cut:
        from ..salvage import truncation

        cut_off = truncation(archive)
        assert cut_off is not None
        lines.append(cut_off.line())
        lines.append("  " + ", ".join(f"{n:,} {state}" for state, n in cut_off.counts.items()))
    return "\n".join(lines) + "\n"


def _declares(format: str) -> bool:
    spec = registry.find(format)
    return spec is not None and spec.external


def _declaring_file(archive: Archive, opened: set[str], entry) -> str:
    # External entries point at their data file; list them under the irpa
    # archive that declared them.
    if entry.file in opened:
        return entry.file
    declaring = (f.path for f in archive.files if f.scope == entry.scope and _declares(f.format))
    return next(declaring, entry.file)


def entry_json(e) -> dict:
    return {
        "name": e.name,
        "kind": e.kind,
        "dtype": e.dtype_name,
        "shape": list(e.shape) if e.shape is not None else None,
        "length": e.length,
        "file": e.file,
        "offset": e.offset,
        "pattern": e.pattern.hex() if e.pattern is not None else None,
        "state": entry_state(e),
    }


def metadata_json(metadata: dict, full: bool = False) -> dict:
    out = {}
    for k, v in metadata.items():
        if hasattr(v, "to_json"):  # a lazy GGUF array
            out[k] = v.to_json(None if full else 3)
        elif isinstance(v, float) and v != v:
            out[k] = None
        else:
            out[k] = v
    return out


def to_json(archive: Archive, full: bool = False) -> dict:
    from ..salvage import truncated_json

    return {
        "files": [
            {"path": f.path, "format": f.format, "scope": f.scope, "metadata": metadata_json(f.metadata, full)}
            for f in archive.files
        ],
        "entries": [entry_json(e) for e in archive.entries],
        "truncated": truncated_json(archive),
    }
