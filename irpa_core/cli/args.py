"""Command-line flags shared by several subcommands: IREE-style booleans,
the sources, the edit flags of ``convert`` (also taken by ``verify``), and
the ``\\=`` escape for names holding ``=``."""

from __future__ import annotations

from ..errors import PlanError
from . import ArgumentParser, CliError


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
    return paths


def add_source_flags(p: ArgumentParser) -> None:
    repeatable(
        p, "--parameters", "[SCOPE=]FILE", "input file (repeatable): .irpa, .gguf, .safetensors, or a sharded directory"
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
    p.add_argument("--plan", metavar="FILE", help="start from a saved plan (JSON, e.g. from the TUI)")


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


def plan_from_args(args):
    """The Plan described by --plan plus the edit flags (flags after the plan)."""
    from ..plan import Plan

    plan = Plan.load(args.plan) if args.plan else Plan()
    renames = []
    for spec in args.rename:
        old, new = split_unescaped(spec)
        if new is None or not old or not new:
            raise CliError(f"--rename={spec}: expected OLD=NEW")
        renames.append((old, new.replace("\\=", "=")))
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
    return Plan(plan.ops + flags.ops)


def plan_with_hints(args, archive):
    """plan_from_args, with errors about a name cut at its '=' explained."""
    try:
        return plan_from_args(args)
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


def add_output_flags(p: ArgumentParser, *, ignored: bool = False) -> None:
    """``--output`` and the flags of how ``convert`` writes. ``ignored``:
    accepted and ignored, so that a convert command line works as is with
    another verb (``irpa verify``)."""
    if ignored:
        p.add_argument("--output", "-o", metavar="FILE", help="same as OUTPUT (so a convert line works as is)")
        for flag in ("--alignment", "--save-plan"):
            p.add_argument(flag, help="accepted and ignored (convert compatibility)")
        p.add_argument("--no-fsync", action="store_true", help="accepted and ignored (convert compatibility)")
        return
    p.add_argument("--output", "-o", metavar="FILE", help="the .irpa to write")
    p.add_argument("--alignment", type=int, default=64, metavar="N", help="data alignment in bytes (default 64)")
    p.add_argument("--save-plan", metavar="FILE", help="also save the edit as a plan JSON")
    p.add_argument(
        "--no-fsync",
        action="store_true",
        help="do not flush to disk before the final rename (faster; like cp, not power-loss safe)",
    )
