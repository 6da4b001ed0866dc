"""Command-line flags shared by several subcommands: IREE-style booleans,
the sources, the edit flags of ``convert`` (also taken by ``verify``), the
output format and metadata flags, and the ``\\=`` escape for names holding
``=``."""

from __future__ import annotations

import os

from ..errors import PlanError, WriteError
from ..formats import registry
from . import ArgumentParser, CliError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..output import Format, Split
    from ..plan import Op, Plan

FORMAT_NAMES = registry.NAMES
SET_METADATA_HELP = (
    "set a file metadata key (GGUF key/value, safetensors __metadata__, or the .irpa's __SHARK_DATASET__ "
    "entry). An existing key keeps its type; a new key takes KEY=TYPE:VALUE with a GGUF type (u8..u64, "
    "i8..i64, f32, f64, bool, string, array[TYPE] with a JSON list). 'TYPE:' is read as a type only for a "
    "new key or when the value parses as TYPE, so text holding ':' stays intact (repeatable, in order)"
)


def bool_flag(p: ArgumentParser, name: str, help: str) -> None:
    # IREE bool flags: --strip, --strip=true, --strip=false
    p.add_argument(name, nargs="?", const="true", default="false", metavar="BOOL", type=parse_bool, help=help)


def parse_bool(text: str) -> bool:
    t = text.lower()
    if t in ("true", "1", "yes", ""):
        return True
    if t in ("false", "0", "no"):
        return False
    raise CliError(f"expected true or false, got {text!r}")


def repeatable(p: ArgumentParser, flag: str, metavar: str, help: str) -> None:
    """A flag that may be given many times; its values collect in a list."""
    p.add_argument(flag, action="append", default=[], metavar=metavar, help=help)


def add_files_flags(p: ArgumentParser, what: str) -> None:
    """Input files as positional arguments, or as ``--parameters=FILE`` as the
    IREE tools spell it (both repeatable, ``scope=FILE`` accepted)."""
    p.add_argument("files", nargs="*", metavar="FILE", help=f"files {what} (scope=FILE accepted)")
    repeatable(p, "--parameters", "FILE", "same as a positional FILE")


def input_paths(args, command: str) -> list[str]:
    """The files of ``add_files_flags``, or a usage error when there are none."""
    paths = [*args.parameters, *args.files]
    if not paths:
        raise CliError(f"no input file given (irpa {command} FILE...)")
    if getattr(args, "name", None) is not None and len(paths) > 1:
        # ``irpa stats FILE NAME``: a parameter's name given where a file goes.
        from ..sources import is_remote

        for p in paths:
            looks_like_a_file = os.sep in p or os.path.splitext(p)[1].lower() in (".irpa", ".gguf", ".safetensors")
            if not (looks_like_a_file or is_remote(p) or "=" in p or os.path.exists(p)):
                raise CliError(f"{p}: no such file (to pick a parameter, give --name={p})")
    return paths


def warn_if_truncated(archive) -> None:
    """``irpa: warning: FILE: truncated: ... present (...); N of M tensors
    complete`` on stderr when a file is cut off (``salvage``)."""
    if not archive.truncated:
        return
    import sys

    from ..salvage import truncation

    t = truncation(archive)
    assert t is not None
    print(f"irpa: warning: {t.warning()}", file=sys.stderr)


def add_source_flags(p: ArgumentParser) -> None:
    repeatable(
        p, "--parameters", "[SCOPE=]FILE", "input file (repeatable): .irpa, .gguf, .safetensors, or a model directory"
    )


def add_edit_flags(p: ArgumentParser) -> None:
    """The edit flags shared by ``convert`` and ``verify``."""
    repeatable(p, "--exclude", "NAME", "leave a parameter out (exact name or glob; repeatable)")
    repeatable(p, "--rename", "OLD=NEW", "rename a parameter (a '*' in OLD carries over to NEW's '*')")
    bool_flag(p, "--strip", "replace every parameter by a zero splat (except --keep/--splat ones)")
    repeatable(
        p,
        "--splat",
        "NAME[=TYPE=VALUE]",
        "replace a parameter by a splat: zero, or TYPE=VALUE (f32=1.0, i8=3, x32=CAFEF00D)",
    )
    repeatable(p, "--keep", "NAME", "keep a parameter as data even with --strip (exact name or glob)")
    repeatable(
        p,
        "--cast",
        "NAME=DTYPE",
        "convert a parameter's values (last wins): f64/f32/f16/bf16/fp8 to each other, widening integers, "
        "GGUF block types to f32/f16/bf16, floats to Q8_0/Q4_0/Q4_1/Q5_0/Q5_1. A glob casts what it can "
        "('*=bf16' leaves integers as they are); an exact name that cannot be cast is an error",
    )
    add_metadata_flags(p)
    add_prune_flags(p)
    p.add_argument("--plan", metavar="FILE", help="start from a saved plan (JSON, e.g. from the TUI)")


def add_prune_flags(p: ArgumentParser) -> None:
    """Block pruning, as llama-quantize --prune-layers (one of the two)."""
    p.add_argument(
        "--prune-blocks", metavar="LIST",
        help="remove whole blocks (blk.N, model.layers.N, encoder.layer.N: the main numbered container) and "
        "renumber the rest densely: LIST as llama-quantize --prune-layers takes it (2,3,5-17). GGUF: "
        "{arch}.block_count and the per-layer arrays follow; safetensors: a config.json with "
        "num_hidden_layers is written beside the output (never over a different one)",
    )  # fmt: skip
    p.add_argument(
        "--keep-blocks", metavar="LIST",
        help="keep only these blocks (0,1): --prune-blocks of every other block",
    )  # fmt: skip


def add_metadata_flags(p: ArgumentParser) -> None:
    """Metadata edits, kept in command-line order (one list for all four flags)."""
    p.add_argument(
        "--set-metadata", dest="metadata", action="append", default=[], metavar="KEY=[TYPE:]VALUE",
        type=lambda s: ("set", s), help=SET_METADATA_HELP,
    )  # fmt: skip
    p.add_argument(
        "--set-metadata-file", dest="metadata", action="append", metavar="KEY=PATH", type=lambda s: ("file", s),
        help="set a metadata key to the text of a file (a chat template, say; UTF-8)",
    )  # fmt: skip
    p.add_argument(
        "--unset-metadata", dest="metadata", action="append", metavar="KEY", type=lambda s: ("unset", s),
        help="drop a file metadata key (glob allowed)",
    )  # fmt: skip
    p.add_argument(
        "--no-metadata", dest="metadata", action="append_const", const=("unset", "*"),
        help="write no file metadata from the inputs (GGUF key/values, safetensors __metadata__, "
        "__SHARK_DATASET__); later --set-metadata flags still apply",
    )  # fmt: skip


def split_unescaped(text: str) -> tuple[str, str | None]:
    """Split at the first '=' not written as '\\='; unescape the left part."""
    i = 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1 : i + 2] == "=":
            i += 2
            continue
        if text[i] == "=":
            return text[:i].replace("\\=", "="), text[i + 1 :]
        i += 1
    return text.replace("\\=", "="), None


def rename_pairs(specs: list[str]) -> list[tuple[str, str]]:
    """``--rename OLD=NEW`` flags as (old, new) pairs ('=' inside a name
    written as '\\=')."""
    pairs = []
    for spec in specs:
        old, new = split_unescaped(spec)
        if new is None or not old or not new:
            raise CliError(f"--rename={spec}: expected OLD=NEW")
        pairs.append((old, new.replace("\\=", "=")))
    return pairs


def plan_from_args(args, archive=None, fmt: Format = "irpa"):
    """The Plan described by --plan plus the edit flags (flags after the
    plan). ``archive``/``fmt``: the sources and the output format, which say
    how ``--set-metadata`` text is read (``filemeta.set_op``)."""
    from ..plan import Plan

    plan = Plan.load(args.plan) if args.plan else Plan()
    renames = rename_pairs(args.rename)
    splats = []
    for spec in args.splat:
        name, value = split_unescaped(spec)
        if not name:
            raise CliError(f"--splat={spec}: expected NAME or NAME=TYPE=VALUE")
        splats.append((name, value or ""))
    unescape = lambda names: [n.replace("\\=", "=") for n in names]  # noqa: E731
    flags = Plan.from_reference_flags(
        exclude=unescape(args.exclude), rename=renames, splat=splats, strip=args.strip, keep=unescape(args.keep)
    )
    plan = Plan(plan.ops + flags.ops + tuple(_cast_ops(args.cast)) + _prune_ops(args, archive))
    return plan.add(*metadata_ops(args.metadata, plan, archive, fmt))


def _prune_ops(args, archive) -> tuple[Op, ...]:
    """The prune op of --prune-blocks or --keep-blocks (resolved against
    the archive's blocks), or none."""
    from ..prune import prune_op

    prune_text, keep_text = getattr(args, "prune_blocks", None), getattr(args, "keep_blocks", None)
    if prune_text is None and keep_text is None:
        return ()
    if prune_text is not None and keep_text is not None:
        raise CliError("--prune-blocks and --keep-blocks: give one of them")
    flag, text = ("--keep-blocks", keep_text) if keep_text is not None else ("--prune-blocks", prune_text)
    assert text is not None
    if archive is None:
        raise CliError(f"{flag}: needs the input files")
    try:
        return (prune_op(archive, text, keep=keep_text is not None),)
    except ValueError as e:
        raise CliError(f"{flag}={text}: {e}") from None


def _cast_ops(specs: list[str]) -> list[Op]:
    from ..plan import CAST, Op, cast_dtype

    ops = []
    for spec in specs:
        name, dtype = split_unescaped(spec)
        if not name or not dtype:
            raise CliError(f"--cast={spec}: expected NAME=DTYPE (e.g. --cast='*.weight=f16')")
        d = cast_dtype(dtype)
        ops.append(Op(CAST, name, value=d.name if d is not None else dtype))  # Op refuses an unknown dtype
    return ops


def metadata_ops(flags: list[tuple[str, str]], plan: Plan, archive, fmt: Format) -> list[Op]:
    """The ops of the metadata flags, in order. The keys the sources already
    have decide how ``KEY=TYPE:VALUE`` is read; for safetensors a new key is
    a string."""
    from .. import filemeta
    from ..plan import SET_METADATA, UNSET_METADATA, Op, is_glob

    if not flags:
        return []
    known: set[str] = set()
    if archive is not None and any(kind != "unset" for kind, _ in flags):
        meta = filemeta.read(filemeta.origin(archive, plan.fates(archive)))
        known = set(meta.values) | set(meta.properties)
    default_type = registry.get(fmt).new_key_type
    ops = []
    for kind, spec in flags:
        if kind == "unset":
            op = Op(UNSET_METADATA, spec)
            known = {k for k in known if not op.matches(k)} if is_glob(spec) else known - {spec}
            ops.append(op)
            continue
        flag = "--set-metadata" if kind == "set" else "--set-metadata-file"
        key, text = split_unescaped(spec)
        if not key or text is None:
            raise CliError(f"{flag}={spec}: expected {'KEY=VALUE or KEY=TYPE:VALUE' if kind == 'set' else 'KEY=PATH'}")
        if kind == "file":
            text = _read_text(flag, text)
            ops.append(Op(SET_METADATA, key, value=text, type="" if key in known else "string"))
        else:
            ops.append(filemeta.set_op(key, text, known, default_type))
        known.add(key)
    return ops


def _read_text(flag: str, path: str) -> str:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise CliError(f"{flag}: cannot read {path}: {e.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CliError(f"{flag}: {path} is not UTF-8 text (byte {e.start})") from None


def output_format(args) -> Format:
    """The format to write: ``--format``, else the output's extension."""
    from ..output import format_for

    if args.format:
        return args.format
    fmt = format_for(args.output)
    if fmt is None and os.path.isdir(args.output):
        raise WriteError(args.output, "is a directory")
    if fmt is None:
        raise CliError(
            f"--output={args.output}: unknown extension: name it .irpa, .gguf or .safetensors, or give --format"
        )
    return fmt


def aligned_for(args, plan: Plan, fmt: Format) -> tuple[Plan, int | None]:
    """``--alignment`` as the plan and the writer take it (``output.aligned``:
    a GGUF's is its ``general.alignment`` key)."""
    from ..output import aligned

    try:
        return aligned(plan, fmt, args.alignment)
    except PlanError as e:
        raise CliError(f"--alignment: {e.reason}") from None


def plan_with_hints(args, archive, fmt: Format = "irpa"):
    """plan_from_args, with errors about a name cut at its '=' explained."""
    try:
        return plan_from_args(args, archive, fmt)
    except PlanError as e:
        hint = escape_hint(e.parameter, archive) if e.parameter else ""
        if hint:
            raise PlanError(e.parameter, e.reason + hint) from None
        raise


def escape_hint(name: str, archive) -> str:
    """When a name holding '=' was cut at its '=' by the flag syntax, say how
    to write it."""
    for e in archive.entries:
        if "=" in e.name and e.name.startswith(name + "="):
            return f" (did you mean '{e.name}'? write '=' inside a name as '\\=': {e.name.replace('=', chr(92) + '=')})"
    return ""


def add_convert_flags(p: ArgumentParser, *, output_ignored: bool = False) -> None:
    """Every flag of a convert command line: sources, edits, output. ``irpa
    verify`` takes the same line with the output flags ignored."""
    add_source_flags(p)
    add_edit_flags(p)
    add_output_flags(p, ignored=output_ignored)


def add_format_flags(p: ArgumentParser) -> None:
    p.add_argument(
        "--format", choices=FORMAT_NAMES, help="output format (default: from the output's extension, which must be one)"
    )
    p.add_argument(
        "--alignment", type=int, metavar="N",
        help="data alignment in bytes: .irpa default 64; for .gguf it sets general.alignment (default 32)",
    )  # fmt: skip


def add_output_flags(p: ArgumentParser, *, ignored: bool = False) -> None:
    """``--output`` and the flags of how ``convert`` writes. ``ignored``:
    accepted and ignored, so that a convert command line works as is with
    another verb (``irpa verify``)."""
    if ignored:
        p.add_argument("--output", "-o", metavar="FILE", help="same as OUTPUT (so a convert line works as is)")
        p.add_argument("--save-plan", help="accepted and ignored (convert compatibility)")
        p.add_argument("--format", choices=FORMAT_NAMES, help="accepted and ignored (the file says its format)")
        p.add_argument("--alignment", type=int, metavar="N", help="as for convert (a GGUF's general.alignment)")
        p.add_argument("--no-fsync", action="store_true", help="accepted and ignored (convert compatibility)")
        p.add_argument(
            "--split-max-size", metavar="N[K|M|G]",
            help="as for convert: the output is the split set it wrote (found by its first shard)",
        )  # fmt: skip
        p.add_argument("--split-max-tensors", metavar="N", help="as --split-max-size")
        return
    p.add_argument("--output", "-o", metavar="FILE", help="the file to write: .irpa, .gguf or .safetensors")
    add_format_flags(p)
    add_split_flags(p)
    p.add_argument("--save-plan", metavar="FILE", help="also save the edit as a plan JSON")
    p.add_argument(
        "--no-fsync",
        action="store_true",
        help="do not flush to disk before the final rename (faster; like cp, not power-loss safe)",
    )


def add_split_flags(p: ArgumentParser) -> None:
    """Split GGUF output, as llama.cpp's gguf-split --split (one of the two)."""
    p.add_argument(
        "--split-max-size", type=parse_split_size, metavar="N[K|M|G]",
        help="split a .gguf output into shards of at most N bytes of tensor data each (K, M, G: powers of "
        "1000, as llama.cpp's tools; a larger tensor gets a shard of its own): --output=DIR/model.gguf "
        "writes DIR/model-00001-of-0000N.gguf, ... as gguf-split names them",
    )  # fmt: skip
    p.add_argument(
        "--split-max-tensors", type=parse_split_tensors, metavar="N",
        help="split a .gguf output into shards of at most N tensors each (named as with --split-max-size)",
    )  # fmt: skip


def parse_split_size(text: str) -> int:
    from ..output import parse_split_size

    try:
        return parse_split_size(text)
    except PlanError as e:
        raise CliError(f"--split-max-size={text}: {e.reason}") from None


def parse_split_tensors(text: str) -> int:
    from ..output import parse_split_tensors

    try:
        return parse_split_tensors(text)
    except PlanError as e:
        raise CliError(f"--split-max-tensors={text}: {e.reason}") from None


def split_of(args, fmt: Format) -> Split | None:
    """The ``Split`` the flags ask for, or None to write one file."""
    from ..output import Split

    size, tensors = args.split_max_size, args.split_max_tensors
    if size is None and tensors is None:
        return None
    flag = "--split-max-size" if size is not None else "--split-max-tensors"
    if size is not None and tensors is not None:
        raise CliError("--split-max-size and --split-max-tensors: give one of them (as gguf-split)")
    if not registry.get(fmt).shards:
        raise CliError(f"{flag}: only .gguf output can be split into shards, not {fmt}")
    return Split(max_size=size or 0, max_tensors=tensors or 0)
