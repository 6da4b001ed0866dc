"""The two-sided table of the verify and compare panes (``side_stats``):
its cells, the rows it flags, why a side has no statistics, and the
statistics job that fills it (sampled, then exact)."""

from __future__ import annotations

import threading

import numpy as np
from rich.console import Console

from irpa_core import open_archive
from irpa_core.model import Entry
from irpa_tui.side_stats import both_sides, sides_table
from tests.fixtures import make_safetensors


def _table(group):
    """(label, flagged) of each row of the group's table, and its text."""
    table = group.renderables[0]
    labels = [str(c) for c in table.columns[0].cells]
    console = Console(width=100, record=True, color_system=None)
    console.print(group)
    return [
        (label, row.style == "yellow") for label, row in zip(labels, table.rows, strict=True)
    ], console.export_text()


def _archives(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(1000).astype(np.float32)
    a = open_archive(make_safetensors(tmp_path / "a.safetensors", {"x": x, "y": x}))
    b = open_archive(make_safetensors(tmp_path / "b.safetensors", {"x": x.astype(np.float16), "y": x * 2}))
    return a, b


def test_the_rows_that_differ_between_two_sides_are_flagged(tmp_path):
    a, b = _archives(tmp_path)
    ea, eb = a.by_name["x"], b.by_name["x"]
    rows, text = _table(sides_table(("A", "B"), ea, eb, None))
    assert rows[:4] == [("kind", False), ("dtype", True), ("shape", False), ("bytes", True)]
    assert "computing…" in text  # both sides decode: their statistics are on the way
    got: list = []
    both_sides(a.by_name["y"], b.by_name["y"], threading.Event(), lambda *stats: got.append(stats))
    assert [(exact, final) for _a, _b, exact, final in got] == [(True, True)]  # small: the sample is every value
    rows, text = _table(sides_table(("A", "B"), a.by_name["y"], b.by_name["y"], got[-1]))
    flagged = dict(rows)
    assert not flagged["dtype"] and flagged["min"] and flagged["std"] and not flagged["zeros"]
    assert "exact" in text


def test_a_missing_side_flags_nothing_and_a_side_without_statistics_says_why(tmp_path):
    a, _b = _archives(tmp_path)
    rows, _text = _table(sides_table(("expected", "found"), a.by_name["x"], None, None))
    assert not any(flag for _label, flag in rows)  # every cell differs from "-": nothing to point at
    raw = Entry(name="r", kind="data", length=16, file=str(tmp_path / "a.safetensors"), offset=0)  # no dtype
    got: list = []
    both_sides(None, raw, threading.Event(), lambda *stats: got.append(stats))
    assert got == [(None, None, True, True)]
    _rows, text = _table(sides_table(("A", "B"), None, raw, got[-1]))
    assert "no statistics of B: no dtype to read it as" in text and "of A" not in text


def test_a_cancelled_statistics_job_ends_quietly(tmp_path, monkeypatch):
    """Another row highlighted: the job's reads stop with ``Cancelled``,
    which ends it without a report or an error."""
    import irpa_tui.side_stats as SS
    from irpa_core.errors import Cancelled

    a, b = _archives(tmp_path)

    def cancelled(*_args):
        raise Cancelled("statistics")

    monkeypatch.setattr(SS, "side_stats", cancelled)
    got: list = []
    both_sides(a.by_name["x"], b.by_name["x"], threading.Event(), lambda *stats: got.append(stats))
    assert got == []


def test_a_dtype_name_from_a_file_is_shown_as_data(tmp_path):
    """A safetensors header may name any dtype: markup, an ESC sequence and
    U+202E in it reach the pane escaped, as text."""
    import json
    import struct

    from irpa_core.display import escape

    hostile = "X[bold]Y\x1b[31m\u202e"
    header = json.dumps({"t": {"dtype": hostile, "shape": [4], "data_offsets": [0, 16]}}).encode()
    path = tmp_path / "h.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(16))
    e = open_archive(path).entries[0]
    _rows, text = _table(sides_table(("A", "B"), e, None, None))
    assert "\x1b" not in text and "\u202e" not in text
    assert escape(hostile) in text  # every character there, escaped, none taken for markup
