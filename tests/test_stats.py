"""Statistics against numpy (float64 reference) and gguf.quants.dequantize."""

import dataclasses
import math
import threading

import gguf
import ml_dtypes
import numpy as np
import pytest
from gguf import quants

from irpa_core import Cancelled, dtypes, open_archive
from irpa_core import stats as S
from irpa_core.model import Entry
from irpa_core.stats import decoding
from tests.fixtures import make_gguf, make_irpa_with_iree, make_safetensors, quantized_bytes


def _ref_check(st, values):
    v = np.asarray(values, np.float64).ravel()
    fin = v[np.isfinite(v)]
    assert st.count == v.size
    assert st.nans == np.isnan(v).sum() and st.infs == np.isinf(v).sum()
    assert st.zeros == (v == 0).sum()
    if fin.size:
        assert st.min == fin.min() and st.max == fin.max()
        assert math.isclose(st.mean, fin.mean(), rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(st.std, fin.std(), rel_tol=1e-7, abs_tol=1e-12)
        ordered = np.sort(fin)
        for p, got in st.percentiles.items():
            want = ordered[int(p) * (fin.size - 1) // 100]  # the documented rank
            if st.percentiles_exact:
                assert got == want, (p, got, want)
            else:
                assert abs(got - want) <= S.PERCENTILE_ERROR * abs(want) + 1e-38, (p, got, want)
        assert sum(st.hist_counts) == fin.size


PLAIN = [d for d in dtypes.PLAIN if d.kind in ("float", "int", "uint", "bool")]


@pytest.mark.parametrize("d", PLAIN, ids=lambda d: d.name)
def test_every_plain_dtype(tmp_path, d):
    rng = np.random.default_rng(0)
    raw = rng.standard_normal(5000) * (3 if d.kind == "float" else 40)
    if d.kind == "uint":
        raw = np.abs(raw)
    arr = raw.astype(d.numpy_dtype())
    arr[:50] = 0
    p = tmp_path / "x.irpa"
    make_irpa_with_iree(p, f"--data=x={arr.nbytes}xi8")
    blob = bytearray(p.read_bytes())
    e = open_archive(p).entries[0]
    blob[e.offset : e.offset + arr.nbytes] = arr.tobytes()
    p.write_bytes(bytes(blob))
    e = open_archive(p).entries[0]
    assert e.dtype is None and not S.can_decode(e)
    st = S.compute_stats(e, as_dtype=d)  # a raw entry viewed as d
    _ref_check(st, arr.astype(np.float64))
    assert st.exact
    # Integers, bools and every float of 10 mantissa bits or fewer: exact.
    assert st.percentiles_exact == (d.name not in ("f32", "f64")), d.name
    assert st.integer == (d.kind in ("int", "uint", "bool"))
    if st.integer:
        _check_integer_hist(st, arr.astype(np.float64))


def _check_integer_hist(st, values):
    """Whole-integer bins holding exactly numpy's counts."""
    edges = np.asarray(st.hist_edges)
    assert np.all(edges == np.round(edges)) and edges[0] == values.min() and edges[-1] > values.max()
    want, _ = np.histogram(values, bins=edges)
    assert list(want) == st.hist_counts


def test_integer_ids_exact_percentiles_and_bins(tmp_path):
    ids = np.random.default_rng(7).integers(0, 262_144, 100_000).astype(np.int64)
    e = open_archive(make_safetensors(tmp_path / "ids.safetensors", {"ids": ids})).entries[0]
    st = S.compute_stats(e, threads=2)
    _ref_check(st, ids)
    assert st.percentiles_exact and st.percentile_error == 0
    assert all(v == int(v) for v in st.percentiles.values())  # no fractional ids
    _check_integer_hist(st, ids.astype(np.float64))
    # A narrow range gets one bin per value: no resampling spikes.
    small = np.random.default_rng(8).integers(-3, 9, 5000).astype(np.int8)
    st = S.compute_stats(_mem_entry(small))
    assert st.hist_edges == [float(v) for v in range(-3, 10)] and st.hist_counts == list(np.bincount(small + 3))
    flags = np.array([True, False, True, True])
    st = S.compute_stats(_mem_entry(flags))
    assert st.hist_edges == [0.0, 1.0, 2.0] and st.hist_counts == [1, 3] and st.percentiles["50"] == 1


def test_integer_range_too_wide_falls_back_to_buckets(tmp_path, monkeypatch):
    monkeypatch.setattr(decoding, "CHUNK_VALUES", 4096)
    rng = np.random.default_rng(9)
    wide = np.concatenate([rng.integers(0, 100, 30_000), rng.integers(0, 1 << 40, 30_000)]).astype(np.int64)
    st = S.compute_stats(_mem_entry(wide), threads=2)
    assert not st.percentiles_exact and st.integer
    _ref_check(st, wide)


def test_stats_many_matches_one_by_one(tmp_path):
    rng = np.random.default_rng(11)
    tensors = {f"t{i}": rng.standard_normal(rng.integers(1, 3000)).astype(np.float32) for i in range(40)}
    tensors["ids"] = rng.integers(0, 50, 999).astype(np.int32)
    p = make_safetensors(tmp_path / "many.safetensors", tensors)
    entries = open_archive(p).entries
    seen = []
    got = list(S.stats_many(entries, threads=2, progress=lambda d, t, e: seen.append((d, t))))
    assert [e.name for e, _ in got] == [e.name for e in entries]
    for e, st in got:
        assert isinstance(st, S.Stats)
        _ref_check(st, tensors[e.name])
        assert st == S.compute_stats(e, threads=1)
    assert seen[-1][0] == seen[-1][1] == sum(e.length for e in entries)


def test_safetensors_and_sample_estimate(tmp_path):
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((1000, 600)) * 2 + 1).astype(np.float32)
    p = make_safetensors(tmp_path / "m.safetensors", {"w": a})
    e = open_archive(p).entries[0]
    exact = S.compute_stats(e, threads=2)
    _ref_check(exact, a)
    est = S.sample_stats(e)
    assert not est.exact and est.count == a.size and est.sampled < a.size
    assert abs(est.mean - 1) < 0.05 and abs(est.std - 2) < 0.05


QUANT = [d for d in dtypes.QUANT if d.name in gguf.GGMLQuantizationType.__members__ and d.gguf_quant_type() is not None]


@pytest.mark.parametrize("d", QUANT, ids=lambda d: d.name)
def test_quantized_against_dequantize(tmp_path, d):
    data = quantized_bytes(d.name, 4, d.block_size * 3, seed=2)
    p = make_gguf(tmp_path / "q.gguf", {"q": (d.name, data)})
    e = open_archive(p).entries[0]
    assert S.can_decode(e)
    with np.errstate(all="ignore"):
        want = quants.dequantize(data, gguf.GGMLQuantizationType[d.name]).astype(np.float64)
    _ref_check(S.compute_stats(e), want)
    np.testing.assert_array_equal(S.first_values(e, 10), want.ravel()[:10])
    np.testing.assert_array_equal(
        S.preview(e, 2, 5, row0=1, col0=d.block_size - 2), want[1:3, d.block_size - 2 : d.block_size + 3]
    )


def test_nan_inf_zero_counts():
    vals = np.array([0, -0.0, np.nan, np.inf, -np.inf, 1, 2, np.nan, 0], np.float32)
    e = _mem_entry(vals)
    st = S.compute_stats(e)
    assert (st.count, st.nans, st.infs, st.zeros) == (9, 2, 2, 3)
    assert (st.min, st.max) == (0, 2) and math.isclose(st.mean, 3 / 5)
    assert math.isclose(st.sparsity, 100 * 3 / 9)


def _mem_entry(vals):
    import tempfile

    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(vals.tobytes())
    return Entry(
        name="v",
        kind="data",
        length=vals.nbytes,
        file=f.name,
        offset=0,
        dtype=dtypes.from_numpy(vals.dtype),
        shape=vals.shape,
    )


def test_splat_stats_read_no_data(tmp_path):
    p = make_irpa_with_iree(tmp_path / "s.irpa", "--splat=s=1000xf32=2.5", "--splat=z=64xf16=0")
    by = {e.name: e for e in open_archive(p)}
    s = dataclasses.replace(by["s"], file="/nonexistent", dtype=dtypes.by_name("f32"), shape=(1000,))
    st = S.compute_stats(s)
    assert (st.count, st.min, st.max, st.mean, st.std, st.zeros) == (1000, 2.5, 2.5, 2.5, 0.0, 0)
    assert st.percentiles["50"] == 2.5
    z = S.sample_stats(by["z"], as_dtype="f16")
    assert z.count == 64 and z.zeros == 64 and z.sparsity == 100


def test_preview_and_first_values(tmp_path):
    a = np.arange(6 * 7, dtype=np.float32).reshape(6, 7)

    b = a.astype(ml_dtypes.bfloat16)
    p = make_gguf(tmp_path / "m.gguf", {"a": a, "b": ("BF16", b.view(np.uint8).reshape(6, 14))})
    ea, eb = open_archive(p).entries
    np.testing.assert_array_equal(S.preview(ea, 2, 3, row0=4, col0=5), a[4:6, 5:7])
    np.testing.assert_array_equal(S.preview(eb, 3, 3), a[:3, :3])
    np.testing.assert_array_equal(S.first_values(ea, 9), a.ravel()[:9])


def test_progress_and_cancel(tmp_path, monkeypatch):
    monkeypatch.setattr(decoding, "CHUNK_VALUES", 1024)
    a = np.arange(100_000, dtype=np.float32)
    e = open_archive(make_safetensors(tmp_path / "m.safetensors", {"a": a})).entries[0]
    seen = []
    S.compute_stats(e, progress=lambda d, t: seen.append((d, t)), threads=1)
    assert seen[-1] == (a.nbytes, a.nbytes) and len(seen) > 10
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        S.compute_stats(e, cancel=cancel)


def test_undecodable_raises_decode_error(tmp_path):
    p = make_irpa_with_iree(tmp_path / "r.irpa", "--data=r=8xi8")
    e = open_archive(p).entries[0]
    with pytest.raises(S.DecodeError, match="choose a dtype"):
        S.compute_stats(e)


def test_large_values_accumulate_soundly():
    # A big offset with a tiny spread: naive sum-of-squares loses it all.
    a = (1e6 + np.random.default_rng(3).standard_normal(200_000) * 1e-2).astype(np.float64)
    st = S.compute_stats(_mem_entry(a))
    assert math.isclose(st.std, a.std(), rel_tol=1e-6)


def test_cli_json_and_table(tmp_path, capsys):
    import json

    from irpa_core.cli import main

    rng = np.random.default_rng(5)
    a = rng.standard_normal((64, 32)).astype(np.float32)
    p = make_gguf(
        tmp_path / "m.gguf",
        {"blk.0.w": a, "blk.1.q": ("Q8_0", quantized_bytes("Q8_0", 4, 64)), "out": np.ones(8, np.float16)},
    )
    assert main(["stats", str(p), "--name", "blk.*", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in doc["entries"]] == ["blk.0.w", "blk.1.q"]
    e = doc["entries"][0]
    assert set(e) >= {
        "name",
        "dtype",
        "count",
        "min",
        "max",
        "mean",
        "std",
        "zeros",
        "nans",
        "infs",
        "percentiles",
        "histogram",
    }
    assert e["count"] == a.size and math.isclose(e["mean"], float(a.astype(np.float64).mean()), rel_tol=1e-9)
    assert list(e["percentiles"]) == ["1", "5", "25", "50", "75", "95", "99"]
    assert len(e["histogram"]["counts"]) == 64 and len(e["histogram"]["edges"]) == 65
    assert main(["stats", str(p)]) == 0
    out = capsys.readouterr().out
    assert "blk.1.q" in out and "Q8_0" in out and "out" in out
    assert main(["stats", str(p), "--name", "nope"]) == 1
    capsys.readouterr()
    # A parameter's name where a file goes: the error says how to pick it.
    assert main(["stats", str(p), "blk.1.q"]) == 1
    assert "blk.1.q: no such file (to pick a parameter, give --name=blk.1.q)" in capsys.readouterr().err
    assert main(["stats", str(p), "other.gguf"]) == 1  # a mistyped file: no hint
    assert "--name" not in capsys.readouterr().err
