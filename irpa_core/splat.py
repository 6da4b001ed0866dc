"""Typed splat values in the reference command-line syntax: ``TYPE=VALUE``.

``parse_splat("f32=4.5")`` gives the pattern bytes the reference tools write
(checked byte for byte against ``iree-convert-parameters`` in the tests);
the empty spec is the one-byte zero pattern. Types:

- ``i8 i16 i32 i64`` (signless: any value that fits signed or unsigned),
  ``si8..si64`` (signed), ``ui8..ui64`` (unsigned); decimal or ``0x`` hex;
- ``f16 bf16 f32 f64`` and the fp8 kinds ``f8E4M3FN f8E5M2 f8E4M3FNUZ
  f8E5M2FNUZ f8E8M0FNU`` (``nan``, ``inf``, ``1e-3`` accepted);
- ``x8 x16 x32 x64 x128``: exactly that many bits of hex, bytes in order;
- ``i1``/``bool`` (``0``, ``1``, ``true``, ``false``), which the reference rejects.

Where the reference is lenient with garbage (``i8=1.5`` -> 1, ``x8=zz`` -> 0,
``f32=1,2`` -> 1.0) we refuse with a reason instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_PATTERN = 16
_INT = re.compile(r"^(?P<sign>[su]?)i(?P<bits>8|16|32|64)$")
_HEX = re.compile(r"^x(?P<bits>8|16|32|64|128)$")
_FLOATS = {
    "f16": "float16",
    "bf16": "bfloat16",
    "f32": "float32",
    "f64": "float64",
    "f8E4M3FN": "float8_e4m3fn",
    "f8E5M2": "float8_e5m2",
    "f8E4M3FNUZ": "float8_e4m3fnuz",
    "f8E5M2FNUZ": "float8_e5m2fnuz",
    "f8E8M0FNU": "float8_e8m0fnu",
}
TYPES = (
    "i1",
    "bool",
    "i8",
    "i16",
    "i32",
    "i64",
    "si8",
    "si16",
    "si32",
    "si64",
    "ui8",
    "ui16",
    "ui32",
    "ui64",
    *_FLOATS,
    "x8",
    "x16",
    "x32",
    "x64",
    "x128",
)


class SplatValueError(ValueError):
    """The spec cannot be turned into a pattern; ``str()`` says why."""


def parse_splat(spec: str) -> bytes:
    """Pattern bytes for ``TYPE=VALUE`` (or ``b"\\0"`` for an empty spec)."""
    if spec == "":
        return b"\0"
    type_name, sep, value = spec.partition("=")
    if not sep:
        raise SplatValueError(f"splat value {spec!r} is not TYPE=VALUE (e.g. f32=1.0)")
    return encode_value(type_name, value)


def encode_value(type_name: str, value: str) -> bytes:
    """One element of ``type_name`` holding ``value``, little-endian."""
    value = value.strip()
    if not value:
        raise SplatValueError(f"missing value for type {type_name}")
    if type_name in ("i1", "bool"):
        v = value.lower()
        if v in ("1", "true"):
            return b"\1"
        if v in ("0", "false"):
            return b"\0"
        raise SplatValueError(f"{value!r} is not a {type_name} value (0, 1, true or false)")
    m = _INT.match(type_name)
    if m:
        return _encode_int(m["sign"], int(m["bits"]), value, type_name)
    m = _HEX.match(type_name)
    if m:
        digits = int(m["bits"]) // 4
        if len(value) != digits or not re.fullmatch(r"[0-9a-fA-F]+", value):
            raise SplatValueError(f"{type_name} needs exactly {digits} hex digits, got {value!r}")
        return bytes.fromhex(value)
    if type_name in _FLOATS:
        return _encode_float(type_name, value)
    raise SplatValueError(f"unknown splat type {type_name!r} (known: {', '.join(TYPES)})")


def _encode_int(sign: str, bits: int, value: str, type_name: str) -> bytes:
    try:
        v = int(value, 0)
    except ValueError:
        raise SplatValueError(f"{value!r} is not an integer for {type_name}") from None
    lo = 0 if sign == "u" else -(1 << (bits - 1))
    hi = (1 << (bits - 1)) - 1 if sign == "s" else (1 << bits) - 1
    if not lo <= v <= hi:
        raise SplatValueError(f"{value} is out of range for {type_name} ({lo}..{hi})")
    return (v & ((1 << bits) - 1)).to_bytes(bits // 8, "little")


def _encode_float(type_name: str, value: str) -> bytes:
    try:
        v = float(value)
    except ValueError:
        raise SplatValueError(f"{value!r} is not a number for {type_name}") from None
    import numpy as np

    with np.errstate(over="ignore", invalid="ignore"):
        if type_name == "f64":
            return np.float64(v).tobytes()
        # The reference parses to f32 first, then narrows (same rounding).
        f = np.array([v], np.float64).astype(np.float32)
        if type_name == "f32":
            return f.tobytes()
        if type_name == "f16":
            return f.astype(np.float16).tobytes()
        import ml_dtypes

        return f.astype(getattr(ml_dtypes, _FLOATS[type_name])).tobytes()


def check_pattern(pattern: bytes, length: int) -> str | None:
    """Why a pattern cannot fill ``length`` bytes, or None when it can."""
    if not 1 <= len(pattern) <= MAX_PATTERN:
        return f"a splat pattern must be 1 to {MAX_PATTERN} bytes (this one is {len(pattern)})"
    if len(pattern) & (len(pattern) - 1):
        return f"a splat pattern must be 1, 2, 4, 8 or 16 bytes (this one is {len(pattern)})"
    if length % len(pattern):
        return f"its size ({length} bytes) is not a multiple of the {len(pattern)}-byte pattern"
    return None


def splat_warning(spec: str, dtype) -> str | None:
    """Why splatting ``spec`` onto a tensor of ``dtype`` (a ``DType``)
    probably does not give what was meant, or None. The reference accepts
    any pattern whose width divides the tensor's size, so ``bf16=1.0`` onto
    an f32 tensor makes every element read as another number; so do
    ``f16`` onto ``bf16`` or ``i32=1`` onto ``f32``. No warning for zero
    (zero bytes are zero in every type), for a ``x..`` hex pattern as wide
    as the element (raw bits on purpose), for integers of the element's
    width (signless), or for a tensor without a dtype."""
    if not spec or dtype is None or dtype.kind == "raw":
        return None
    try:
        pattern = parse_splat(spec)
    except SplatValueError:
        return None
    if not any(pattern):
        return None
    type_name = spec.partition("=")[0]
    if dtype.kind == "quant":
        return f"{spec} onto {dtype.name}: a block-quantized type; its blocks would not decode to that value"
    from . import dtypes

    size = dtype.type_size
    own = dtypes.from_iree(type_name) or dtypes.by_name(type_name)
    integers = ("int", "uint", "bool")
    if len(pattern) == size and (own is None or (own.kind in integers and dtype.kind in integers)):
        return None
    npd = dtype.numpy_dtype()
    if npd is None:
        return None
    import math

    import numpy as np

    with np.errstate(all="ignore"):
        period = pattern * (math.lcm(len(pattern), size) // len(pattern))
        reads = [v.item() if hasattr(v, "item") else v for v in np.frombuffer(period, npd)]
        reads = [float(v) if not isinstance(v, (int, float, bool, complex)) else v for v in reads]
        meant = None
        if own is not None and own.numpy_dtype() is not None:
            meant = np.frombuffer(pattern, own.numpy_dtype())[0].item()
            if len(pattern) == size and all(v == meant or (v != v and meant != meant) for v in reads):
                return None
    shown: list[str] = []
    for v in reads:
        text = _short(v)
        if text not in shown:
            shown.append(text)
    values = " and ".join(shown[:2]) + (" and others" if len(shown) > 2 else "")
    if meant is not None:
        values += f", not {_short(meant)}"
    width = f" (a {len(pattern)}-byte pattern on {size}-byte elements)" if len(pattern) != size else ""
    return f"{spec} onto {dtype.name}{width}: the elements would read as {values}"


def splat_warnings(splats: Iterable[tuple[str, str, Any]]) -> list[str]:
    """One line per (splat value, dtype) that ``splat_warning`` warns about,
    naming the first parameters it concerns. ``splats``: (parameter name,
    splat value, the ``DType`` it is written with: its cast's, else its
    own; ``plan.splats``). The reference accepts such splats, so these are
    warnings, not errors (``irpa convert`` prints them)."""
    groups: dict[tuple[str, str], list[str]] = {}
    why: dict[tuple[str, str], str | None] = {}
    for name, value, dtype in splats:
        if not value or dtype is None:
            continue
        key = (value, dtype.name)
        if key not in why:
            why[key] = splat_warning(value, dtype)
        if why[key] is not None:
            groups.setdefault(key, []).append(name)
    lines = []
    for key, names in groups.items():
        shown = ", ".join(f"'{n}'" for n in names[:3]) + (f" and {len(names) - 3:,} more" if len(names) > 3 else "")
        lines.append(f"splat of {shown}: {why[key]}")
    return lines


def splat_warning_of_rows(value: str, dtypes: Sequence[Any]) -> str | None:
    """The warning for splatting ``value`` onto rows written with these
    ``DType``s (the TUI's splat dialog): the first warning, and how many of
    the rows it concerns when there are several (computed once per dtype:
    few in a model)."""
    if not value:
        return None
    per_dtype: dict[str, str | None] = {}
    hit = 0
    first: str | None = None
    for d in dtypes:
        if d is None:
            continue
        if d.name not in per_dtype:
            per_dtype[d.name] = splat_warning(value, d)
        w = per_dtype[d.name]
        if w is not None:
            hit += 1
            first = first or w
    if first is None:
        return None
    return first if len(dtypes) == 1 else f"{first} ({hit:,} of {len(dtypes):,} rows)"


def _short(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) and len(repr(v)) > 12 else repr(v) if isinstance(v, float) else str(v)
