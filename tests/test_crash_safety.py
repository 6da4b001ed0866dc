"""SIGKILL ``irpa convert`` at several points of a large write: the
destination is absent or its previous content, never partial; leftovers are
recognisable and cleaned by the next write to the same destination."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from irpa_core.write import TMP_MARK
from tests import oracle
from tests.fixtures import make_safetensors

PREVIOUS = b"previous content of the destination"


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    # 64 MiB in 16 tensors: long enough to kill mid-write.
    return make_safetensors(d / "big.safetensors", {f"t{i}": np.full(1 << 20, i, np.float32) for i in range(16)})


# A progress hook slows the writer down (1 ms per event) so kills land mid-copy.
SLOW = ("import sys, time; import irpa_core.write as w; orig = w.write_archive\n"
        "def slow(*a, **k):\n"
        "    k['progress'] = lambda ev: time.sleep(0.002)\n"
        "    return orig(*a, **k)\n"
        "w.write_archive = slow; w.CHUNK = 1 << 18\n"
        "from irpa_core.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.3, 0.6])
def test_sigkill_never_leaves_a_partial_file(tmp_path, big, delay):
    out = tmp_path / "out.irpa"
    out.write_bytes(PREVIOUS)
    p = subprocess.Popen([sys.executable, "-c", SLOW, "convert", f"--parameters={big}", f"--output={out}",
                          "--quiet"])
    time.sleep(delay)
    p.send_signal(signal.SIGKILL)
    p.wait()
    data = out.read_bytes()
    if data != PREVIOUS:
        # The rename happened before the kill: it must be the complete file.
        got = oracle.load(out)
        assert len(got) == 16 and all(r.length == 4 << 20 for r in got.values())
    leftovers = [n for n in os.listdir(tmp_path) if TMP_MARK in n]
    assert all(n.startswith(".out.irpa" + TMP_MARK) for n in leftovers)
    # The next write to the same destination cleans the dead writer's temp.
    r = subprocess.run([sys.executable, "-m", "irpa_core.cli", "convert", f"--parameters={big}",
                        f"--output={out}", "--quiet"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not [n for n in os.listdir(tmp_path) if TMP_MARK in n]
    assert len(oracle.load(out)) == 16
