"""How numbers, sizes, shapes and names read to a person: one home for the
CLI and the TUI, so both say the same thing the same way.

Text from files (names, keys, values, tokens, paths) goes through ``escape``
before a person sees it: control characters, escape sequences, bidi
overrides and bytes that were not UTF-8 become visible escapes, as ``ls``
and ``git`` show them. JSON output stays exact and never goes through here.

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


def plural(n: int, one: str, many: str | None = None, *, fmt: str = ",") -> str:
    """A count and its noun in the right number: ``1 entry``, ``2 entries``,
    ``1,024 tensors`` (``many`` defaults to ``one + "s"``; ``fmt`` formats
    the count: ``""`` for the plain digits of a table that mirrors IREE's)."""
    return f"{n:{fmt}} {one if n == 1 else many or one + 's'}"


def shape_str(shape: Sequence[int] | None) -> str:
    """Row-major shape as IREE writes it: ``4096x512``; ``scalar`` for ();
    ``?`` when the file does not say."""
    if shape is None:
        return "?"
    return "x".join(map(str, shape)) if shape else "scalar"


def num(x: float, digits: int = WIDE) -> str:
    """A statistic with ``digits`` significant digits (``nan``, ``inf`` as is)."""
    return f"{x:.{digits}g}"


# Characters with a short C escape; every other non-printable one becomes
# \xNN (C0, DEL, C1), \uNNNN or \UNNNNNNNN.
_C_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x1b": "\\e", "\0": "\\0"}


def or_undefined(x: float | None, spec: str) -> str:
    """``x`` formatted with ``spec``, or "undefined" (a metric with no value:
    a relative error of an all-zero tensor, say)."""
    return "undefined" if x is None else format(x, spec)


def escape(text: str) -> str:
    """``text`` with everything a terminal would act on made visible.

    Printable text (``str.isprintable``: letters, marks, symbols, the ASCII
    space, any script) comes back unchanged, which is nearly every name.
    Otherwise each control character (C0, DEL, C1: ``\\n``, ``\\e``,
    ``\\x7f``...), format character (bidi overrides such as U+202E, zero
    width joiners, BOM), separator other than the space, and each byte that
    was not UTF-8 (decoded with ``surrogateescape``: ``\\xff``) is written as
    an escape, and backslashes are doubled so the escapes cannot be forged.
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append("\\\\" if ch == "\\" else ch)
            continue
        c = ord(ch)
        if ch in _C_ESCAPES:
            out.append(_C_ESCAPES[ch])
        elif 0xDC80 <= c <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{c - 0xDC00:02x}")
        elif c < 0x100:
            out.append(f"\\x{c:02x}")
        elif c < 0x10000:
            out.append(f"\\u{c:04x}")
        else:
            out.append(f"\\U{c:08x}")
    return "".join(out)


def token_text(piece: str) -> str:
    """A vocabulary string as a person reads it: escaped (``\\n``, ``\\t``,
    ``\\xff`` for a byte that was not UTF-8; ``▁``, ``Ġ`` and ``<0x0A>``
    as they are) and between single quotes, so that spaces show."""
    return f"'{escape(piece)}'"


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters: a longer text is cut and says how long
    it was (a 10,000-character name must not fill a screen)."""
    if len(text) <= limit:
        return text
    tail = f"… ({len(text):,} characters)"
    return text[: max(1, limit - len(tail))] + tail


def shown(text: str, limit: int = 1000) -> str:
    """A file's string as a person sees it: escaped, then clipped to
    ``limit`` characters (a long one says its length in characters of the
    original). Only the head is escaped, so a 1 MB value costs little."""
    if len(text) <= limit:
        return clip(escape(text), limit)
    tail = f"… ({len(text):,} characters)"
    return escape(text[:limit])[: max(1, limit - len(tail))] + tail


def f32(x: float) -> str:
    """A float that came from a 32-bit field, at float32 precision: the
    shortest decimal that reads back as the same float32 (1e-06, not
    9.999999974752427e-07); a whole number reads as one (1000000.0, not
    1e+06) below 1e16, where Python's own ``repr`` turns to exponents."""
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    if x == int(x) and abs(x) < 1e16:
        return repr(x)  # exact: a float32 whole number is a float64 one
    import struct

    try:
        target = struct.pack("<f", x)
    except OverflowError:  # not a float32 after all
        return repr(x)
    for digits in range(1, 10):
        text = f"{x:.{digits}g}"
        try:
            if struct.pack("<f", float(text)) == target:
                return _tidy(text)
        except OverflowError:  # rounded past the largest float32
            continue
    return repr(x)


def _tidy(text: str) -> str:
    # '1e-06' and '0.1' read better than '1.000000e-06'; keep a float look.
    if "e" not in text and "." not in text and "n" not in text:
        return text + ".0"
    return text


def one_line(text: str, limit: int = 200) -> str:
    """Server- or file-supplied text made safe for a one-line message."""
    text = "".join(c if c.isprintable() else " " for c in text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."
