"""The verify/diff catalogue: differences located to the element.

Generated archives get one flipped bit per dtype (plain types, bf16 and the
block-quantized Q4_0, Q8_0, Q4_K, Q6_K); every field `irpa verify --json`
and `irpa diff --json` report is checked against numpy (and gguf's own
dequantizer), with file offsets from IREE's runtime, for an output written
by us (dtype recorded) and one written by the reference tool (no dtype: the
other side's is used). Then a truncated tensor, renames, all-zero sides,
tolerances, and the locator fed in awkward chunk sizes.
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from irpa_core import open_archive
from irpa_core.cli import main
from irpa_core.locate import Locator
from irpa_core.model import read_bytes
from tests import oracle
from tests.fixtures import make_gguf, make_safetensors, quantized_bytes

RNG = np.random.default_rng(14)
PLAIN = {
    "t_f32": RNG.standard_normal((24, 16)).astype(np.float32),
    "t_f16": RNG.standard_normal((8, 4, 6)).astype(np.float16),
    "t_f64": RNG.standard_normal(40),
    "t_i8": RNG.integers(-128, 127, (16, 9), dtype=np.int8),
    "t_u8": RNG.integers(0, 255, 50, dtype=np.uint8),
    "t_i16": RNG.integers(-999, 999, (5, 5), dtype=np.int16),
    "t_i32": RNG.integers(-(10**6), 10**6, (7, 3), dtype=np.int32),
    "t_i64": RNG.integers(-(10**12), 10**12, 11, dtype=np.int64),
    "t_bool": RNG.integers(0, 2, 30).astype(bool),
}
# gguf types -> (rows, cols); bytes from quantized_bytes (real quantization where gguf has it)
QUANT = {"Q4_0": (4, 64), "Q8_0": (3, 96), "Q4_K": (2, 512), "Q6_K": (3, 256)}
QUANT_SIZES = {"Q4_0": (32, 18), "Q8_0": (32, 34), "Q4_K": (256, 144), "Q6_K": (256, 210)}


def _bf16() -> np.ndarray:
    import ml_dtypes

    return RNG.standard_normal((6, 10)).astype(ml_dtypes.bfloat16)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """Sources, a typed output (ours) and a raw one (the reference's), each
    with one bit flipped in every tensor; returns what numpy expects."""
    d = tmp_path_factory.mktemp("catalogue")
    bf = _bf16()
    st = make_safetensors(d / "plain.safetensors", {**PLAIN, "t_bf16": bf})  # IREE reads no BF16 from GGUF
    gg = make_gguf(d / "quant.gguf", {f"t_{q}": (q, quantized_bytes(q, r, c, seed=3)) for q, (r, c) in QUANT.items()})
    typed, raw = d / "typed.irpa", d / "raw.irpa"
    assert main(["convert", f"--parameters={st}", f"--parameters={gg}", f"--output={typed}", "--quiet"]) == 0
    oracle.run_tool("iree-convert-parameters", f"--parameters={st}", f"--parameters={gg}", f"--output={raw}")
    src = oracle.load(st, gg)
    flips = {}
    for out in (typed, raw):
        ref = oracle.load(out)
        blob = bytearray(out.read_bytes())
        for k, name in enumerate(sorted(src)):
            n = src[name].length
            pos = (n * (2 * k + 1)) // (2 * len(src) + 1)  # somewhere inside, a different place per tensor
            bit = k % 8
            blob[ref[name].offset + pos] ^= 1 << bit
            flips[name] = pos
        out.write_bytes(bytes(blob))
    shapes = {n: a.shape for n, a in PLAIN.items()} | {"t_bf16": bf.shape} | {f"t_{q}": s for q, s in QUANT.items()}
    dtypes = {n: a.dtype for n, a in PLAIN.items()} | {"t_bf16": bf.dtype}
    return {"sources": (st, gg), "typed": typed, "raw": raw, "flips": flips, "shapes": shapes, "dtypes": dtypes}


def _expected(cat, name: str, out) -> dict:
    """The fields of the difference, from numpy / gguf and IREE's offsets."""
    src, got = oracle.load(*cat["sources"])[name], oracle.load(out)[name]
    a = np.frombuffer(src.data, np.uint8)
    b = np.frombuffer(got.data, np.uint8)
    shape = cat["shapes"][name]
    ne = np.flatnonzero(a != b)
    want = {"bytes_compared": a.size, "bytes": ne.size, "first_byte": int(ne[0])}
    qname = name[2:]
    if qname in QUANT:
        import gguf

        qt = gguf.GGMLQuantizationType[qname]
        bs, ts = QUANT_SIZES[qname]
        va = gguf.quants.dequantize(a.reshape(shape[0], -1), qt).reshape(-1).astype(np.float32)
        vb = gguf.quants.dequantize(b.reshape(shape[0], -1), qt).reshape(-1).astype(np.float32)
        differ = np.flatnonzero(va.view(np.uint32) != vb.view(np.uint32))
        element = int(differ[0]) if differ.size else None
        block = element // bs if element is not None else int(ne[0]) // ts
        want |= {
            "dtype": qname,
            "elements": differ.size,
            "element": element,
            "blocks": len({int(i) // ts for i in ne}),
            "block": block,
            "row": (element if element is not None else block * bs) // shape[-1],
            "offset_a": src.offset + block * ts,
            "offset_b": got.offset + block * ts,
            "value_a": float(va[element]) if element is not None else None,
            "value_b": float(vb[element]) if element is not None else None,
        }
    else:
        dt = cat["dtypes"][name]
        k = dt.itemsize
        element = int(ne[0]) // k
        xa, xb = a.view(dt), b.view(dt)
        want |= {
            "dtype": {"float32": "f32", "float16": "f16", "float64": "f64", "bfloat16": "bf16", "bool": "bool"}.get(
                dt.name, dt.name.replace("int", "i").replace("ui", "u")
            ),
            "elements": int(np.count_nonzero((a != b).reshape(-1, k).any(axis=1))),
            "element": element,
            "blocks": None,
            "block": None,
            "row": None,
            "offset_a": src.offset + element * k,
            "offset_b": got.offset + element * k,
            "value_a": xa[element].item() if dt.kind != "V" else float(xa[element]),
            "value_b": xb[element].item() if dt.kind != "V" else float(xb[element]),
        }
        if not isinstance(want["value_a"], (int, float, bool)):
            want["value_a"], want["value_b"] = float(xa[element]), float(xb[element])
    want["index"] = list(np.unravel_index(want["element"], shape)) if want["element"] is not None else None
    return want


def _same(got, want) -> bool:
    if isinstance(want, float) and math.isnan(want):
        return got == "nan"
    if isinstance(want, float) and math.isinf(want):
        return got == str(want)
    return got == want


@pytest.mark.parametrize("side", ["typed", "raw"])
def test_verify_and_diff_locate_one_flipped_bit_per_dtype(catalogue, side, capsys):
    out = catalogue[side]
    sources = [f"--parameters={p}" for p in catalogue["sources"]]
    if side == "raw":
        sources.append("--no-metadata")  # the reference keeps no GGUF metadata (no __SHARK_DATASET__)
    assert main(["verify", *sources, str(out), "--json"]) == 1
    checks = {e["name"]: e for e in json.loads(capsys.readouterr().out)["entries"]}
    pairs = {}
    for source in catalogue["sources"]:
        assert main(["diff", str(source), str(out), "--json"]) == 1
        pairs |= {e["name"]: e for e in json.loads(capsys.readouterr().out)["entries"] if e["status"] != "only in B"}
    names = sorted(catalogue["flips"])
    assert set(checks) == set(names)  # every tensor fails, nothing else
    for name in names:
        want = _expected(catalogue, name, out)
        c = checks[name]
        assert c["status"] == "bytes differ" and c["offset"] == want["first_byte"], name
        for report in (c["difference"], pairs[name]["difference"]):
            for key, value in want.items():
                assert _same(report[key], value), (name, side, key, report[key], value)


def test_diff_value_figures_and_where_max_is(catalogue, capsys):
    """Value figures of the flipped tensors (raw side read as the typed
    side's dtype), against numpy."""
    st = catalogue["sources"][0]
    assert main(["diff", str(st), str(catalogue["raw"]), "--json"]) == 1
    pairs = {e["name"]: e for e in json.loads(capsys.readouterr().out)["entries"]}
    ref = oracle.load(catalogue["raw"])
    for name in ("t_f32", "t_f16", "t_i32"):
        x = PLAIN[name].astype(np.float64).ravel()
        y = np.frombuffer(ref[name].data, PLAIN[name].dtype).astype(np.float64)
        d = np.abs(x - y)
        m = pairs[name]["metrics"]
        assert pairs[name]["status"] == "values differ"
        assert m["max_abs"] == pytest.approx(d.max(), rel=1e-12)
        assert m["max_at"] == int(np.argmax(d))
        assert m["max_index"] == list(np.unravel_index(int(np.argmax(d)), PLAIN[name].shape))
        assert (m["max_a"], m["max_b"]) == (x[m["max_at"]], y[m["max_at"]])
        assert m["outside"] == np.count_nonzero(x.view(np.uint64) != y.view(np.uint64)) == 1
        assert m["first_outside"] == m["max_at"]
        assert m["rel_l2"] == pytest.approx(np.linalg.norm(x - y) / np.linalg.norm(x), rel=1e-9)
        assert m["cosine"] == pytest.approx(x @ y / np.linalg.norm(x) / np.linalg.norm(y), rel=1e-12)


def test_text_output_names_element_offsets_and_values(catalogue, capsys):
    sources = [f"--parameters={p}" for p in catalogue["sources"]]
    main(["verify", *sources, str(catalogue["typed"])])
    text = capsys.readouterr().out
    want = _expected(catalogue, "t_Q4_0", catalogue["typed"])
    line = next(s for s in text.splitlines() if s.startswith("bytes differ") and "t_Q4_0" in s)
    assert f"first at element {want['element']:,} [{want['index'][0]}, {want['index'][1]}]" in line
    assert f"block {want['block']}, row {want['row']}" in line
    assert f"{want['offset_a']:,} in quant.gguf, {want['offset_b']:,} in typed.irpa" in text
    assert f"expected {np.float32(want['value_a'])!s}, written {np.float32(want['value_b'])!s}" in text


def test_truncated_tensor(tmp_path, capsys):
    """A tensor written short (its entry says so) is a length difference
    located over the bytes both sides have; a file cut short after it was
    opened is "truncated" (readers refuse a file cut short at open)."""
    from irpa_core.diff import diff
    from irpa_core.plan import Plan
    from irpa_core.verify import verify

    x = np.arange(64, dtype=np.float32).reshape(8, 8)
    src = make_safetensors(tmp_path / "s.safetensors", {"a": np.ones(4, np.float32), "w": x})
    cut = x.ravel()[:25].copy()
    cut[10] = -10.0
    short = make_safetensors(tmp_path / "short.safetensors", {"a": np.ones(4, np.float32), "w": cut})
    out = tmp_path / "o.irpa"
    oracle.run_tool("iree-convert-parameters", f"--parameters={short}", f"--output={out}")
    assert main(["verify", f"--parameters={src}", str(out), "--json"]) == 1
    (c,) = json.loads(capsys.readouterr().out)["entries"]
    assert c["name"] == "w" and c["status"] == "length differs" and "expected 256 bytes, found 100" in c["detail"]
    d = c["difference"]
    assert (d["bytes_compared"], d["bytes"], d["element"], d["index"]) == (100, 1, 10, [1, 2])
    assert (d["value_a"], d["value_b"]) == (10.0, -10.0)
    assert (d["offset_a"], d["offset_b"]) == (oracle.load(src)["w"].offset + 40, oracle.load(out)["w"].offset + 40)

    good = tmp_path / "good.irpa"
    oracle.run_tool("iree-convert-parameters", f"--parameters={src}", f"--output={good}")
    sources, output = open_archive(src), open_archive(good)
    w = oracle.load(good)["w"]
    with open(good, "r+b") as f:
        f.truncate(w.offset + 100)
    (c2,) = verify(sources, Plan(), output).problems
    assert c2.status == "truncated" and "100 of its 256 bytes" in c2.detail and c2.difference is None
    p = {p.name: p for p in diff(sources, output).pairs}["w"]
    assert p.status == "truncated" and "B: the file ends after 100 of 256 bytes" in p.notes


def test_renames_are_followed(tmp_path, capsys):
    x = RNG.standard_normal((4, 4)).astype(np.float32)
    y = x.copy()
    y[2, 3] = 7.0
    a = make_safetensors(tmp_path / "a.safetensors", {"blk.0.w": x, "blk.1.w": x})
    b = make_safetensors(tmp_path / "b.safetensors", {"layers.0.w": y, "layers.1.w": x})
    assert main(["diff", str(a), str(b), "--rename=blk.*=layers.*", "--json"]) == 1
    pairs = {e["name"]: e for e in json.loads(capsys.readouterr().out)["entries"]}
    assert pairs["layers.1.w"]["status"] == "identical" and pairs["layers.0.w"]["a"] == "blk.0.w"
    d = pairs["layers.0.w"]["difference"]
    assert (d["element"], d["index"], d["value_a"], d["value_b"]) == (11, [2, 3], float(x[2, 3]), 7.0)
    # The same rename as convert and verify spell it: first match wins.
    out = tmp_path / "o.irpa"
    assert main(["convert", f"--parameters={b}", f"--output={out}", "--quiet", "--rename=layers.*=blk.*"]) == 0
    assert main(["diff", str(a), str(out), "--rename=layers.*=x", "--json"]) == 1  # nothing to rename: pairs by name
    pairs = {e["name"]: e for e in json.loads(capsys.readouterr().out)["entries"]}
    assert pairs["blk.0.w"]["difference"]["index"] == [2, 3]


def test_all_zero_sides_have_undefined_cosine_and_relative_error(tmp_path, capsys):
    z = np.zeros((4, 8), np.float32)
    one = z.copy()
    one[1, 2] = 0.5
    a = make_safetensors(tmp_path / "a.safetensors", {"zz": z, "za": z, "az": one})
    b = make_safetensors(tmp_path / "b.safetensors", {"zz": -z, "za": one, "az": z})
    assert main(["diff", str(a), str(b), "--json"]) == 1
    pairs = {e["name"]: e for e in json.loads(capsys.readouterr().out)["entries"]}
    zz, za, az = (pairs[n]["metrics"] for n in ("zz", "za", "az"))
    # zeros vs negative zeros: every byte pattern differs, no value does by magnitude
    assert pairs["zz"]["difference"]["elements"] == 32 and zz["max_abs"] == 0 and zz["max_at"] is None
    assert zz["outside"] == 32  # bit-exact by default: -0 is not 0
    assert zz["cosine"] is None and zz["rel_l2"] is None
    assert za["cosine"] is None and za["rel_l2"] is None and za["max_index"] == [1, 2]
    assert az["cosine"] is None and az["rel_l2"] == 1.0
    main(["diff", str(a), str(b)])
    text = capsys.readouterr().out
    assert "relL2=undefined cos=undefined" in text and "cos=0.0" not in text
    # With a tolerance, signed zeros agree.
    assert main(["diff", str(a), str(b), "--atol=1e-9", "--json"]) == 1
    pairs = {e["name"]: e for e in json.loads(capsys.readouterr().out)["entries"]}
    assert pairs["zz"]["status"] == "within tolerance" and pairs["za"]["metrics"]["outside"] == 1


def test_tolerances_count_like_numpy(tmp_path, capsys):
    x = RNG.standard_normal((32, 32)).astype(np.float32)
    a = make_safetensors(tmp_path / "a.safetensors", {"w": x})
    b = make_safetensors(tmp_path / "b.safetensors", {"w": x.astype(np.float16)})
    xa, xb = x.astype(np.float64).ravel(), x.astype(np.float16).astype(np.float64).ravel()
    for atol, rtol in ((0, 0), (1e-4, 0), (0, 1e-4), (1e-5, 5e-4)):
        main(["diff", str(a), str(b), f"--atol={atol}", f"--rtol={rtol}", "--json"])
        m = json.loads(capsys.readouterr().out)["entries"][0]["metrics"]
        if atol or rtol:
            bad = ~(np.abs(xa - xb) <= atol + rtol * np.abs(xa))
        else:
            bad = xa != xb
        assert m["outside"] == np.count_nonzero(bad), (atol, rtol)
        assert m["first_outside"] == (int(np.argmax(bad)) if bad.any() else None)
    # Within a loose tolerance the values agree, but the dtype changed: still a difference.
    assert main(["diff", str(a), str(b), "--atol=1e-2"]) == 1
    c = make_safetensors(tmp_path / "c.safetensors", {"w": np.nextafter(x, np.float32(9))})
    assert main(["diff", str(a), str(c)]) == 1
    assert main(["diff", str(a), str(c), "--rtol=1e-6"]) == 0
    assert "within tolerance" in capsys.readouterr().out


@pytest.mark.parametrize("qname", ["Q4_K", "Q6_K", "Q8_0", "f16"])
def test_locator_any_chunking_gives_the_same_answer(tmp_path, qname):
    """Blocks split across chunk boundaries are compared whole."""
    if qname == "f16":
        data = RNG.standard_normal((16, 64)).astype(np.float16)
        src = make_safetensors(tmp_path / "s.safetensors", {"w": data})
    else:
        src = make_gguf(tmp_path / "s.gguf", {"w": (qname, quantized_bytes(qname, 4, 512, seed=5))})
    e = open_archive(src).by_name["w"]
    x = read_bytes(e)
    y = bytearray(x)
    for p in (5, 300, 301, len(y) // 2, len(y) - 1):
        y[p] ^= 0x44
    results = []
    for step in (len(x), 1, 7, 144, 1000):
        loc = Locator(e, e)
        for i in range(0, len(x), step):
            loc.feed(x[i : i + step], bytes(y[i : i + step]))
        results.append(loc.result())
    assert all(r == results[0] for r in results[1:])
    assert results[0] is not None and results[0].bytes == 5


def test_no_dtype_on_either_side_reports_bytes(tmp_path, capsys):
    from tests.fixtures import make_irpa_with_iree

    a = make_irpa_with_iree(tmp_path / "a.irpa", "--data=r=64xi8")
    b = tmp_path / "b.irpa"
    shutil.copy(a, b)
    r = oracle.load(b)["r"]
    blob = bytearray(b.read_bytes())
    blob[r.offset + 9] ^= 1
    b.write_bytes(bytes(blob))
    assert main(["diff", str(a), str(b), "--json"]) == 1
    p = json.loads(capsys.readouterr().out)["entries"][0]
    d = p["difference"]
    assert p["status"] == "bytes differ" and d["dtype"] is None and d["elements"] is None
    assert (d["first_byte"], d["offset_a"], d["offset_b"]) == (9, r.offset + 9, r.offset + 9)
