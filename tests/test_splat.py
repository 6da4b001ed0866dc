"""Splat values, byte for byte against iree-convert-parameters."""

import pytest

from irpa_core.splat import SplatValueError, check_pattern, parse_splat
from tests import oracle
from tests.fixtures import make_irpa_with_iree

# Every type the reference accepts, with values that exercise rounding and range.
SPECS = [
    "i8=123",
    "i8=-128",
    "i8=255",
    "si8=-1",
    "ui8=255",
    "i16=300",
    "i16=65535",
    "si16=-2",
    "ui16=65535",
    "i32=7",
    "si32=-7",
    "ui32=4294967295",
    "i64=-1",
    "si64=-9",
    "ui64=18446744073709551615",
    "i8=0x10",
    "f16=1.0",
    "f16=0.1",
    "f16=70000",
    "f16=-inf",
    "bf16=1.0",
    "bf16=3.3",
    "bf16=1.005859375",
    "f32=4.5",
    "f32=nan",
    "f32=-0",
    "f32=1e3",
    "f64=2.5",
    "f8E4M3FN=1.0",
    "f8E4M3FN=0.1",
    "f8E5M2=0.3",
    "f8E4M3FNUZ=1.0",
    "f8E5M2FNUZ=nan",
    "f8E8M0FNU=3",
    "x8=AB",
    "x16=0102",
    "x32=CAFEF00D",
    "x64=0102030405060708",
    "x128=00112233445566778899AABBCCDDEEFF",
]


def _reference_patterns(tmp_path, specs):
    src = make_irpa_with_iree(tmp_path / "src.irpa", *[f"--splat=p{i}=16xi8=0" for i in range(len(specs))])
    out = tmp_path / "ref.irpa"
    oracle.run_tool(
        "iree-convert-parameters",
        f"--parameters={src}",
        f"--output={out}",
        "--quiet",
        *[f"--splat=p{i}={s}" for i, s in enumerate(specs)],
    )
    ref = oracle.load(out)
    return [ref[f"p{i}"].pattern for i in range(len(specs))]


def test_same_patterns_as_reference(tmp_path):
    ref = _reference_patterns(tmp_path, SPECS)
    for spec, expected in zip(SPECS, ref):
        assert parse_splat(spec) == expected, spec


def test_zero_and_bool():
    assert parse_splat("") == b"\0"
    assert parse_splat("i1=1") == b"\1" and parse_splat("bool=false") == b"\0"


@pytest.mark.parametrize(
    "spec, reason",
    [
        ("i8=300", "out of range"),
        ("ui8=-1", "out of range"),
        ("si16=40000", "out of range"),
        ("i8=1.5", "not an integer"),
        ("x8=zz", "hex digits"),
        ("x32=CAFE", "exactly 8 hex digits"),
        ("f32=abc", "not a number"),
        ("f32=1,2", "not a number"),
        ("i32=", "missing value"),
        ("c64=1", "unknown splat type"),
        ("f32", "TYPE=VALUE"),
    ],
)
def test_bad_values_explain(spec, reason):
    with pytest.raises(SplatValueError, match=reason):
        parse_splat(spec)


def test_check_pattern():
    assert check_pattern(b"\0" * 4, 12) is None
    assert "multiple" in check_pattern(b"\0" * 4, 6)
    assert "1 to 16" in check_pattern(b"\0" * 32, 64)
