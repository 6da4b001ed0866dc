"""How numbers, sizes and shapes read to a person: one home for the CLI and
the TUI, so both say the same thing the same way.

Plain string formatting, no imports: ``irpa dump`` must start fast.
"""

from __future__ import annotations

from collections.abc import Sequence

# Significant digits: a table of statistics (CLI) and the narrower detail
# pane and verify screen (TUI).
WIDE = 6
NARROW = 5


def human(n: int) -> str:
    """A byte count for people: 1536 -> '1.5 KiB' (binary units)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def shape_str(shape: Sequence[int] | None) -> str:
    """Row-major shape as IREE writes it: ``4096x512``; ``scalar`` for ();
    ``?`` when the file does not say."""
    if shape is None:
        return "?"
    return "x".join(map(str, shape)) if shape else "scalar"


def num(x: float, digits: int = WIDE) -> str:
    """A statistic with ``digits`` significant digits (``nan``, ``inf`` as is)."""
    return f"{x:.{digits}g}"
