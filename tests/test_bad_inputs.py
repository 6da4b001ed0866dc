"""The catalogue of bad inputs: each case, the one line a person sees.

Every case: exit 1, ``irpa: error: ...`` on one line, no traceback, no
output file (nor temporary), and the inputs byte-for-byte untouched.
"""

import hashlib
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from irpa_core.formats import irpa as F
from tests.fixtures import make_irpa_with_iree, make_safetensors


def _digest(paths):
    out = {}
    for p in paths:
        if os.path.isfile(p):
            out[p] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return out


def _setup(tmp):
    good = make_safetensors(tmp / "good.safetensors", {"w": np.ones(16, np.float32), "a=b": np.ones(6, np.int8)})
    v01 = tmp / "v01.irpa"
    blob = bytearray(make_irpa_with_iree(tmp / "v.irpa", "--data=x=4xf32").read_bytes())
    blob[6:8] = struct.pack("<H", 1)
    v01.write_bytes(bytes(blob))
    unknown = tmp / "unknown-type.irpa"
    blob = bytearray((tmp / "v.irpa").read_bytes())
    table = F.HEADER.unpack_from(blob)[7]
    blob[table + 8 : table + 12] = struct.pack("<I", 7)
    unknown.write_bytes(bytes(blob))
    unreadable = tmp / "unreadable.irpa"
    unreadable.write_bytes((tmp / "v.irpa").read_bytes())
    os.chmod(unreadable, 0)
    (tmp / "nodir").mkdir()
    (tmp / "outdir").mkdir()
    return good


# (case, argv with {tmp}, message fragment, output path or None)
CASES = [
    ("missing file", ["dump", "{tmp}/nope.gguf"], "nope.gguf: no such file", None),
    ("directory without a model", ["dump", "{tmp}/nodir"], "holds no model.safetensors.index.json", None),
    ("unreadable file", ["dump", "{tmp}/unreadable.irpa"], "Permission denied", None),
    ("unsupported version", ["dump", "{tmp}/v01.irpa"], "IRPA version 0.1 is not supported", None),
    ("unknown entry type", ["dump", "{tmp}/unknown-type.irpa"], "unknown type 7", None),
    (
        "output directory missing",
        ["convert", "--parameters={tmp}/good.safetensors", "--output={tmp}/no/o.irpa"],
        "does not exist",
        "{tmp}/no/o.irpa",
    ),
    (
        "output directory not writable",
        ["convert", "--parameters={tmp}/good.safetensors", "--output=/sys/irpa-test.irpa"],
        "cannot create a file in /sys",
        None,
    ),
    (
        "output path is a directory",
        ["convert", "--parameters={tmp}/good.safetensors", "--output={tmp}/outdir"],
        "is a directory",
        None,
    ),
    (
        "name containing '='",
        ["convert", "--parameters={tmp}/good.safetensors", "--splat=a=b=i8=1", "--output={tmp}/eq.irpa"],
        r"write '=' inside a name as '\='",
        "{tmp}/eq.irpa",
    ),
    (
        "bad splat value",
        ["convert", "--parameters={tmp}/good.safetensors", "--splat=w=f32=one", "--output={tmp}/o.irpa"],
        "parameter 'w': 'one' is not a number",
        "{tmp}/o.irpa",
    ),
    (
        "splat not dividing the size",
        ["convert", "--parameters={tmp}/good.safetensors", "--splat=a\\=b=f32=1", "--output={tmp}/o.irpa"],
        "not a multiple of the 4-byte pattern",
        "{tmp}/o.irpa",
    ),
    (
        "rename collision",
        ["convert", "--parameters={tmp}/good.safetensors", "--rename=w=a\\=b", "--output={tmp}/o.irpa"],
        "collides with parameter",
        "{tmp}/o.irpa",
    ),
    ("unknown flag", ["convert", "--nope", "--output={tmp}/o.irpa"], "unrecognized arguments", "{tmp}/o.irpa"),
    ("no output", ["convert", "--parameters={tmp}/good.safetensors"], "no output given", None),
    (
        "bad plan file",
        ["convert", "--parameters={tmp}/good.safetensors", "--plan={tmp}/good.safetensors", "--output={tmp}/o.irpa"],
        "plan is not valid JSON",
        "{tmp}/o.irpa",
    ),
    (
        "file size limit mid-write",
        ["LIMIT", "convert", "--parameters={tmp}/big.safetensors", "--output={tmp}/big.irpa"],
        "file size limit reached",
        "{tmp}/big.irpa",
    ),
]


@pytest.mark.parametrize("case, argv, message, output", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, case, argv, message, output):
    _setup(tmp_path)
    as_user: dict = {}
    prefix: list[str] = []
    if case == "unreadable file" and os.geteuid() == 0:
        # Root reads anything: without the capabilities that override file
        # modes (setpriv, util-linux), or else as 'nobody', the mode bites.
        if shutil.which("setpriv"):
            prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
        else:
            os.chmod(tmp_path, 0o755)
            as_user = {"user": 65534, "group": 65534}
    if case == "file size limit mid-write":
        make_safetensors(tmp_path / "big.safetensors", {f"t{i}": np.zeros(1 << 18, np.float32) for i in range(4)})
    inputs = [str(p) for p in tmp_path.iterdir()]
    before = _digest(inputs)
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code = "import sys; from irpa_core.cli import main; sys.exit(main(sys.argv[1:]))"
    if args[0] == "LIMIT":
        args = args[1:]
        code = "import resource; resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20)); " + code
    try:
        r = subprocess.run(
            [*prefix, sys.executable, "-c", code, *args], capture_output=True, text=True, cwd="/", **as_user
        )
    except PermissionError:
        pytest.skip("running as root and 'nobody' cannot run this Python: permissions cannot bite here")
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith("irpa: warning:")]
    assert len(lines) == 1 and lines[0].startswith("irpa: error: "), r.stderr
    assert message in lines[0], lines[0]
    assert "Traceback" not in r.stderr
    if output:
        out = output.replace("{tmp}", str(tmp_path))
        assert not os.path.exists(out)
        d = os.path.dirname(out)
        if os.path.isdir(d):
            assert not [p for p in os.listdir(d) if ".irpa-tmp-" in p]
    assert _digest(inputs) == before


def test_tui_error_screen_instead_of_crash(tmp_path):
    import asyncio

    from irpa_tui.__main__ import main as tui_main  # noqa: F401 - importable without a terminal
    from irpa_tui.app import IrpaApp

    async def run():
        app = IrpaApp([str(tmp_path / "missing.irpa")])
        async with app.run_test() as pilot:
            await pilot.pause()
            assert type(app.screen).__name__ == "ErrorScreen"
            assert "no such file" in str(app.screen.message)

    asyncio.run(run())


def test_unreadable_file_message_even_as_root(tmp_path, monkeypatch, capsys):
    """Root reads any file, so the permission case of the catalogue is also
    checked with the open itself failing as it does for an unprivileged user."""
    import builtins

    from irpa_core.cli import main

    target = make_irpa_with_iree(tmp_path / "locked.irpa", "--data=x=4xf32")
    real_open, real_os_open = builtins.open, os.open

    def deny(path, *a, **k):
        if str(path) == str(target):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)

    def deny_os(path, *a, **k):
        if str(path) == str(target):
            raise PermissionError(13, "Permission denied", str(path))
        return real_os_open(path, *a, **k)

    monkeypatch.setattr(builtins, "open", deny)
    monkeypatch.setattr(os, "open", deny_os)
    assert main(["dump", str(target)]) == 1
    err = capsys.readouterr().err
    assert err == f"irpa: error: {target}: cannot read: Permission denied\n"
