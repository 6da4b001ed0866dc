"""``irpa create`` against ``iree-create-parameters``."""

import numpy as np
import pytest

from irpa_core import open_archive
from irpa_core.cli import main
from tests import oracle

FLAGS = [
    "--data=my.zeroed_param_1=4096xf32",
    "--data=my.zeroed_param_2=2x4096xi16",
    "--splat=my.splat_param_1=4096xf32=4.1",
    "--splat=my.splat_param_2=2x4096xi16=123",
    "--splat=s.bf16=8xbf16=1.5",
    "--data=d.i8=3xi8",
    "--splat=s.f8=16xf8E4M3FN=0.5",
    "--data=scalar=f32",
]


def test_same_entries_as_reference(tmp_path):
    ref, ours = tmp_path / "ref.irpa", tmp_path / "ours.irpa"
    oracle.run_tool("iree-create-parameters", f"--output={ref}", "--quiet", *FLAGS)
    assert main(["create", f"--output={ours}", "--quiet", *FLAGS]) == 0
    a, b = oracle.load(ref), oracle.load(ours)
    assert set(a) == set(b)
    for k in a:
        assert (a[k].kind, a[k].length, a[k].pattern, a[k].data) == (b[k].kind, b[k].length, b[k].pattern, b[k].data), k
    shapes = {e.name: (e.dtype_name, e.shape) for e in open_archive(ours)}
    assert shapes["my.zeroed_param_2"] == ("i16", (2, 4096)) and shapes["scalar"] == ("f32", ())


def test_data_with_value_works_where_the_reference_fails(tmp_path):
    flag = "--data=my.pattern_param_2=8x2xf32=2.1"
    r = oracle.run_tool("iree-create-parameters", f"--output={tmp_path / 'ref.irpa'}", flag, check=False)
    assert r.returncode != 0  # the reference's own help example
    out = tmp_path / "ours.irpa"
    assert main(["create", f"--output={out}", "--quiet", flag]) == 0
    got = oracle.load(out)["my.pattern_param_2"]
    assert got.kind == "data" and np.array_equal(np.frombuffer(got.data, np.float32), np.full(16, 2.1, np.float32))


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--splat=a=4xf32", "needs a value"),
        ("--data=a=4xq9", "unknown splat type"),
        ("--data=a=2yxf32", "not a list of integers"),
        ("--data=a", "expected NAME=SHAPExTYPE"),
        ("--splat=a=4xi8=300", "out of range"),
    ],
)
def test_errors(tmp_path, capsys, flag, message):
    out = tmp_path / "o.irpa"
    assert main(["create", f"--output={out}", flag]) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_bool_values(tmp_path):
    out = tmp_path / "o.irpa"
    assert (
        main(
            [
                "create",
                f"--output={out}",
                "--quiet",
                "--data=m=4xi1=1",
                "--splat=n=4xbool=true",
                "--splat=x=4xx32=CAFEF00D",
            ]
        )
        == 0
    )
    got = oracle.load(out)
    assert got["m"].data == b"\1" * 4 and got["n"].pattern == b"\1"
    assert got["x"].pattern == bytes.fromhex("CAFEF00D") and got["x"].length == 16
