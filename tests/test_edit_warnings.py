"""Edits that warn on the command line: a splat whose pattern does not make
values of the tensor's dtype (a warning, exit 0, as the reference accepts
it), and ``--strict`` for edits that match nothing."""

import numpy as np
import pytest

from irpa_core import dtypes
from irpa_core.cli import main
from irpa_core.splat import splat_warning
from tests import oracle
from tests.fixtures import make_safetensors


@pytest.mark.parametrize(
    ("spec", "dtype", "reads"),
    [
        ("bf16=1.0", "f32", np.array([0x3F803F80], np.uint32).view(np.float32)[0]),
        ("i8=3", "f16", np.array([0x0303], np.uint16).view(np.float16)[0]),
        ("f16=1", "bf16", 0.0078125),
        ("i32=1", "f32", np.array([1], np.uint32).view(np.float32)[0]),
    ],
)
def test_mismatched_splats_warn_with_what_the_elements_read_as(spec, dtype, reads):
    w = splat_warning(spec, dtypes.by_name(dtype))
    assert w is not None and f"onto {dtype}" in w and f"{float(reads):.6g}" in w


@pytest.mark.parametrize(
    ("spec", "dtype"),
    [("", "f32"), ("f32=0", "bf16"), ("f32=2.5", "f32"), ("x32=3F800000", "f32"), ("i32=-1", "u32"), ("i8=1", "u8")],
)
def test_fitting_splats_do_not_warn(spec, dtype):
    assert splat_warning(spec, dtypes.by_name(dtype)) is None


def test_convert_warns_once_per_value_and_dtype_and_still_writes(tmp_path, capsys):
    src = make_safetensors(
        tmp_path / "m.safetensors",
        {"a": np.ones(8, np.float32), "b": np.ones(8, np.float32), "h": np.ones(8, np.float16)},
    )
    out = tmp_path / "o.irpa"
    args = [f"--parameters={src}", f"--output={out}", "--quiet", "--splat=a=bf16=1.0", "--splat=b=bf16=1.0"]
    assert main(["convert", *args, "--splat=h=f16=1"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("irpa: warning: splat of 'a', 'b': bf16=1.0 onto f32")
    assert oracle.load(out)["a"].pattern == bytes([0x80, 0x3F])  # written as asked: the reference accepts it


def test_convert_warns_by_the_dtype_the_output_has(tmp_path, capsys):
    """A cast tensor is written with its cast's dtype: a splat is checked
    against that one (f16=1 onto an f32 cast to f16 fits)."""
    src = make_safetensors(tmp_path / "m.safetensors", {"a": np.ones(8, np.float32), "b": np.ones(8, np.float16)})
    out = tmp_path / "o.irpa"
    args = [f"--parameters={src}", f"--output={out}", "--quiet", "--cast=a=f16", "--cast=b=f32"]
    assert main(["convert", *args, "--splat=a=f16=1", "--splat=b=f16=1"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("irpa: warning: splat of 'b': f16=1 onto f32"), err


def test_strict_makes_unmatched_edits_an_error(tmp_path, capsys):
    src = make_safetensors(tmp_path / "m.safetensors", {"a": np.ones(8, np.float32)})
    out = tmp_path / "o.irpa"
    line = [f"--parameters={src}", f"--output={out}", "--quiet", "--exclude=nothing", "--rename=zz=yy"]
    assert main(["convert", *line]) == 0
    assert capsys.readouterr().err.count("irpa: warning:") == 2
    out.unlink()
    assert main(["convert", *line, "--strict"]) == 1
    err = capsys.readouterr().err
    assert "irpa: error: --strict: 2 edit(s) match no parameter (exclude nothing, rename zz -> yy)" in err
    assert not out.exists()
    assert main(["convert", f"--parameters={src}", f"--output={out}", "--quiet", "--strict"]) == 0
    assert main(["verify", f"--parameters={src}", str(out), "--exclude=nothing", "--strict"]) == 1
