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
SLOW = (
    "import sys, time; import irpa_core.write as w; orig = w.write_archive\n"
    "def slow(*a, **k):\n"
    "    k['progress'] = lambda ev: time.sleep(0.002)\n"
    "    return orig(*a, **k)\n"
    "w.write_archive = slow; w.WINDOW = 1 << 18\n"
    "from irpa_core.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15, 0.3])
def test_sigkill_never_leaves_a_partial_file(tmp_path, big, delay):
    out = tmp_path / "out.irpa"
    out.write_bytes(PREVIOUS)
    p = subprocess.Popen([sys.executable, "-c", SLOW, "convert", f"--parameters={big}", f"--output={out}", "--quiet"])
    # Kill once the write is under way (its temporary exists), plus a delay.
    for _ in range(500):
        if [n for n in os.listdir(tmp_path) if TMP_MARK in n] or p.poll() is not None:
            break
        time.sleep(0.01)
    assert p.poll() is None, "the write finished before it could be killed: slow it down further"
    time.sleep(delay)
    p.send_signal(signal.SIGKILL)
    p.wait()
    # Killed mid-copy (the write takes > 0.5 s with the slow hook): the
    # destination is exactly its previous content, the temporary is left.
    assert out.read_bytes() == PREVIOUS
    leftovers = [n for n in os.listdir(tmp_path) if TMP_MARK in n]
    assert len(leftovers) == 1 and leftovers[0].startswith(".out.irpa" + TMP_MARK)
    # The next write to the same destination cleans the dead writer's temp.
    r = subprocess.run(
        [sys.executable, "-m", "irpa_core.cli", "convert", f"--parameters={big}", f"--output={out}", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert not [n for n in os.listdir(tmp_path) if TMP_MARK in n]
    assert len(oracle.load(out)) == 16
