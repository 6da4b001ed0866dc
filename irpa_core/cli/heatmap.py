"""``irpa heatmap``: one tensor as a picture (PNG) or as numbers (JSON)."""

from __future__ import annotations

import contextlib
import os
import re

from ..display import escape, num
from . import ArgumentParser, CliError, print_json
from .args import add_files_flags, input_paths

_SIZE = re.compile(r"^(\d+)x(\d+)$")
_REGION = re.compile(r"^(\d+):(\d+),(\d+):(\d+)$")


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(
        prog=prog,
        description="Draw a tensor (seen as rows x last dimension) as a downsampled heatmap: the mean or the "
        "largest magnitude of each cell, on a colour scale (blue-white-red around 0 for the mean, viridis for "
        "abs-max; black: no finite value).",
    )
    add_files_flags(p, "to read")
    p.add_argument("--name", required=True, metavar="NAME", help="the tensor")
    p.add_argument("--png", metavar="FILE", help="write the heatmap as a PNG")
    p.add_argument("--json", action="store_true", help="print the cell values and edges as JSON")
    p.add_argument("--mode", choices=("mean", "absmax"), default="mean", help="value per cell (default mean)")
    p.add_argument("--cells", default="512x512", metavar="ROWSxCOLS", help="at most this many cells (default 512x512)")
    p.add_argument("--region", metavar="R0:R1,C0:C1", help="only rows R0..R1 and columns C0..C1 (zoom)")
    p.add_argument("--scale", type=int, default=1, metavar="N", help="PNG pixels per cell (default 1)")
    p.add_argument("--as", dest="as_dtype", metavar="DTYPE", help="view an entry without a dtype as DTYPE")
    return p


def run(args) -> int:
    from .. import dtypes, open_archive
    from .. import heatmap as H

    if not args.png and not args.json:
        raise CliError("say what to write: --png FILE and/or --json")
    m = _SIZE.match(args.cells)
    if not m or not int(m.group(1)) or not int(m.group(2)):
        raise CliError(f"--cells={args.cells}: expected ROWSxCOLS, like 512x512")
    if not 1 <= args.scale <= 64:
        raise CliError("--scale must be between 1 and 64")
    region = None
    if args.region:
        r = _REGION.match(args.region)
        if not r:
            raise CliError(f"--region={args.region}: expected R0:R1,C0:C1, like 0:1024,0:640")
        region = H.Region(*map(int, r.groups()))
    as_dtype = None
    if args.as_dtype:
        as_dtype = dtypes.by_name(args.as_dtype) or dtypes.from_iree(args.as_dtype)
        if as_dtype is None:
            raise CliError(f"--as={args.as_dtype}: unknown dtype")
    archive = open_archive(*input_paths(args, "heatmap"))
    entry = archive.by_name.get(args.name)
    if entry is None:
        raise CliError(f"no parameter named '{escape(args.name)}'")
    from ..stats import DecodeError

    try:
        hm = H.compute(entry, int(m.group(1)), int(m.group(2)), mode=args.mode, region=region, as_dtype=as_dtype)
    except (DecodeError, ValueError) as e:
        raise CliError(str(e)) from None
    scale = hm.scale()
    if args.png:
        data = H.png_bytes(H.colors(hm.values, hm.mode, scale), args.scale)
        tmp = f"{args.png}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, args.png)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise CliError(f"{args.png}: cannot write: {e.strerror}") from None
    if args.json:
        print_json(
            {
                "name": entry.name,
                "mode": hm.mode,
                "matrix": list(hm.shape),
                "region": [hm.region.row0, hm.region.row1, hm.region.col0, hm.region.col1],
                "row_edges": hm.row_edges.tolist(),
                "col_edges": hm.col_edges.tolist(),
                "scale": list(scale),
                "values": [[None if v != v else float(v) for v in row] for row in hm.values],
            }
        )
    elif args.png:
        H_, W_ = hm.values.shape
        print(
            f"wrote {escape(args.png)}: {H_}x{W_} cells of the {hm.shape[0]}x{hm.shape[1]} matrix "
            f"of {escape(entry.name)} ({hm.mode}; scale {num(scale[0])} .. {num(scale[1])})"
        )
    return 0
