"""The engine side of writing every format: plan ops for casts and
metadata, ``Target.how``, ``target_chunks``, the ``--set-metadata`` text
rule, and the writer's progress and cancel on produced bytes."""

import threading

import numpy as np
import pytest

from irpa_core import Cancelled, PlanError, open_archive
from irpa_core.filemeta import set_op
from irpa_core.model import read_bytes
from irpa_core.output import build, format_for, target_chunks
from irpa_core.plan import CAST, SET_METADATA, UNSET_METADATA, Op, Plan
from irpa_core.write import write_archive
from tests import oracle
from tests.fixtures import make_gguf, make_safetensors


@pytest.fixture
def st(tmp_path):
    return make_safetensors(
        tmp_path / "m.safetensors",
        {
            "w.0": np.arange(1 << 16, dtype=np.float32),
            "w.1": np.ones(64, np.float32),
            "n": np.arange(4, dtype=np.int64),
        },
        {"format": "pt"},
    )


def test_new_ops_round_trip_through_json_and_describe():
    plan = Plan().cast("w.*", "f16").set_metadata("general.name", "x: y").set_metadata("n", "3", "u32")
    plan = plan.unset_metadata("*")
    again = Plan.from_json(plan.to_json())
    assert again == plan and plan.to_json()["irpa_plan"] == 1
    assert [op.describe() for op in plan.ops] == [
        "cast w.* -> f16",
        "set metadata general.name = 'x: y'",
        "set metadata n = u32:'3'",
        "unset all metadata",
    ]
    old = {"irpa_plan": 1, "ops": [{"op": "exclude", "name": "a"}, {"op": "splat", "name": "b", "value": ""}]}
    assert Plan.from_json(old).ops == (Op("exclude", "a"), Op("splat", "b"))


def test_op_validation():
    with pytest.raises(PlanError, match="unknown dtype"):
        Op(CAST, "x", value="f99")
    with pytest.raises(PlanError, match=r"metadata key 'k'.*out of range"):
        Op(SET_METADATA, "k", value="300", type="u8")
    with pytest.raises(PlanError, match="needs a metadata key"):
        Op(UNSET_METADATA, "")


def test_cast_fate_last_wins_and_metadata_ops_match_no_parameter(st):
    ar = open_archive(st)
    plan = Plan().cast("w.*", "f16").cast("w.1", "bf16").set_metadata("w.0", "k", "string").unset_metadata("zzz")
    assert [plan.fate(n).cast for n in ("w.0", "w.1", "n")] == ["f16", "bf16", ""]
    assert plan.fate("w.0").action == "keep"
    assert plan.unmatched(ar) == []
    targets = {t.name: t for t in plan.tensor_targets(ar)}
    assert (targets["w.0"].how, targets["w.0"].length, targets["w.0"].dtype.name) == ("cast", 1 << 17, "f16")
    assert targets["n"].how == "copy"
    same = {t.name: t for t in Plan().cast("w.0", "f32").tensor_targets(ar)}
    assert same["w.0"].how == "copy"  # casting to its own dtype undoes a cast


def test_splat_of_a_cast_parameter_fits_the_new_length(st):
    ar = open_archive(st)
    t = {t.name: t for t in Plan().cast("w.1", "f16").splat("w.1", "f16=1").tensor_targets(ar)}["w.1"]
    assert (t.kind, t.length, t.pattern) == ("splat", 128, b"\x00\x3c")
    with pytest.raises(PlanError, match="parameter 'n': cannot cast"):
        Plan().cast("n", "f16").tensor_targets(ar)
    by_glob = {t.name: t.how for t in Plan().cast("*", "f16").tensor_targets(ar)}
    assert by_glob == {"w.0": "cast", "w.1": "cast", "n": "copy"}  # a glob casts what it can


def test_target_chunks_of_every_kind(st):
    ar = open_archive(st)
    plan = Plan().splat("w.1", "x32=CAFEF00D").cast("w.0", "bf16")
    out = build(plan, ar, "safetensors")
    by = {t.name: t for t in out.targets}
    assert {t.name: t.how for t in out.targets} == {"w.0": "cast", "w.1": "expand", "n": "copy"}
    chunks = [bytes(c) for c in target_chunks(by["w.1"], chunk=24)]
    assert all(len(c) <= 24 and len(c) % 4 == 0 for c in chunks)
    assert b"".join(chunks) == bytes.fromhex("CAFEF00D") * 64
    import ml_dtypes

    want = np.arange(1 << 16, dtype=np.float32).astype(ml_dtypes.bfloat16).tobytes()
    assert b"".join(bytes(c) for c in target_chunks(by["w.0"])) == want
    assert b"".join(bytes(c) for c in target_chunks(by["n"], chunk=8)) == read_bytes(ar.by_name["n"])
    irpa = build(plan.set_metadata("k", "v", "string"), ar, "irpa")
    dataset = irpa.targets[0]
    assert dataset.how == "memory" and b"".join(target_chunks(dataset, chunk=7)) == dataset.data


def test_set_metadata_text_rule():
    known = {"tokenizer.chat_template", "general.name", "n"}
    template = "{% if m['role'] == 'user' %}string:{{ m.content }}{% endif %}"
    assert set_op("tokenizer.chat_template", template, known) == Op(SET_METADATA, "tokenizer.chat_template", template)
    assert set_op("general.name", "u32:x", known) == Op(SET_METADATA, "general.name", "u32:x")  # does not parse
    assert set_op("n", "u32:7", known) == Op(SET_METADATA, "n", "7", type="u32")  # parses: a new type
    assert set_op("new", "string:a:b", known) == Op(SET_METADATA, "new", "a:b", type="string")
    assert set_op("new", 'array[string]:["a"]', known).type == "array[string]"
    assert set_op("new", "plain", known) == Op(SET_METADATA, "new", "plain")  # the type is asked for later
    assert set_op("new", "plain", known, default_type="string").type == "string"


def test_format_for():
    assert [format_for(p) for p in ("a.irpa", "B.GGUF", "c.safetensors", "d.bin", "e")] == [
        "irpa",
        "gguf",
        "safetensors",
        None,
        None,
    ]


def test_progress_and_cancel_while_casting(tmp_path):
    big = make_gguf(tmp_path / "b.gguf", {"w": np.ones((256, 1 << 14), np.float32)})  # 16 MiB
    ar = open_archive(big)
    out = build(Plan().cast("w", "f16"), ar, "gguf")
    events = []
    write_archive(out, tmp_path / "o.gguf", progress=events.append)
    done = [e.bytes_done for e in events]
    assert done == sorted(done) and done[-1] == (8 << 20) and len(set(done)) > 2  # several chunks
    cancel = threading.Event()

    def stop(ev):
        if ev.bytes_done:
            cancel.set()

    with pytest.raises(Cancelled):
        write_archive(out, tmp_path / "c.gguf", progress=stop, cancel=cancel)
    assert not (tmp_path / "c.gguf").exists() and not list(tmp_path.glob(".c.gguf*"))


def test_generated_dataset_entry_loads_in_iree(tmp_path, st):
    ar = open_archive(st)
    out = tmp_path / "o.irpa"
    write_archive(build(Plan().set_metadata("general.name", "n", "string"), ar, "irpa"), out)
    ref = oracle.load(out)
    assert next(iter(ref)) == "__SHARK_DATASET__" and b'"general.name":"n"' in ref["__SHARK_DATASET__"].data
    assert b'"format":"pt"' in ref["__SHARK_DATASET__"].data
