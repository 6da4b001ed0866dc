"""Entry point of ``irpa-tui`` (placeholder until the TUI issue lands)."""

import sys


def main(argv=None) -> int:
    print("irpa-tui: not built yet", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
