"""The TUI's cache of exact statistics, and the engine's hooks it relies on."""

import math
import os

import numpy as np

from irpa_core import open_archive
from irpa_core import stats as S
from irpa_core.stats import api, tasks
from irpa_tui.stats_cache import StatsCache
from tests.fixtures import make_safetensors


def _count_reads(monkeypatch) -> list:
    reads: list = []
    real = api.read_bytes
    for module in (api, tasks):  # samples; exact passes
        monkeypatch.setattr(module, "read_bytes", lambda *a, **k: reads.append(a) or real(*a, **k))
    return reads


def test_exact_results_are_cached_until_the_file_changes(tmp_path, monkeypatch):
    cache = StatsCache()
    hooks = {"cached": cache.get, "on_result": cache.remember}
    a = np.random.default_rng(10).standard_normal(5000).astype(np.float32)
    p = make_safetensors(tmp_path / "c.safetensors", {"a": a})
    e = open_archive(p).entries[0]
    assert cache.get(e) is None
    first = S.compute_stats(e, **hooks)
    assert cache.get(e) is first
    reads = _count_reads(monkeypatch)
    assert S.compute_stats(e, **hooks) is first and not reads  # revisiting reads nothing
    # The file changed in place (same size, new bytes, a new modification
    # time): the open entry reads the new bytes, so the result is dropped.
    b = (a * 2).astype(np.float32)
    with open(p, "r+b") as f:
        f.seek(e.offset)
        f.write(b.tobytes())
    os.utime(p, ns=(os.stat(p).st_atime_ns, os.stat(p).st_mtime_ns + 10**9))
    assert cache.get(e) is None
    again = S.compute_stats(e, **hooks)
    assert reads and math.isclose(again.max, float(b.max()))
    # Reopened, the same bytes: a new entry object, the same cached result.
    assert cache.get(open_archive(p).entries[0]) is again


def test_the_engine_keeps_nothing_and_small_samples_are_exact_passes(tmp_path, monkeypatch):
    a = np.arange(1000, dtype=np.float32)
    e = open_archive(make_safetensors(tmp_path / "n.safetensors", {"a": a})).entries[0]
    S.compute_stats(e)
    reads = _count_reads(monkeypatch)
    S.compute_stats(e)
    assert reads  # no cache of its own: read again
    cache = StatsCache()
    st = S.sample_stats(e, cached=cache.get, on_result=cache.remember)  # small: the exact pass
    assert st.exact and cache.get(e) is st
    assert S.sample_stats(e, as_dtype="f32", cached=cache.get) is st  # the same dtype read as


def test_the_oldest_go_and_estimates_are_not_kept(tmp_path):
    rng = np.random.default_rng(3)
    p = make_safetensors(
        tmp_path / "m.safetensors", {f"t{i}": rng.standard_normal(100).astype(np.float32) for i in range(3)}
    )
    e0, e1, e2 = open_archive(p).entries
    cache = StatsCache(size=2)
    for e in (e0, e1, e2):
        cache.remember(e, S.compute_stats(e))
    assert len(cache) == 2 and cache.get(e0) is None and cache.get(e1) is not None
    big = make_safetensors(tmp_path / "big.safetensors", {"w": rng.standard_normal(1 << 19).astype(np.float32)})
    eb = open_archive(big).entries[0]
    est = S.sample_stats(eb)
    cache.remember(eb, est)
    assert not est.exact and cache.get(eb) is None
    cache.forget_file(str(p))
    assert len(cache) == 0
