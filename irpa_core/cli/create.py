"""``irpa create``: the flags of ``iree-create-parameters``.

``--data=NAME=SHAPExTYPE[=VALUE]`` reserves storage (zeros, or VALUE
repeated), ``--splat=NAME=SHAPExTYPE=VALUE`` declares a splat, plus
``--alignment=N``, ``--output=FILE``, ``--quiet``. Shapes as in IREE:
``4096xf32``, ``2x4096xi16``, or just ``f32`` for a scalar. Unlike the
reference, ``--data`` with a VALUE works (the reference fails with "write
failed"), ``i1``/``bool`` values are accepted, and the output may be
``.gguf`` or ``.safetensors`` (splats written as data) with file metadata
from ``--set-metadata``, and a ``.gguf`` may be split into shards
(``--split-max-size``, ``--split-max-tensors``).
"""

from __future__ import annotations

import sys

from .. import dtypes
from ..errors import PlanError
from ..formats import pytorch_meta
from ..model import DATA, SPLAT, Entry
from ..plan import Target
from ..splat import SplatValueError, check_pattern, encode_value
from . import ArgumentParser, CliError
from .args import (
    add_format_flags,
    add_metadata_flags,
    add_split_flags,
    aligned_for,
    bool_flag,
    metadata_ops,
    output_format,
    repeatable,
    split_of,
    split_unescaped,
)


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(
        prog=prog,
        description="Create an .irpa, .gguf or .safetensors from declared parameters "
        "(flags of iree-create-parameters, and more).",
    )
    repeatable(p, "--data", "NAME=SHAPExTYPE[=VALUE]", "a parameter with storage, zero-filled or filled with VALUE")
    repeatable(p, "--splat", "NAME=SHAPExTYPE=VALUE", "a splat parameter (no storage; data in .gguf/.safetensors)")
    add_format_flags(p)
    add_split_flags(p)
    add_metadata_flags(p)
    p.add_argument("--output", "-o", metavar="FILE", help="the file to write: .irpa, .gguf or .safetensors")
    bool_flag(p, "--quiet", "no listing of the result")
    return p


def parse_decl(spec: str, flag: str, need_value: bool) -> Target:
    """One ``NAME=SHAPExTYPE[=VALUE]`` declaration as a write target."""
    name, rest = split_unescaped(spec)
    if not name or not rest:
        raise CliError(f"--{flag}={spec}: expected NAME=SHAPExTYPE{'=VALUE' if need_value else '[=VALUE]'}")
    shape_type, _, value = rest.partition("=")
    *dims, type_name = shape_type.split("x") if not shape_type.startswith("x") else [shape_type]
    # Hex types start with x (x32): "4x8xx32" splits into ["4", "8", "", "32"].
    if type_name and dims and dims[-1] == "":
        dims, type_name = dims[:-1], "x" + type_name
    try:
        shape = tuple(int(d) for d in dims)
    except ValueError:
        raise PlanError(name, f"shape {'x'.join(dims)!r} is not a list of integers (e.g. 2x4096xf32)") from None
    if any(d < 0 for d in shape):
        raise PlanError(name, "shape dimensions must be non-negative")
    if need_value and not value:
        raise PlanError(name, f"--{flag} needs a value (NAME=SHAPExTYPE=VALUE)")
    try:
        pattern = encode_value(type_name, value if value else "0")
    except SplatValueError as e:
        raise PlanError(name, str(e)) from None
    count = 1
    for d in shape:
        count *= d
    length = count * len(pattern)
    problem = check_pattern(pattern, length) if length else None
    if problem:
        raise PlanError(name, problem)
    dtype = dtypes.from_iree(type_name) or (dtypes.by_name("bool") if type_name == "bool" else None)
    meta = pytorch_meta.encode(dtype, shape, length) if dtype is not None else b""
    # The bytes come from an in-memory splat; the writer expands it.
    source = Entry(name=name, kind=SPLAT, length=length, file="<create>", dtype=dtype, shape=shape, pattern=pattern)
    if flag == "data":
        return Target(name, DATA, length, dtype, shape, meta, source)
    return Target(name, SPLAT, length, dtype, shape, meta, source, pattern)


def run(args) -> int:
    from ..output import assemble
    from ..plan import Plan
    from .convert import warn_about_metadata, write_output

    if not args.output:
        raise CliError("no output given (--output=FILE.irpa, .gguf or .safetensors)")
    fmt = output_format(args)
    split = split_of(args, fmt)
    targets = [parse_decl(s, "splat", True) for s in args.splat] + [parse_decl(s, "data", False) for s in args.data]
    seen = set()
    for t in targets:
        if t.name in seen:
            raise PlanError(t.name, "declared twice")
        seen.add(t.name)
    plan, alignment = aligned_for(args, Plan().add(*metadata_ops(args.metadata, Plan(), None, fmt)), fmt)
    out = assemble(targets, fmt, plan.metadata_ops)
    warn_about_metadata(out)
    result = write_output(out, args.output, alignment, split)
    if not args.quiet:
        from .. import open_archive
        from .dump import format_table

        sys.stdout.write(format_table(open_archive(result.path)))
    return 0
