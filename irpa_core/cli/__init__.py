"""``irpa`` command line: a dispatcher over one module per subcommand.

Each module in this package exposes ``build_parser(prog) -> ArgumentParser``
and ``run(args) -> int``. Only the chosen subcommand's module is imported, so
``irpa dump`` does not pay for numpy or rich features it does not use.
Every ``IrpaError`` becomes ``irpa: error: ...`` and exit 1, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import sys

from ..errors import IrpaError

# subcommand -> (module, one-line help). Modules live next to this file.
COMMANDS: dict[str, tuple[str, str]] = {
    "dump": ("dump", "list the parameters of archives (like iree-dump-parameters)"),
    "convert": ("convert", "write a new .irpa, .gguf or .safetensors with edits (like iree-convert-parameters)"),
    "create": ("create", "create an .irpa, .gguf or .safetensors from declarations (like iree-create-parameters)"),
    "stats": ("stats", "statistics of tensors: min, max, mean, std, percentiles, histogram; --anomalies"),
    "info": ("info", "what a model is: architecture, sizes, parameter count, dtype mix per layer group"),
    "heatmap": ("heatmap", "a tensor as a picture: mean or abs-max per cell, written as PNG"),
    "check": ("check", "does a GGUF (or safetensors + config.json) hold together as a model of its architecture"),
    "verify": ("verify", "check an output archive against its sources under an edit"),
    "diff": ("diff", "compare two archives by name, bytes and values"),
    "hash": ("hash", "per-tensor hashes as llama-gguf-hash prints them; --check MANIFEST verifies a file"),
    "repair": ("repair", "complete a cut-off download from a remote copy, fetching only what is missing"),
    "tokenize": ("tokenize", "how the model tokenizes a text, as llama.cpp does: ids and pieces"),
    "tokens": ("tokens", "the vocabulary: id, type, score or merge rank, piece; --find, --id, --type"),
    "template": ("template", "render a model's chat template (prompt and token ids) in a sandbox; --audit checks it"),
}


class CliError(IrpaError):
    """Bad command-line usage."""


def _terminal_columns() -> int:
    # What shutil.get_terminal_size() answers, without importing shutil and
    # with it zlib, bz2 and lzma (start-up cost: bench/RESULTS.md).
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


class _HelpFormatter(argparse.HelpFormatter):
    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        super().__init__(prog, indent_increment, max_help_position, width or _terminal_columns() - 2)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors as ``irpa: error:`` with exit 1."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise CliError(f"{self.prog}: {message}")


def print_json(doc) -> None:
    """JSON on stdout, exact: UTF-8 as is, except that a string holding
    bytes that were not UTF-8 (``surrogateescape``) is written with
    ``\\u`` escapes throughout, so the output stays valid UTF-8."""
    import json

    text = json.dumps(doc, indent=1, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(doc, indent=1)
    sys.stdout.write(text + "\n")


def _usage() -> str:
    lines = ["usage: irpa COMMAND [ARGS...]", "", "commands:"]
    width = max(map(len, COMMANDS))
    for name, (_, text) in COMMANDS.items():
        lines.append(f"  {name:<{width}}  {text}")
    lines += ["", "'irpa COMMAND --help' shows a command's flags."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `irpa ... | head`: the reader has gone, and so has our output
        # Python would flush stdout again at exit and complain: point it at
        # /dev/null (a stdout without a descriptor has nothing to flush there).
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"irpa: error: unknown command '{name}'\n\n{_usage()}", file=sys.stderr)
        return 1
    try:
        module = importlib.import_module(f"{__name__}.{COMMANDS[name][0]}")
        parser = module.build_parser(f"irpa {name}")
        args = parser.parse_args(rest)
        return int(module.run(args) or 0)
    except IrpaError as e:
        from ..display import escape

        # Errors quote names and paths from files: never terminal control.
        print(f"irpa: error: {escape(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("irpa: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The ``irpa`` command: ``main``, then the exit. The interpreter's last
    cyclic collection would walk every object still alive (numba's ~100,000
    when it compiled the kernels: 0.15-0.2 s): they are frozen out of its
    sight first (``gc.freeze``), as the process ends anyway."""
    rc = main()
    gc.freeze()
    sys.exit(rc)
