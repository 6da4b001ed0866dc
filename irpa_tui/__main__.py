"""``irpa-tui FILE...`` (also ``python -m irpa_tui``)."""

from __future__ import annotations

import argparse
import sys
import tempfile


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="irpa-tui", description="Inspect and edit IRPA, GGUF and safetensors archives in the terminal."
    )
    p.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="files to open as one archive (scope=FILE accepted), or a model directory (index, safetensors or GGUF)",
    )
    p.add_argument("--demo", action="store_true", help="open a generated demo archive (no download)")
    p.add_argument("--plan", metavar="FILE", help="start with a saved edit plan applied")
    p.add_argument(
        "--diff",
        nargs=2,
        metavar=("A", "B"),
        help="compare two archives (paired by name across schemes, quantization-aware verdicts) in the compare screen",
    )
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from irpa_core.errors import IrpaError
    from irpa_core.plan import Plan

    from .app import IrpaApp

    plan, plan_error = None, None
    if args.plan:
        try:
            plan = Plan.load(args.plan)
        except IrpaError as e:
            plan_error = str(e)
    files = list(args.files)
    title = None
    tmp = None
    if args.demo:
        from irpa_core.demo import make_demo

        tmp = tempfile.TemporaryDirectory(prefix="irpa-demo-")
        files = [str(make_demo(tmp.name))]
        title = "demo.irpa"
    if not files and not args.diff:
        build_parser().print_usage(sys.stderr)
        print("irpa-tui: error: give one or more files, --demo, or --diff A B", file=sys.stderr)
        return 1
    app = IrpaApp(files, plan=plan, diff=tuple(args.diff) if args.diff else None, title=title, plan_error=plan_error)
    try:
        app.run()
    finally:
        if tmp is not None:
            tmp.cleanup()
    # Textual prints the traceback of a crash and sets return_code: a crash
    # must not look like success to a script.
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
