"""The filter language of the parameter table (irpa_tui.filtering via
TableView): words, anchors, globs, re:, field terms, AND, negation, new
names, and errors that say what is wrong."""

import numpy as np
import pytest

from irpa_core import dtypes
from irpa_core.model import DATA, SPLAT, Archive, Entry, SourceFile
from irpa_core.plan import Op, Plan
from irpa_core.scan import Row as ScanRow
from irpa_tui.filtering import FilterError, parse, status
from irpa_tui.view import TableView

NAMES = [
    ("token_embd.weight", "Q8_0", 300 << 20, DATA, "a.gguf"),
    ("blk.0.attn_q.weight", "Q4_K", 2 << 20, DATA, "a.gguf"),
    ("blk.0.ATTN_K.weight", "Q4_K", 512 << 10, DATA, "a.gguf"),
    ("blk.1.attn_q.weight", "Q6_K", 3 << 20, DATA, "b.gguf"),
    ("blk.10.ffn_down.weight", "f16", 1 << 20, DATA, "b.gguf"),
    ("output_norm.weight", "f32", 4096, SPLAT, "b.gguf"),
    ("x[1].bias", "f32", 64, DATA, "b.gguf"),
]


def _archive() -> Archive:
    entries = tuple(
        Entry(name=n, kind=k, length=size, file=f"/m/{f}", offset=0 if k == DATA else None, dtype=dtypes.by_name(d),
              pattern=b"\0\0\0\0" if k == SPLAT else None)
        for n, d, size, k, f in NAMES
    )  # fmt: skip
    return Archive((SourceFile("/m/a.gguf", "gguf", 0), SourceFile("/m/b.gguf", "gguf", 0)), entries)


def shown(query: str, plan: Plan | None = None, scan=None) -> list[str]:
    a = _archive()
    fates = plan.fates(a) if plan is not None else None
    v = TableView(a, lambda: fates)
    if scan:
        v.set_scan(*scan)
    v.set_filter(query)
    return [a.entries[i].name for i in v.rows]


def test_words_match_anywhere_ignoring_case():
    assert shown("attn_q") == ["blk.0.attn_q.weight", "blk.1.attn_q.weight"]
    assert shown("BLK.0") == ["blk.0.attn_q.weight", "blk.0.ATTN_K.weight"]
    assert shown("attn_k") == ["blk.0.ATTN_K.weight"]


def test_anchors_and_globs_anywhere():
    assert shown("^blk.1") == ["blk.1.attn_q.weight", "blk.10.ffn_down.weight"]
    assert shown("^blk.1.") == ["blk.1.attn_q.weight"]
    assert shown("bias$") == ["x[1].bias"]
    assert shown("*attn_q") == ["blk.0.attn_q.weight", "blk.1.attn_q.weight"]  # not anchored: grep-like
    assert shown("blk.?.attn") == ["blk.0.attn_q.weight", "blk.0.ATTN_K.weight", "blk.1.attn_q.weight"]
    assert shown("^blk.*down*$") == ["blk.10.ffn_down.weight"]
    assert shown("blk.[!0]") == ["blk.1.attn_q.weight", "blk.10.ffn_down.weight"]
    assert shown("x[[]1]") == ["x[1].bias"]  # a literal [ in a glob


def test_regular_expressions():
    assert shown(r"re:^blk\.\d+\.attn_[qk]") == ["blk.0.attn_q.weight", "blk.0.ATTN_K.weight", "blk.1.attn_q.weight"]
    assert shown(r"re:x\[1\]") == ["x[1].bias"]


def test_fields_and_and():
    assert shown("dtype:q4_k") == ["blk.0.attn_q.weight", "blk.0.ATTN_K.weight"]
    assert shown("dtype:Q*_K") == ["blk.0.attn_q.weight", "blk.0.ATTN_K.weight", "blk.1.attn_q.weight"]
    assert shown("kind:splat") == ["output_norm.weight"]
    assert shown("size:>1MiB") == ["token_embd.weight", "blk.0.attn_q.weight", "blk.1.attn_q.weight"]
    assert shown("size:<=4KiB") == ["output_norm.weight", "x[1].bias"]
    assert shown("size:=64") == ["x[1].bias"]
    assert shown("size:>1.5MB size:<2.5MiB") == ["blk.0.attn_q.weight"]
    assert shown("file:b.gguf attn") == ["blk.1.attn_q.weight"]
    assert shown("attn !dtype:Q6_K") == ["blk.0.attn_q.weight", "blk.0.ATTN_K.weight"]
    assert shown('"attn_q.weight" blk.1') == ["blk.1.attn_q.weight"]


def test_marks_and_new_names():
    plan = Plan((Op("rename", "blk.*.attn_q.weight", new="layers.*.q"), Op("exclude", "token_embd.weight"),
                 Op("splat", "blk.10.ffn_down.weight", value="f16=1")))  # fmt: skip
    assert shown("mark:renamed", plan) == ["blk.0.attn_q.weight", "blk.1.attn_q.weight"]
    assert shown("mark:excluded", plan) == ["token_embd.weight"]
    assert shown("mark:splat", plan) == ["blk.10.ffn_down.weight"]
    assert shown("mark:edited", plan) == [
        "token_embd.weight", "blk.0.attn_q.weight", "blk.1.attn_q.weight", "blk.10.ffn_down.weight"
    ]  # fmt: skip
    assert len(shown("mark:kept", plan)) == 5  # renamed rows are kept too
    # The new name matches as well as the old one.
    assert shown("layers.1", plan) == ["blk.1.attn_q.weight"]
    assert shown("^layers.*q$", plan) == ["blk.0.attn_q.weight", "blk.1.attn_q.weight"]
    assert shown("mark:renamed") == []  # no plan: nothing renamed


def test_scan_flags():
    rows = {0: ScanRow(4, 0, 0, 0, 0, 4, 0, 0), 3: ScanRow(4, 1, 1, 1, 0, 0, 1, 0)}
    flags = {0: ("zero",), 3: ("nan", "std")}
    assert shown("flag:nan", scan=(rows, flags)) == ["blk.1.attn_q.weight"]
    assert shown("flag:any", scan=(rows, flags)) == ["token_embd.weight", "blk.1.attn_q.weight"]
    assert shown("!flag:any", scan=(rows, flags))[0] == "blk.0.attn_q.weight"


@pytest.mark.parametrize(
    "query, says",
    [
        ("re:(", "bad regular expression"),
        ("kind:blob", "kind: 'blob' is not one of data, splat, external"),
        ("mark:gone", "is not one of renamed"),
        ("size:>big", "is not a size"),
        ("size:>3XB", "unknown unit"),
        ("dtype:", "dtype: needs a value"),
        ('"open', "not closed"),
        ("blk.[0", "[ is not closed"),
        ("flag:weird", "flag:"),
    ],
)
def test_errors_say_what_is_wrong(query, says):
    with pytest.raises(FilterError, match=None) as e:
        parse(query)
    assert says in str(e.value)


def test_a_bad_filter_leaves_the_view_unchanged():
    a = _archive()
    v = TableView(a)
    v.set_filter("attn_q")
    with pytest.raises(FilterError):
        v.set_filter("re:[")
    assert v.query == "attn_q" and len(v.rows) == 2


def test_plan_glob_only_when_it_selects_the_same_rows():
    a = _archive()
    v = TableView(a)
    v.set_filter("attn_q")
    assert v.plan_glob() == "*attn_q*"
    v.set_filter("attn_k")  # the filter ignores case, the plan does not: names instead
    assert v.plan_glob() is None
    v.set_filter("dtype:f32")
    assert v.plan_glob() is None


@pytest.mark.alone
def test_fast_on_100k_names():
    import time

    n = 100_000
    entries = tuple(
        Entry(name=f"layer.{i}.w", kind=DATA, length=8, file="/m/a", offset=0, dtype=dtypes.by_name("f32"))
        for i in range(n)
    )
    v = TableView(Archive((SourceFile("/m/a", "safetensors", 0),), entries))
    v.set_filter("x")  # warm the lower-cased names
    t = time.perf_counter()
    for q in ("layer.4", "layer.4.", "^layer.4*w$", "dtype:f32 layer.9"):
        v.set_filter(q)
    assert (time.perf_counter() - t) / 4 < 0.25
    assert np.isclose(len(v.rows), n / 10, rtol=0.2)


def test_state_terms(tmp_path):
    from irpa_core.sources import open_source

    f = tmp_path / "cut.bin"
    f.write_bytes(bytes(100))
    src = open_source(str(f))
    entries = tuple(
        Entry(name=n, kind=DATA, length=40, file=str(f), offset=off, source=src)
        for n, off in (("whole", 0), ("half", 80), ("gone", 120))
    )
    v = TableView(Archive((SourceFile(str(f), "raw", 100, data_end=160, source=src),), entries), lambda: None)
    for query, names in (
        ("state:partial", ["half"]),
        ("state:MISSING", ["gone"]),
        ("!state:complete", ["half", "gone"]),
    ):
        v.set_filter(query)
        assert [entries[i].name for i in v.rows] == names, query
    with pytest.raises(FilterError, match="state: 'cut' is not one of complete, partial, missing"):
        parse("state:cut")
    src.close()


def test_the_status_beside_the_filter_box():
    """Why a filter cannot be read, naming the term at fault as data (a
    pasted escape sequence is shown escaped), else the rows it leaves,
    else the screen's hint."""
    bad = status(FilterError("unknown field", "zz:\x1b[31m" + "x" * 100), None, "hint")
    assert bad.style == "bold red" and "\x1b" not in bad.plain and bad.plain.startswith("unknown field  in zz:")
    assert "characters)" in bad.plain  # a long term is clipped and says its length
    assert status(None, (3, 1200), "hint").plain == "3 of 1,200"
    assert status(None, None, "? lists the terms").plain == "? lists the terms"
