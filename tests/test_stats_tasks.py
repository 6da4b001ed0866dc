"""Exact statistics over threads: the same results as one thread, memory bounded."""

import json
import os
import threading

import numpy as np
import pytest

from irpa_core import Cancelled, open_archive
from irpa_core import stats as S
from irpa_core.stats import api, decoding
from irpa_core.stats.tasks import TASK_CHUNKS
from tests.fixtures import make_gguf, quantized_bytes
from tests.proctree import peak_tree_rss


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 4,096 values: a small file takes the paths a big one does."""
    monkeypatch.setattr(decoding, "CHUNK_VALUES", 4096)


def _model(tmp_path):
    rng = np.random.default_rng(4)
    wide = np.concatenate([rng.integers(0, 100, 9000), rng.integers(0, 1 << 30, 9000)]).astype(np.int32)
    tensors = {
        "blk.0.big": rng.standard_normal(60_000).astype(np.float32),  # 15 chunks: spread over tasks
        "blk.0.q4k": ("Q4_K", quantized_bytes("Q4_K", 64, 512, seed=1)),
        "blk.0.q8": ("Q8_0", quantized_bytes("Q8_0", 32, 512, seed=2)),
        "blk.0.half": rng.standard_normal(20_000).astype(np.float16),
        "blk.0.ids": rng.integers(-50, 50, 30_000).astype(np.int8),
        "blk.0.wide": wide,  # too wide to count value by value after a while
    }
    tensors |= {f"blk.{i}.norm": rng.standard_normal(64).astype(np.float32) for i in range(20)}
    return make_gguf(tmp_path / "m.gguf", tensors)


def _json(results):
    return [(e.name, st.to_json()) for e, st in results]


def test_threads_give_what_one_thread_gives(tmp_path, small_chunks, monkeypatch):
    from irpa_core.stats import tasks

    entries = open_archive(_model(tmp_path)).entries
    seen = []
    ran_on = set()
    real = tasks.run_items
    monkeypatch.setattr(tasks, "run_items", lambda *a: ran_on.add(threading.current_thread().name) or real(*a))
    spread = list(S.stats_many(entries, threads=3, progress=lambda d, t, e: seen.append((d, t, e.name))))
    assert len({n for n in ran_on if n.startswith("irpa-stats")}) == 3  # the work really spread
    monkeypatch.setattr(tasks, "run_items", real)
    alone = list(S.stats_many(entries, threads=1))
    default = list(S.stats_many(entries))
    assert [e.name for e, _ in spread] == [e.name for e in entries]
    assert _json(spread) == _json(alone) == _json(default)
    assert seen[-1][0] == seen[-1][1] == sum(e.length for e in entries)
    assert [d for d, _t, _n in seen] == sorted(d for d, _t, _n in seen)


def test_compiled_and_numpy_paths_give_the_same_results(tmp_path, small_chunks, monkeypatch, compiled_kernels):
    entries = open_archive(_model(tmp_path)).entries
    monkeypatch.setattr(decoding, "compiled", lambda values=0, decode_only=False: compiled_kernels)
    fast = _json(S.stats_many(entries, threads=2))
    monkeypatch.setattr(decoding, "compiled", lambda values=0, decode_only=False: None)
    assert _json(S.stats_many(entries, threads=2)) == fast


LOADED = r"""
import sys
sys.modules["numba"] = None  # numba cannot be imported: the machine code is loaded without it
from irpa_core import open_archive
from irpa_core import stats as S
from irpa_core.stats import decoding
a = open_archive(sys.argv[1])
list(S.stats_many(a.entries))
print(decoding._compiled is not None, "gguf" in sys.modules, "llvmlite" in sys.modules, end=" ")
decoding.COMPILED_MIN_VALUES = 100_000
list(S.stats_many(a.entries))
print(decoding._compiled is not None, decoding._unavailable)
"""


def test_the_compiled_kernels_are_loaded_for_big_passes_only_and_without_numba(tmp_path, compiled_kernels):
    """Loading them costs ~35 ms: a pass over fewer values than
    ``COMPILED_MIN_VALUES`` goes without them (llvmlite not even imported).
    Once their machine code is made, numba is not needed to load it. gguf
    (~60 ms) is not imported for types we decode ourselves."""
    import subprocess
    import sys

    p = _model(tmp_path)  # about 200,000 values
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, "-c", LOADED, str(p)], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["False", "False", "False", "True", "False"]


NO_NUMBA = r"""
import pathlib, sys, warnings
sys.modules["numba"] = None  # numba cannot be imported
from irpa_core import open_archive
from irpa_core import stats as S
from irpa_core.stats import decoding, native
native._folders = lambda: [pathlib.Path(sys.argv[2])]  # no machine code made yet
decoding.COMPILED_MIN_VALUES = 1000
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    out = [st.to_json() for _e, st in S.stats_many(open_archive(sys.argv[1]).entries)]
print(len(out), [str(w.message).split(" (")[0] for w in caught])
"""


def test_without_numba_to_make_them_the_figures_come_from_numpy_and_a_warning_says_so(tmp_path):
    import subprocess
    import sys

    p = _model(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    args = [sys.executable, "-c", NO_NUMBA, str(p), str(tmp_path / "cache")]
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == f"{len(open_archive(p).entries)} ['compiled statistics kernels unavailable']"


def test_cli_jobs_1_and_the_default_print_the_same(tmp_path, small_chunks, capsys):
    from irpa_core.cli import main

    p = str(_model(tmp_path))
    out = []
    for flags in ([], ["--jobs", "1"], ["--jobs", "2"], ["--anomalies"], ["--anomalies", "--jobs", "1"]):
        assert main(["stats", p, "--json", *flags]) == 0
        out.append(json.loads(capsys.readouterr().out))
    assert out[0] == out[1] == out[2] and out[3] == out[4]
    assert main(["stats", p, "--jobs", "0"]) == 1


def test_cancel_stops_the_threads(tmp_path, small_chunks):
    entries = open_archive(_model(tmp_path)).entries
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        for _ in S.stats_many(entries, threads=2, cancel=cancel, progress=lambda *a: cancel.set()):
            pass
    assert not [t for t in threading.enumerate() if t.name.startswith("irpa-stats")]


def test_a_file_replaced_since_it_was_opened_is_still_the_one_read(tmp_path, small_chunks):
    p = _model(tmp_path)
    entries = open_archive(p).entries
    before = _json(S.stats_many(entries, threads=1))
    other = make_gguf(tmp_path / "other.gguf", {e.name: np.zeros(8, np.float32) for e in entries})
    os.replace(other, p)  # other bytes under the path
    assert _json(S.stats_many(entries, threads=2)) == before


def test_tasks_keep_the_order_of_the_chunks():
    spans = [(i, 1) for i in range(10)]
    plans = [("a", None, spans, None), ("b", None, [], "ready"), ("c", None, [(0, 1)], None)]
    tasks = api._tasks(plans)
    flat = [(k, s) for task in tasks for k, run in task for s in run]
    assert flat == [(0, s) for s in spans] + [(2, (0, 1))]
    assert all(sum(len(run) for _k, run in task) <= TASK_CHUNKS for task in tasks)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_memory_stays_bounded(tmp_path):
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    q8 = rng.integers(-128, 128, (4096, 34 * 128), dtype=np.int8).view(np.uint8)
    q8.reshape(4096, 128, 34)[:, :, :2] = np.frombuffer(np.float16(0.01).tobytes(), np.uint8)  # sane scales
    q4k = rng.integers(0, 256, (6144, 144 * 32), dtype=np.uint8)  # random: NaN/Inf scales too
    p = make_gguf(
        tmp_path / "m.gguf",
        {"q8": ("Q8_0", q8), "q4k": ("Q4_K", q4k), **{f"n{i}": np.ones(4096, np.float32) for i in range(8)}},
    )
    assert os.path.getsize(p) > 40 << 20
    cmd = [sys.executable, "-m", "irpa_core.cli", "stats", "--json", "--jobs", "4", str(p)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": os.getcwd()})
    peak = peak_tree_rss(proc)
    assert proc.returncode == 0
    assert peak < 300 << 20, f"peak {peak >> 20} MiB"


FAULTS = r"""
import resource, sys
from irpa_core import open_archive
from irpa_core import stats as S
a = open_archive(sys.argv[1])
list(S.stats_many(a.entries, threads=1))  # the first pass takes what it needs
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
list(S.stats_many(a.entries, threads=1))
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_a_pass_does_not_take_its_pages_again_for_each_piece(tmp_path):
    """A chunk is decoded in pieces whose temporaries are allocated and
    freed again and again: the process keeps the freed memory
    (``stats.allocator``) instead of faulting a few megabytes in per piece
    (4,000 page faults in this pass before; 430,000 and a second of system
    time over the real Gemma GGUF)."""
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    tensors = {  # 10M values, each chunk in 4 pieces; the mix of types gemma has
        "q8": ("Q8_0", quantized_bytes("Q8_0", 1024, 4096, seed=3)),
        "f": rng.standard_normal(3_000_000).astype(np.float32),
        "q5": ("Q5_0", quantized_bytes("Q5_0", 1024, 2048, seed=4)),
    }
    p = make_gguf(tmp_path / "m.gguf", tensors)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, "-c", FAULTS, str(p)], capture_output=True, text=True, env=env, check=True)
    assert int(out.stdout) < 1000, f"{out.stdout.strip()} page faults in a second pass over 10M values"
