"""Plans: resolution, precedence like the reference, validation, JSON."""

import json

import pytest

from irpa_core import PlanError
from irpa_core.model import Archive, Entry, SourceFile
from irpa_core.output import apply
from irpa_core.plan import Op, Plan, check_splat


def _archive(*specs):
    """specs: (name, length)"""
    entries = tuple(
        Entry(name=n, kind="data", length=length, file="/x", offset=i * 64) for i, (n, length) in enumerate(specs)
    )
    return Archive((SourceFile("/x", "irpa", 1 << 20),), entries)


A = _archive(("blk.0.attn", 16), ("blk.0.ffn_up", 32), ("blk.1.ffn_up", 32), ("blk.10.ffn_up", 32), ("out", 6))


def test_default_keeps_everything():
    ts = apply(Plan(), A)
    assert [(t.name, t.kind) for t in ts] == [(e.name, "data") for e in A]


def test_globs_and_last_op_wins():
    p = Plan().strip().keep("blk.*.ffn_up").exclude("blk.10.*")
    fates = {e.name: p.fate(e.name).action for e in A}
    assert fates == {
        "blk.0.attn": "splat",
        "blk.0.ffn_up": "keep",
        "blk.1.ffn_up": "keep",
        "blk.10.ffn_up": "exclude",
        "out": "splat",
    }
    # Toggling back is just another op.
    assert p.keep("blk.10.ffn_up").fate("blk.10.ffn_up").action == "keep"


def test_reference_precedence():
    # Reference: exclude beats splat beats strip; first --splat/--rename wins.
    p = Plan.from_reference_flags(
        exclude=["out"],
        splat=[("out", "i8=1"), ("blk.0.attn", "f32=1"), ("blk.0.attn", "f32=2")],
        rename=[("blk.0.ffn_up", "a"), ("blk.0.ffn_up", "b")],
        strip=True,
    )
    assert p.fate("out").action == "exclude"
    assert p.fate("blk.0.attn").value == "f32=1"
    assert p.fate("blk.0.ffn_up").name == "a"
    assert p.fate("blk.1.ffn_up").action == "splat" and p.fate("blk.1.ffn_up").value == ""
    # --splat names the renamed name in the reference.
    q = Plan.from_reference_flags(rename=[("out", "head")], splat=[("head", "i8=2")])
    assert q.fate("out").value == "i8=2" and q.fate("out").name == "head"


def test_glob_rename_carries_captures():
    p = Plan().rename("blk.*.ffn_up", "layers.*.mlp.up")
    assert [t.name for t in apply(p, A)][1:4] == ["layers.0.mlp.up", "layers.1.mlp.up", "layers.10.mlp.up"]


def test_rename_collisions_are_named():
    with pytest.raises(PlanError, match="'out'"):
        apply(Plan().rename("blk.0.attn", "out"), A)
    with pytest.raises(PlanError, match="collides"):
        apply(Plan().rename("blk.0.attn", "x").rename("out", "x"), A)
    # Renaming onto a name that is itself renamed away is fine.
    ts = apply(Plan().rename("out", "tmp").rename("blk.0.attn", "out"), A)
    assert {t.name for t in ts} >= {"out", "tmp"}
    # Renaming onto an excluded name is fine too.
    apply(Plan().exclude("out").rename("blk.0.attn", "out"), A)
    assert Plan().check_rename(A, "blk.0.attn", "out") is not None
    assert Plan().check_rename(A, "blk.0.attn", "fresh") is None


def test_splat_validation_names_the_parameter():
    with pytest.raises(PlanError, match=r"parameter 'out'.*multiple of the 4-byte"):
        apply(Plan().splat("out", "f32=1"), A)
    with pytest.raises(PlanError, match="unknown splat type"):
        Plan().splat("out", "q7=1")
    assert check_splat(A.by_name["out"], "f16=1") is None
    assert "multiple" in check_splat(A.by_name["out"], "f32=1")
    assert "not a number" in check_splat(A.by_name["out"], "f32=x")


def test_json_round_trip(tmp_path):
    p = Plan().strip().keep("blk.*").splat("out", "i16=3").rename("blk.0.attn", "a=b").exclude("x")
    path = tmp_path / "plan.json"
    p.save(path)
    assert Plan.load(path) == p
    doc = json.loads(path.read_text())
    assert doc["irpa_plan"] == 1 and doc["ops"][2] == {"op": "splat", "name": "out", "value": "i16=3"}
    path.write_text('{"irpa_plan": 1, "ops": [{"op": "explode", "name": "x"}]}')
    with pytest.raises(PlanError, match="unknown plan action"):
        Plan.load(path)
    path.write_text("{")
    with pytest.raises(PlanError, match="not valid JSON"):
        Plan.load(path)


def test_unmatched_ops():
    p = Plan().exclude("nope").exclude("blk.*").splat("zz*")
    assert [o.pattern for o in p.unmatched(A)] == ["nope", "zz*"]


def test_resolving_100k_names():
    names = [f"blk.{i}.w{j}" for i in range(10000) for j in range(10)]
    p = Plan().strip().keep("blk.1*.w3").exclude("blk.5.w1").rename("blk.*.w9", "l.*.w9")
    fates = [p.fate(n) for n in names]
    assert fates[names.index("blk.13.w3")].action == "keep" and fates[names.index("blk.2.w3")].action == "splat"
    assert fates[names.index("blk.5.w1")].action == "exclude"
    assert fates[names.index("blk.7.w9")].name == "l.7.w9"


def test_op_validation():
    with pytest.raises(PlanError):
        Op("rename", "a", new="")
    with pytest.raises(PlanError):
        Op("rename", "a", new="b.*")
