"""The verify / diff screen: one row per entry with its status.

Rows are computed in a thread worker with progress (the engine's
``compare_targets`` after a write, ``diff`` for ``--diff A B``). Keys 1-6
filter by status, 0 shows all; the pane shows both sides' statistics.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Footer, ProgressBar, Static

from irpa_core import diff as D
from irpa_core import stats as S
from irpa_core import verify as V
from irpa_core.display import shape_str
from irpa_core.errors import Cancelled
from irpa_core.model import Entry

OK_STATUSES = (V.SAME, D.IDENTICAL)
STATUS_STYLE: dict[V.Status | D.Status, str] = {
    V.SAME: "green",
    D.IDENTICAL: "green",
    D.VALUES_DIFFER: "yellow",
    V.BYTES_DIFFER: "red",  # the same words in both reports
    V.MISSING: "red",
    V.EXTRA: "magenta",
    D.ONLY_A: "red",
    D.ONLY_B: "magenta",
    V.KIND_DIFFERS: "red",
    V.LENGTH_DIFFERS: "red",
    V.PATTERN_DIFFERS: "red",
    D.CHANGED: "yellow",
}


@dataclass(frozen=True)
class VerifyRow:
    name: str
    status: V.Status | D.Status
    detail: str
    a: Entry | None  # expected / A side
    b: Entry | None  # written / B side


def rows_from_verify(report, expected, output) -> list[VerifyRow]:
    src = {t.name: t.source for t in expected}
    return [VerifyRow(c.name, c.status, c.detail, src.get(c.name), output.by_name.get(c.name)) for c in report.checks]


def rows_from_diff(report) -> list[VerifyRow]:
    out = []
    for p in report.pairs:
        detail = ", ".join(p.notes)
        if p.metrics:
            m = p.metrics
            detail = (
                detail + "  " if detail else ""
            ) + f"max|d| {m.max_abs:.3g}  relL2 {m.rel_l2:.3g}  cos {m.cosine:.6f}"
        out.append(VerifyRow(p.name, p.status, detail, p.a, p.b))
    return out


class VerifyScreen(Screen):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("0", "status(0)", "All"),
        *[Binding(str(k), f"status({k})", f"status {k}", show=False) for k in range(1, 10)],
    ]
    DEFAULT_CSS = """
    VerifyScreen #verify-main { height: 1fr; }
    VerifyScreen DataTable { width: 3fr; }
    VerifyScreen #verify-side { width: 2fr; padding: 0 1; border-left: solid $panel-lighten-2; }
    VerifyScreen #verify-summary { height: auto; padding: 0 1; }
    """

    def __init__(self, title: str, compute):
        """``compute(progress, cancel) -> list[VerifyRow]`` runs in a thread;
        leaving the screen sets ``cancel`` so the comparison stops."""
        super().__init__()
        self.title_text = title
        self.compute = compute
        self.cancel = threading.Event()
        self.rows: list[VerifyRow] = []
        self.statuses: list[V.Status | D.Status] = []
        self.only: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(self.title_text, style="bold"), id="verify-title")
        yield ProgressBar(id="verify-progress", show_eta=False)
        yield Static(id="verify-summary")
        with Horizontal(id="verify-main"):
            yield DataTable(id="verify-table", cursor_type="row", zebra_stripes=True)
            with Vertical(id="verify-side"):
                yield Static(id="verify-detail")
        yield Footer()

    def on_mount(self) -> None:
        t = self.query_one(DataTable)
        t.add_columns("status", "name", "detail")
        self.run_worker(self._run, thread=True, exclusive=True, group="verify")

    def _run(self) -> None:
        app = self.app

        def progress(name, done, total):
            app.call_from_thread(self._progress, done, total)

        try:
            rows = self.compute(progress, self.cancel)
        except Cancelled:
            return
        app.call_from_thread(self._show, rows)

    def on_unmount(self) -> None:
        self.cancel.set()

    def _progress(self, done, total) -> None:
        self.query_one("#verify-progress", ProgressBar).update(total=max(1, total), progress=done)

    def _show(self, rows: list[VerifyRow]) -> None:
        self.rows = rows
        bar = self.query_one("#verify-progress", ProgressBar)
        bar.update(total=1, progress=1)
        bar.display = False
        counts: dict[V.Status | D.Status, int] = {}
        for r in rows:
            counts[r.status] = counts.get(r.status, 0) + 1
        self.statuses = sorted(counts, key=lambda s: (s not in OK_STATUSES, s))
        ok = all(r.status in OK_STATUSES for r in rows)
        parts = [Text("OK " if ok else "DIFFERENT ", style="bold green" if ok else "bold red")]
        for k, s in enumerate(self.statuses, 1):
            parts.append(
                Text.assemble((f"{k}", "bold cyan"), " ", (f"{s} {counts[s]:,}", STATUS_STYLE.get(s, "")), "   ")
            )
        parts.append(Text("0 all", style="dim"))
        self.query_one("#verify-summary", Static).update(Text.assemble(*parts))
        self._fill()

    def _fill(self) -> None:
        t = self.query_one(DataTable)
        t.clear()
        for k, r in enumerate(self.rows):
            if self.only is None or r.status == self.only:
                t.add_row(Text(r.status, style=STATUS_STYLE.get(r.status, "")), r.name, r.detail, key=str(k))
        if t.row_count:
            t.move_cursor(row=0)
            self._detail(self.rows[int(t.coordinate_to_cell_key(Coordinate(0, 0)).row_key.value or 0)])
        else:
            self.query_one("#verify-detail", Static).update("")

    def action_status(self, k: int) -> None:
        self.only = None if k == 0 or k > len(self.statuses) else self.statuses[k - 1]
        self._fill()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self._detail(self.rows[int(event.row_key.value)])

    def _detail(self, r: VerifyRow) -> None:
        t = Table(box=None, padding=(0, 1), show_header=True, header_style="bold")
        t.add_column("")
        t.add_column("expected / A")
        t.add_column("written / B")

        def side(e: Entry | None):
            if e is None:
                return ["-"] * 9
            st = None
            if S.can_decode(e):
                try:
                    st = S.sample_stats(e, budget=1 << 14)
                except Exception:
                    st = None
            base = [e.kind, e.dtype_name or "?", shape_str(e.shape), f"{e.length:,}"]
            if st is None:
                return base + ["?"] * 5
            return [*base, f"{st.min:.4g}", f"{st.max:.4g}", f"{st.mean:.4g}", f"{st.std:.4g}", f"{st.sparsity:.1f}%"]

        a, b = side(r.a), side(r.b)
        for label, x, y in zip(["kind", "dtype", "shape", "bytes", "min", "max", "mean", "std", "zeros"], a, b):
            t.add_row(label, x, y, style="yellow" if x != y else "")
        head = Text.assemble((r.name, "bold"), "\n", (r.status, STATUS_STYLE.get(r.status, "")), "  ", r.detail)
        self.query_one("#verify-detail", Static).update(_group(head, t))


def _group(*items):
    from rich.console import Group

    return Group(*items)
