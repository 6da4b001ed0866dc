"""``irpa hash``: manifests as llama.cpp's tools print them, checked against
the ``gguf`` package's ``gguf_hash.py`` (the oracle, run in-process on small
generated files), and ``--check`` finding what differs."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import uuid
from pathlib import Path

import numpy as np
import pytest
import xxhash

from irpa_core.cli import main
from tests import oracle
from tests.fixtures import make_gguf, make_safetensors, quantized_bytes
from tests.httpserver import TestServer, serve


def tensors(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "token_embd.weight": ("Q8_0", quantized_bytes("Q8_0", 16, 64, seed=seed)),
        "blk.0.attn_norm.weight": rng.standard_normal(64).astype(np.float32),
        "blk.0.ffn_up.weight": ("Q4_K", quantized_bytes("Q4_K", 4, 256, seed=seed + 1)),
        "output.weight": rng.standard_normal((8, 16)).astype(np.float16),
    }


def gguf_hash_py(path: Path, name: str | None = None, no_layer: bool = False) -> str:
    """What ``gguf/scripts/gguf_hash.py PATH`` prints (run in-process)."""
    import gguf
    from gguf.scripts.gguf_hash import gguf_hash

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        gguf_hash(gguf.GGUFReader(str(path)), name or str(path), True, no_layer)
    return out.getvalue()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return make_gguf(tmp_path / "m.gguf", tensors())


@pytest.mark.parametrize("no_layer", [False, True])
def test_manifest_equals_gguf_hash_py(model: Path, capsys, no_layer: bool) -> None:
    flags = ["--no-layer"] if no_layer else []
    rc, out, _ = run(capsys, "hash", "--sha1", "--sha256", "--uuid", *flags, str(model))
    assert rc == 0
    assert out == gguf_hash_py(model, no_layer=no_layer)


def test_default_and_all_follow_llama_gguf_hash(model: Path, capsys) -> None:
    # llama-gguf-hash: xxh64 by default; --all is xxh64, xxh3, sha1, sha256
    # per tensor, then the same for the whole model (no uuid).
    import gguf

    reader = gguf.GGUFReader(str(model))
    datas = [(t.name, bytes(t.data.data)) for t in reader.tensors]
    algos = {
        "xxh64": lambda b: xxhash.xxh64(b).hexdigest(),
        "xxh3": lambda b: xxhash.xxh3_64(b).hexdigest(),
        "sha1": lambda b: hashlib.sha1(b).hexdigest(),
        "sha256": lambda b: hashlib.sha256(b).hexdigest(),
    }
    whole = b"".join(d for _, d in datas)
    f = str(model)
    want_all = [f"{a:<8}  {h(d)}  {f}:{n}" for n, d in datas for a, h in algos.items()]
    want_all += [f"{a:<8}  {h(whole)}  {f}" for a, h in algos.items()]
    assert run(capsys, "hash", "--all", f)[1].splitlines() == want_all
    want_default = [line for line in want_all if line.startswith("xxh64 ")]
    assert run(capsys, "hash", f)[1].splitlines() == want_default


def test_split_gguf_is_one_section_per_shard(tmp_path: Path, capsys) -> None:
    make_gguf(tmp_path / "s.gguf", tensors(), split_max_tensors=2)
    shards = sorted(tmp_path.glob("s-*-of-*.gguf"))
    assert len(shards) >= 2
    rc, out, _ = run(capsys, "hash", "--sha1", "--sha256", "--uuid", str(shards[0]))
    assert rc == 0
    assert out == "".join(gguf_hash_py(s) for s in shards)
    # Their per-shard manifests, concatenated, check the set (under other paths).
    (tmp_path / "set.sha").write_text("".join(gguf_hash_py(s, name=f"dl/{s.name}") for s in shards))
    rc, out, _ = run(capsys, "hash", "--check", str(tmp_path / "set.sha"), str(shards[0]))
    assert rc == 0 and "4 tensors and the whole file match" in out


def test_safetensors_tensors_in_file_order(tmp_path: Path, capsys) -> None:
    arrays = {"b": np.arange(6, dtype=np.float32), "a": np.ones((2, 3), np.int16), "c": np.zeros(3, np.uint8)}
    p = make_safetensors(tmp_path / "m.safetensors", arrays)
    ref = oracle.load(p)  # IREE's runtime: each tensor's bytes and offset
    order = sorted(ref, key=lambda k: ref[k].offset)
    rc, out, _ = run(capsys, "hash", "--sha256", "--uuid", str(p))
    assert rc == 0
    want = [f"sha256    {hashlib.sha256(ref[k].data).hexdigest()}  {p}:{k}" for k in order]
    whole = b"".join(ref[k].data for k in order)
    want.append(f"sha256    {hashlib.sha256(whole).hexdigest()}  {p}")
    # A UUIDv5 is the SHA-1 of namespace + name: here the name is all tensor data.
    ns = uuid.UUID("ef001206-dadc-5f6d-a15f-3359e577d4e5")
    assert str(uuid.uuid5(ns, "x")) == str(uuid.UUID(bytes=hashlib.sha1(ns.bytes + b"x").digest()[:16], version=5))
    want.append(f"uuid      {uuid.UUID(bytes=hashlib.sha1(ns.bytes + whole).digest()[:16], version=5)}  {p}")
    assert out.splitlines() == want


def test_irpa_splats_are_not_hashed(tmp_path: Path, capsys) -> None:
    st = make_safetensors(tmp_path / "s.safetensors", {"w": np.arange(8, dtype=np.float32), "b": np.ones(4, np.int8)})
    out_path = tmp_path / "o.irpa"
    oracle.run_tool("iree-convert-parameters", f"--parameters={st}", f"--output={out_path}", "--splat=b=i8=9")
    ref = oracle.load(out_path)
    assert ref["b"].kind == "splat"
    rc, out, err = run(capsys, "hash", "--sha256", str(out_path))
    assert rc == 0
    digest = hashlib.sha256(ref["w"].data).hexdigest()
    assert out.splitlines() == [f"sha256    {digest}  {out_path}:w", f"sha256    {digest}  {out_path}"]
    assert "1 splat entry not hashed" in err
    # --check treats them the same way: our own manifest checks clean.
    (tmp_path / "m.txt").write_text(out)
    assert run(capsys, "hash", "--check", str(tmp_path / "m.txt"), str(out_path))[0] == 0


# -- --check ------------------------------------------------------------------


def test_check_passes_against_their_manifest_under_another_path(model: Path, tmp_path: Path, capsys) -> None:
    manifest = tmp_path / "m.sha"
    manifest.write_text(gguf_hash_py(model, name="downloads/model.gguf"))
    rc, out, _ = run(capsys, "hash", "--check", str(manifest), str(model))
    assert rc == 0
    assert out.startswith("OK:") and "(sha256)" in out and "4 tensors and the whole file match" in out


def test_check_names_a_flipped_bit(model: Path, tmp_path: Path, capsys) -> None:
    import gguf

    manifest = tmp_path / "m.sha"
    manifest.write_text(gguf_hash_py(model))
    t = next(t for t in gguf.GGUFReader(str(model)).tensors if t.name == "blk.0.ffn_up.weight")
    blob = bytearray(model.read_bytes())
    blob[t.data_offset + 17] ^= 0x04
    model.write_bytes(blob)
    rc, out, _ = run(capsys, "hash", "--check", str(manifest), str(model))
    assert rc == 1
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["differs", "blk.0.ffn_up.weight"]
    assert sum(1 for line in lines if line.startswith("differs")) == 2  # the tensor, and the whole file
    assert lines[-1].startswith("FAILED:") and "1 tensor differs" in lines[-1]


def test_check_names_missing_and_extra_tensors(tmp_path: Path, capsys) -> None:
    full = tensors()
    a = make_gguf(tmp_path / "a.gguf", full)
    fewer = {k: v for k, v in full.items() if k != "output.weight"}
    more = {**full, "extra.weight": np.ones(4, np.float32)}
    manifest = tmp_path / "a.sha"
    manifest.write_text(gguf_hash_py(a))
    rc, out, _ = run(capsys, "hash", "--check", str(manifest), str(make_gguf(tmp_path / "b.gguf", fewer)))
    assert rc == 1 and "missing   output.weight" in out and "1 missing" in out.splitlines()[-1]
    rc, out, _ = run(capsys, "hash", "--json", "--check", str(manifest), str(make_gguf(tmp_path / "c.gguf", more)))
    import json

    doc = json.loads(out)
    assert rc == 1 and not doc["ok"]
    assert {(p["kind"], p["tensor"]) for p in doc["problems"]} == {("extra", "extra.weight"), ("differs", None)}


def test_check_with_an_xxh64_manifest_and_a_remote_file(model: Path, http_server: TestServer, tmp_path, capsys):
    url = serve(http_server, model, "m.gguf")
    rc, out, _ = run(capsys, "hash", str(model))  # xxh64, as llama-gguf-hash by default
    (tmp_path / "m.xxh").write_text(out)
    rc, remote_out, _ = run(capsys, "hash", url)
    assert remote_out == out.replace(str(model), url)
    rc, out, _ = run(capsys, "hash", "--check", str(tmp_path / "m.xxh"), url)
    assert rc == 0 and "(xxh64)" in out


def test_bad_manifests_are_one_line_errors(model: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "empty.txt").write_text("hello\n")
    rc, out, err = run(capsys, "hash", "--check", str(tmp_path / "empty.txt"), str(model))
    assert (rc, out) == (1, "") and err.startswith("irpa: error: ") and "not a hash manifest" in err
    rc, _, err = run(capsys, "hash", "--check", str(tmp_path / "none.txt"), str(model))
    assert rc == 1 and "no such manifest file" in err
    (tmp_path / "m.sha").write_text(gguf_hash_py(model))
    rc, _, err = run(capsys, "hash", "--xxh64", "--check", str(tmp_path / "m.sha"), str(model))
    assert rc == 1 and "holds no xxh64 hashes" in err


def test_names_with_control_characters_are_escaped(tmp_path: Path, capsys) -> None:
    p = make_gguf(tmp_path / "x.gguf", {"bad\x1b[31mname": np.ones(4, np.float32)})
    rc, out, _ = run(capsys, "hash", "--sha256", str(p))
    assert rc == 0 and "\x1b" not in out and "bad\\e[31mname" in out
    (tmp_path / "m.txt").write_text(out)
    assert run(capsys, "hash", "--check", str(tmp_path / "m.txt"), str(p))[0] == 0
    assert os.path.exists(p)


def test_hub_file_hashes_as_the_local_one(model: Path, hub_env: TestServer, capsys) -> None:
    (hub_env.add_repo("org/m") / "m.gguf").write_bytes(model.read_bytes())
    local = run(capsys, "hash", "--sha256", str(model))[1]
    rc, remote, _ = run(capsys, "hash", "--sha256", "hf://org/m/m.gguf")
    assert rc == 0 and remote == local.replace(str(model), "hf://org/m/m.gguf")


def test_a_cut_off_file_hashes_its_complete_tensors_and_fails_the_check_for_the_rest(model: Path, tmp_path, capsys):
    import json

    import gguf

    manifest = tmp_path / "m.sha"
    manifest.write_text(gguf_hash_py(model))
    spans = {t.name: (int(t.data_offset), int(t.n_bytes)) for t in gguf.GGUFReader(str(model)).tensors}
    start, size = spans["blk.0.ffn_up.weight"]
    cut = start + size // 2  # inside the third tensor: the first two are whole
    blob = model.read_bytes()
    cut_file = tmp_path / "cut.gguf"
    cut_file.write_bytes(blob[:cut])
    whole = {n for n, (o, k) in spans.items() if o + k <= cut}
    assert whole == {"token_embd.weight", "blk.0.attn_norm.weight"}

    rc, out, err = run(capsys, "hash", "--sha256", str(cut_file))
    assert rc == 0
    assert {line.split(":")[-1] for line in out.splitlines()} == whole  # no whole-file line
    for line in out.splitlines():
        name = line.split(":")[-1]
        o, k = spans[name]
        assert line.split()[1] == hashlib.sha256(blob[o : o + k]).hexdigest()
    assert "2 incomplete tensors not hashed" in err and "'blk.0.ffn_up.weight', partial" in err

    rc, out, _ = run(capsys, "hash", "--json", "--check", str(manifest), str(cut_file))
    doc = json.loads(out)
    assert rc == 1 and not doc["ok"]
    assert {(p["kind"], p["tensor"], p["algorithm"]) for p in doc["problems"]} == {
        ("incomplete", "blk.0.ffn_up.weight", "partial"),
        ("incomplete", "output.weight", "missing"),
    }
    rc, out, _ = run(capsys, "hash", "--check", str(manifest), str(cut_file))
    assert rc == 1 and out.splitlines()[-1].endswith("2 incomplete")
