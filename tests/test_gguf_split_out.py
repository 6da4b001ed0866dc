"""Split GGUF output (``--split-max-size``, ``--split-max-tensors``) as
llama.cpp's gguf-split writes it. Oracles: the ``gguf`` package's reader on
every shard, and its own writer's split (``GGUFWriter(split_max_tensors=,
split_max_size=)``), which follows the same convention; our reader only for
the round trips."""

import os
import threading

import gguf
import numpy as np
import pytest

from irpa_core import open_archive, read_bytes
from irpa_core.cli import main
from irpa_core.errors import Cancelled, PlanError
from irpa_core.formats.gguf_writer import shard_bounds
from irpa_core.output import Split, build
from irpa_core.plan import Plan
from irpa_core.shards import shard_paths
from irpa_core.write import TMP_MARK, write_split
from tests.fixtures import make_gguf, quantized_bytes
from tests.oracle import gguf_kvs as kvs
from tests.oracle import gguf_tensors as tensors

V = gguf.GGUFValueType
SPLIT_KEYS = ("split.no", "split.count", "split.tensors.count")


def convert(*args) -> None:
    assert main(["convert", *map(str, args), "--quiet"]) == 0


def shards_of(prefix, n: int) -> list:
    return [prefix.parent / f"{prefix.name}-{i:05d}-of-{n:05d}.gguf" for i in range(1, n + 1)]


def merged(paths) -> dict:
    out: dict = {}
    for p in paths:
        out.update(tensors(p))
    return out


def leftovers(d) -> list[str]:
    return sorted(p for p in os.listdir(d) if TMP_MARK in p or "-of-" in p)


# Sizes a multiple of 32 bytes except where said: the gguf package's writer
# counts raw sizes, gguf-split padded ones; they agree on these.
RNG = np.random.default_rng(0)
TENSORS = {
    "big": RNG.standard_normal((8, 64)).astype(np.float32),  # 2048 bytes: over a 1K limit, alone
    "a.f16": RNG.standard_normal((2, 64)).astype(np.float16),  # 256
    "a.q8": ("Q8_0", quantized_bytes("Q8_0", 2, 256)),  # 544
    "a.i32": np.arange(64, dtype=np.int32).reshape(2, 32),  # 256
    "b.f32": RNG.standard_normal((4, 32)).astype(np.float32),  # 512
    "b.q4k": ("Q4_K", quantized_bytes("Q4_K", 2, 256)),  # 288
    "c.f32": RNG.standard_normal((1, 8)).astype(np.float32),  # 32
}
KV = {
    "general.name": "split me",
    "llama.context_length": 4096,
    "x.i64": (-(2**40), V.INT64),
    "tokenizer.ggml.tokens": ["<s>", "a:b", "é"] * 50,
    "x.nested": ([[1, 2], [3]], V.ARRAY, V.ARRAY),
}


@pytest.fixture
def model(tmp_path):
    return make_gguf(tmp_path / "m.gguf", TENSORS, KV)


@pytest.mark.parametrize(
    ("flag", "writer_kw"),
    [("--split-max-tensors=2", {"split_max_tensors": 2}), ("--split-max-size=1K", {"split_max_size": 1000})],
)
def test_shards_are_those_of_the_gguf_packages_split_writer_byte_for_byte(tmp_path, model, flag, writer_kw):
    ref_dir, out_dir = tmp_path / "ref", tmp_path / "out"
    ref_dir.mkdir(), out_dir.mkdir()
    make_gguf(ref_dir / "model.gguf", TENSORS, KV, **writer_kw)
    convert(model, "-o", out_dir / "model.gguf", flag)
    ref, got = sorted(os.listdir(ref_dir)), sorted(os.listdir(out_dir))
    assert got == ref and len(got) > 2, got  # llama.cpp's names: model-00001-of-0000N.gguf
    for name in got:
        assert (out_dir / name).read_bytes() == (ref_dir / name).read_bytes(), name


def test_every_shard_by_the_gguf_reader(tmp_path, model):
    convert(model, "-o", tmp_path / "o.gguf", "--split-max-size=1K")
    # 2048 alone (over the limit), 256+544 (+256 > 1000), 256+512 (+288 > 1000), 288+32
    paths = shards_of(tmp_path / "o", 4)
    assert sorted(leftovers(tmp_path)) == sorted(p.name for p in paths)
    source_kvs, source_tensors = kvs(model), tensors(model)
    names = list(source_tensors)
    groups = [names[0:1], names[1:3], names[3:5], names[5:7]]
    for no, (path, group) in enumerate(zip(paths, groups)):
        got = kvs(path)
        split = {"split.no": ([V.UINT16], no), "split.count": ([V.UINT16], 4), "split.tensors.count": ([V.INT32], 7)}
        # The first shard keeps every key/value, the split keys last; the others hold only these.
        expected = {**source_kvs, **split} if no == 0 else split
        assert list(got.items()) == list(expected.items())
        assert tensors(path) == {n: source_tensors[n] for n in group}


def test_round_trip_and_merge_through_our_reader(tmp_path, model):
    whole = tmp_path / "whole.gguf"
    convert(model, "-o", whole)
    convert(model, "-o", tmp_path / "o.gguf", "--split-max-tensors=3")
    first = shards_of(tmp_path / "o", 3)[0]
    archive = open_archive(first)  # the first shard finds the others
    assert [f.path for f in archive.files] == [str(p) for p in shards_of(tmp_path / "o", 3)]
    assert {e.name: read_bytes(e) for e in archive.entries} == {n: d for n, (_, _, d) in tensors(model).items()}
    # Merged back into one file by us: the unsplit output, byte for byte (the split keys are not kept).
    back = tmp_path / "back.gguf"
    convert(first, "-o", back)
    assert back.read_bytes() == whole.read_bytes()


def test_verify_takes_a_split_set_and_the_convert_line_that_wrote_it(tmp_path, model, capsys):
    edit = ["--exclude=a.*", "--set-metadata=general.name=edited"]
    out = tmp_path / "o.gguf"
    convert(model, "-o", out, "--split-max-tensors=2", *edit)
    first = shards_of(tmp_path / "o", 2)[0]  # 4 tensors left
    # The first shard as OUTPUT: its split keys are layout, not metadata the plan did not ask for.
    assert main(["verify", f"--parameters={model}", *edit, str(first), "--quiet"]) == 0
    # The convert line as it was: --output names the set's prefix.
    assert main(["verify", f"--parameters={model}", *edit, f"--output={out}", "--split-max-tensors=2", "--quiet"]) == 0
    # A real difference is still one.
    assert main(["verify", f"--parameters={model}", "--exclude=a.*", str(first), "--quiet"]) == 1
    assert main(["verify", f"--parameters={model}", f"--output={tmp_path / 'none.gguf'}", "--split-max-size=1M"]) == 1
    assert "none.gguf: no split set written there" in capsys.readouterr().err
    # Two sets under one name (a rewrite with another shard count leaves the old one, as gguf-split does): ask.
    convert(model, "-o", out, "--split-max-tensors=1", *edit)
    assert main(["verify", f"--parameters={model}", *edit, f"--output={out}", "--split-max-tensors=1"]) == 1
    assert "2 split sets written there (o-00001-of-00002.gguf, o-00001-of-00004.gguf)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags",
    [
        ["--exclude=a.*", "--rename=b.*=renamed.*"],
        ["--strip", "--keep=a.q8", "--splat=c.f32=f32=2.5"],
        ["--cast=*.f32=f16", "--cast=big=bf16", "--set-metadata=general.name=edited", "--unset-metadata=x.*"],
        ["--set-metadata=new.key=u8:7", "--alignment=64"],
    ],
)
def test_plan_ops_split_as_they_write_one_file(tmp_path, model, flags):
    one = tmp_path / "one.gguf"
    convert(model, "-o", one, *flags)
    convert(model, "-o", tmp_path / "o.gguf", "--split-max-tensors=2", *flags)
    n = -(-len(tensors(one)) // 2)
    paths = shards_of(tmp_path / "o", n)
    assert sorted(leftovers(tmp_path)) == sorted(p.name for p in paths)
    assert list(merged(paths).items()) == list(tensors(one).items())
    first = kvs(paths[0])
    assert {k: v for k, v in first.items() if k not in SPLIT_KEYS} == kvs(one)
    if "--alignment=64" in flags:  # every shard's data lies where its own header says
        for p in paths:
            assert gguf.GGUFReader(str(p)).alignment == 64 and "general.alignment" in kvs(p)


def test_names_as_llama_cpp_names_shards():
    assert shard_paths("d/model.gguf", 3) == [f"d/model-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    assert shard_paths("d/model.GGUF", 1) == ["d/model-00001-of-00001.gguf"]
    assert shard_paths("d/model", 2)[1] == "d/model-00002-of-00002.gguf"  # a bare prefix, as gguf-split's OUT
    assert shard_paths("d/model-00001-of-00007.gguf", 2)[0] == "d/model-00001-of-00002.gguf"  # a shard's name
    assert shard_paths("d/m.v1.gguf", 12)[11] == "d/m.v1-00012-of-00012.gguf"


def _gguf_split_bounds(lengths, max_size, max_tensors):
    """gguf-split's assignment loop (tools/gguf-split/gguf-split.cpp), except
    that it refuses a first tensor over the limit, which we give a shard."""
    shards: list[list[int]] = [[]]
    curr = 0
    for i, n in enumerate(lengths):
        padded = -(-n // 32) * 32
        if max_size:
            cut = curr + padded > max_size and i > 0
        else:
            cut = i > 0 and i % max_tensors == 0
        if cut:
            shards.append([])
            curr = padded
        else:
            curr += padded
        shards[-1].append(i)
    return shards


def test_the_size_rule_is_gguf_splits_on_unaligned_sizes():
    rng = np.random.default_rng(1)
    for _ in range(200):
        lengths = [int(x) for x in rng.integers(1, 400, rng.integers(0, 30))]
        for size, count in ((int(rng.integers(1, 1200)), 0), (0, int(rng.integers(1, 6)))):
            got = [list(r) for r in shard_bounds(lengths, 32, size, count)]
            assert got == _gguf_split_bounds(lengths, size, count), (lengths, size, count)


def test_one_shard_and_no_tensors_as_gguf_split(tmp_path, model):
    convert(model, "-o", tmp_path / "o.gguf", "--split-max-size=1G")
    (only,) = shards_of(tmp_path / "o", 1)
    assert kvs(only)["split.count"] == ([V.UINT16], 1) and len(tensors(only)) == 7
    convert(model, "-o", tmp_path / "e.gguf", "--split-max-tensors=1", "--exclude=*")
    (empty,) = shards_of(tmp_path / "e", 1)
    assert kvs(empty)["split.tensors.count"] == ([V.INT32], 0) and tensors(empty) == {}


def test_split_keys_set_by_hand_are_replaced(tmp_path, model):
    convert(model, "-o", tmp_path / "o.gguf", "--split-max-tensors=4", "--set-metadata=split.count=u16:9")
    keys = list(kvs(shards_of(tmp_path / "o", 2)[0]).items())
    assert keys[-3:] == [
        ("split.no", ([V.UINT16], 0)),
        ("split.count", ([V.UINT16], 2)),
        ("split.tensors.count", ([V.INT32], 7)),
    ]
    assert [k for k, _ in keys].count("split.count") == 1


def test_create_writes_a_split_gguf(tmp_path):
    out = tmp_path / "c.gguf"
    flags = [f"--data=t{i}=4x8xf32={i}" for i in range(3)]
    assert main(["create", *flags, "--splat=s=16xi8=1", "-o", str(out), "--split-max-tensors=1", "--quiet"]) == 0
    got = merged(shards_of(tmp_path / "c", 4))
    assert got["s"][2] == b"\x01" * 16 and got["t2"][2] == np.full(32, 2, np.float32).tobytes()


def test_in_place_over_the_split_set_it_reads(tmp_path):
    t = {f"w{i}": np.full((2, 32), i, np.float32) for i in range(4)}
    make_gguf(tmp_path / "s.gguf", t, {"general.name": "s"}, split_max_tensors=1)
    paths = shards_of(tmp_path / "s", 4)
    before = merged(paths)
    convert(paths[0], "-o", tmp_path / "s.gguf", "--split-max-tensors=1", "--set-metadata=general.name=t")
    assert merged(paths) == before and kvs(paths[0])["general.name"] == ([V.STRING], "t")
    assert sorted(leftovers(tmp_path)) == sorted(p.name for p in paths)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--split-max-size=0"], "--split-max-size=0: expected a positive number"),
        (["--split-max-size=1.5G"], "expected a positive number of bytes"),
        (["--split-max-size=10T"], "optionally with K, M or G"),
        (["--split-max-size="], "expected a positive number"),
        (["--split-max-tensors=0"], "--split-max-tensors=0: expected a positive number of tensors"),
        (["--split-max-tensors=x"], "expected a positive number of tensors"),
        (["--split-max-size=1M", "--split-max-tensors=2"], "give one of them"),
        (["--split-max-tensors=2", "--format=irpa"], "only .gguf output can be split into shards, not irpa"),
        (["--split-max-tensors=2", "--format=safetensors"], "not safetensors"),
        (["--split-max-tensors=2", "--rename=c.f32=" + "n" * 64], "at most 63"),  # in the last shard
        (["--split-max-tensors=2", "--set-metadata=general.alignment=u32:48"], "not a power of two"),
    ],
)
def test_refusals_are_one_line_and_leave_nothing(tmp_path, model, capsys, flags, message):
    assert main(["convert", str(model), "-o", str(tmp_path / "o.gguf"), "--quiet", *flags]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("irpa: warning:")]
    assert len(err) == 1 and err[0].startswith("irpa: error: ") and message in err[0], err
    assert os.listdir(tmp_path) == ["m.gguf"]


def test_a_create_refusal(tmp_path, capsys):
    out = str(tmp_path / "c.safetensors")
    assert main(["create", "--data=a=4xf32", "-o", out, "--split-max-size=1K"]) == 1
    assert "only .gguf output can be split" in capsys.readouterr().err and os.listdir(tmp_path) == []


def _write(tmp_path, model, progress, cancel=None):
    out = build(Plan(), open_archive(model), "gguf")
    return write_split(out, tmp_path / "o.gguf", Split(max_tensors=2), progress=progress, cancel=cancel)


def test_progress_counts_over_all_shards(tmp_path, model):
    events = []
    result = _write(tmp_path, model, events.append)
    assert [e.shard for e in events] == sorted(e.shard for e in events) and events[-1].shard == 3
    assert {e.shards for e in events} == {4} and {e.count for e in events} == {7}
    assert events[-1].index == 6
    done = [e.bytes_done for e in events]
    total = sum(len(d) for *_, d in tensors(model).values())
    assert done == sorted(done) and done[-1] == events[-1].bytes_total == total
    assert [r.path for r in result.shards] == [str(p) for p in shards_of(tmp_path / "o", 4)]
    assert result.path == str(shards_of(tmp_path / "o", 4)[0]) and result.entries == 7
    assert result.bytes == sum(os.path.getsize(p) for p in shards_of(tmp_path / "o", 4))


@pytest.mark.parametrize("how", ["cancel", "error"])
def test_cancel_or_failure_in_a_later_shard_leaves_nothing(tmp_path, model, how):
    old = shards_of(tmp_path / "o", 4)[0]
    old.write_bytes(b"a previous split set")  # a rewrite must leave it as it was
    cancel = threading.Event()

    def progress(ev):
        if ev.shard == 2:
            if how == "error":
                raise OSError(28, "No space left on device")
            cancel.set()

    with pytest.raises(Cancelled if how == "cancel" else Exception) as info:
        _write(tmp_path, model, progress, cancel)
    if how == "error":
        assert "no space left" in str(info.value)
    assert leftovers(tmp_path) == [old.name] and old.read_bytes() == b"a previous split set"


def test_engine_refusals(tmp_path, model):
    with pytest.raises(PlanError, match="exactly one limit"):
        Split(max_size=1, max_tensors=1)
    with pytest.raises(PlanError, match="exactly one limit"):
        Split()
    with pytest.raises(PlanError, match="only GGUF output can be split"):
        build(Plan(), open_archive(model), "irpa").split(Split(max_tensors=1))
