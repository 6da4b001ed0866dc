"""The verify screen: one row per entry with its status, problems first.

Rows are computed in a thread worker (the engine's ``compare_targets``
after a write) whose progress comes through the same coalesced plumbing as
writing (``widgets/job_progress.py``); ``--diff A B`` has its own compare
screen (``compare.py``). The table is a virtual list, so 100,000 rows cost
what the visible ones do. Keys 1-9 filter by status, 0 shows all. The pane
shows both sides, headed *expected* and *written*: where the bytes differ
(element, file offsets, both values) and statistics computed in a worker,
marked "sampled" until the exact pass is done. A side without a dtype is
read as the other side's; a planned splat is shown as its pattern, not as
the source data it replaces.

Against remote sources, the comparison fetches the kept tensors again (a
line counts it); the side pane samples a remote tensor at a few places and
reads one whole only up to ``fetching.ASK_ABOVE`` (else it stays sampled).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Static

from irpa_core import verify as V
from irpa_core.display import escape
from irpa_core.errors import Cancelled, IrpaError
from irpa_core.locate import Difference
from irpa_core.model import Entry

from ..fetching import FetchMeter
from ..keys import HELP_BINDING, show_help
from ..messages import JobDone, SideStats
from ..side_stats import Both, both_sides, decodable, sides_table, spaced
from ..widgets.job_progress import RATE, Coalescer
from ..widgets.lines import LineList
from ..widgets.param_table import fit_name
from .comparison import ComparisonScreen

OK_STATUSES = (V.SAME,)
STATUS_STYLE: dict[V.Status, str] = {
    V.SAME: "green",
    V.BYTES_DIFFER: "red",
    V.MISSING: "red",
    V.EXTRA: "magenta",
    V.KIND_DIFFERS: "red",
    V.LENGTH_DIFFERS: "red",
    V.PATTERN_DIFFERS: "red",
    V.TRUNCATED: "red",
}
VERIFY_ROLES = ("expected", "written")
DETAIL = 32  # columns the detail keeps before a long name takes them


@dataclass(frozen=True)
class VerifyRow:
    name: str
    status: V.Status
    detail: str
    a: Entry | None  # expected / A side (a planned splat is the splat, not its source)
    b: Entry | None  # written / B side
    difference: Difference | None = None
    note: str = ""  # what the detail says besides where the bytes differ (kind, length, notes of a diff)

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES


def problems_first(rows: list[VerifyRow]) -> list[VerifyRow]:
    """Problems, then the rest, each in report order."""
    return [r for r in rows if not r.ok] + [r for r in rows if r.ok]


def rows_from_verify(report: V.Report, expected, output) -> list[VerifyRow]:
    want = {t.name: V.expected_entry(t) for t in expected}
    return problems_first(
        [
            VerifyRow(
                c.name,
                c.status,
                c.detail,
                want.get(c.name),
                output.by_name.get(c.name),
                c.difference,
                note=c.detail.split("; ")[0] if c.difference is None or c.status != V.BYTES_DIFFER else "",
            )
            for c in report.checks
        ]
    )


class VerifyScreen(ComparisonScreen):
    PREFIX = "verify"
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        # 1-9 as one key of the footer and the help; the digits are those of the bar above the table
        Binding("1", "status(1)", "Status", key_display="1-9", tooltip="only the rows of the status [N] of the bar"),
        *[Binding(str(k), f"status({k})", "", show=False) for k in range(2, 10)],
        Binding("0", "status(0)", "All", tooltip="the rows of every status"),
        HELP_BINDING,
    ]
    DEFAULT_CSS = """
    VerifyScreen #verify-title { padding: 0 1; }
    VerifyScreen #verify-job { padding: 0 1; margin-bottom: 1; }
    VerifyScreen #verify-fetched { padding: 0 1; }
    VerifyScreen #verify-main { height: 1fr; }
    VerifyScreen #verify-table { width: 3fr; }
    VerifyScreen #verify-side { width: 2fr; min-width: 44; padding: 0 1; border-left: solid $panel-lighten-2; }
    VerifyScreen #verify-summary { height: auto; padding: 0 1; }
    """

    def __init__(
        self,
        title: str,
        compute: Callable,
        roles: tuple[str, str] = VERIFY_ROLES,
        *,
        clock: Callable[[], float] = time.monotonic,
        fetch: FetchMeter | None = None,
    ):
        """``compute(progress, cancel) -> list[VerifyRow]`` runs in a thread;
        ``progress`` takes the engine's Progress events; leaving the screen
        sets ``cancel`` so the comparison stops. ``fetch``: the remote
        sources the comparison reads (a line shows what they fetch)."""
        super().__init__(title, fetch, clock)
        self.compute = compute
        self.roles = roles
        self.rows: list[VerifyRow] = []
        self.shown: list[int] = []  # indices into rows, after the status filter
        self.statuses: list[V.Status] = []
        self.only: str | None = None
        self.status_width = 17
        self.name_width = 24
        self._stats_cancel = threading.Event()
        self._current: VerifyRow | None = None
        self._stats: Both | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with Horizontal(id="verify-main"):
            yield LineList(self._line, header=self._header(), cursor=True, id="verify-table")
            with VerticalScroll(id="verify-side"):
                yield Static(id="verify-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.started = self.clock()
        self.query_one("#verify-summary", Static).update(Text("comparing…", style="dim"))
        self.run_worker(self._run, thread=True, exclusive=True, group="verify")

    def on_unmount(self) -> None:
        self.cancel.set()
        self._stats_cancel.set()

    # -- the comparison (worker) --------------------------------------------

    def _run(self) -> None:
        try:
            rows = self.compute(Coalescer(self, RATE, self.clock), self.cancel)
        except Cancelled:
            return
        except IrpaError as e:
            self.post_message(JobDone("failed", str(e)))
            return
        self.post_message(JobDone("done", rows))

    def on_job_done(self, msg: JobDone) -> None:
        if self.job_failed(msg):
            return
        rows = msg.payload
        assert isinstance(rows, list)
        self._show(rows)

    def _show(self, rows: list[VerifyRow]) -> None:
        self.rows = rows
        self._columns()
        counts: dict[V.Status, int] = {}
        for r in rows:
            counts[r.status] = counts.get(r.status, 0) + 1
        self.statuses = sorted(counts, key=lambda s: (s in OK_STATUSES, s))
        self.query_one("#verify-summary", Static).update(status_bar(self.statuses, counts))
        self._fill()
        self.query_one(LineList).focus()

    def _fill(self) -> None:
        self.shown = [k for k, r in enumerate(self.rows) if self.only is None or r.status == self.only]
        table = self.query_one(LineList)
        table.set_count(len(self.shown), reset=True)
        if self.shown:
            self._detail(self.rows[self.shown[0]])
        else:
            self.query_one("#verify-detail", Static).update("")

    def action_status(self, k: int) -> None:
        self.only = None if k == 0 or k > len(self.statuses) else self.statuses[k - 1]
        self._fill()

    def action_help(self) -> None:
        show_help(self, "verify keys")

    # -- the table ----------------------------------------------------------

    def on_resize(self) -> None:
        if self.rows:
            self.call_after_refresh(self._columns)

    def _columns(self) -> None:
        """Size the status and name columns to the rows and the table's width."""
        table = self.query_one(LineList)
        self.status_width, self.name_width = column_widths(self.rows, table.size.width)
        table.header = self._header()
        table.refresh()

    def _header(self) -> Text:
        return Text(f"{'status':<{self.status_width}}{'name':<{self.name_width}}  detail")

    def _line(self, i: int) -> Text:
        r = self.rows[self.shown[i]]
        return Text.assemble(
            (f"{r.status:<{self.status_width}}", STATUS_STYLE.get(r.status, "")),
            fit_name(escape(r.name), self.name_width),  # as the main table shortens it
            "  ",
            (r.detail, "dim"),
        )

    def on_line_list_highlighted(self, event: LineList.Highlighted) -> None:
        if event.row is not None and event.row < len(self.shown):
            self._detail(self.rows[self.shown[event.row]])

    # -- the side pane ------------------------------------------------------

    def _detail(self, r: VerifyRow) -> None:
        if r is self._current:
            return
        self._current = r
        self._stats = None
        self._stats_cancel.set()
        self._stats_cancel = cancel = threading.Event()
        self._render_detail()
        if decodable(r.a, r.b) or decodable(r.b, r.a):
            self.run_worker(lambda: self._stats_job(r, cancel), thread=True, group="side-stats")

    def _stats_job(self, r: VerifyRow, cancel: threading.Event) -> None:
        both_sides(r.a, r.b, cancel, lambda *got: self.post_message(SideStats(r, *got)))

    def on_side_stats(self, msg: SideStats) -> None:
        if msg.row is self._current:
            self._stats = (msg.a, msg.b, msg.exact, msg.final)
            self._render_detail()

    def _render_detail(self) -> None:
        r = self._current
        if r is None:
            return
        ra, rb = self.roles
        head = Text.assemble((escape(r.name), "bold"), "\n", (r.status, STATUS_STYLE.get(r.status, "")))
        parts: list = [head]
        if r.note:
            parts.append(Text(r.note))
        if r.difference is not None:
            fa = r.a.file.rsplit("/", 1)[-1] if r.a is not None and r.a.offset is not None else None
            fb = r.b.file.rsplit("/", 1)[-1] if r.b is not None and r.b.offset is not None else None
            lines = r.difference.lines(ra, rb, fa, fb)
            parts.append(Text("\n".join(lines)))
        parts.append(sides_table(self.roles, r.a, r.b, self._stats))
        self.query_one("#verify-detail", Static).update(Group(*spaced(parts)))


def status_bar(statuses: list, counts: dict) -> Text:
    """The verdict, then each status with the key that shows only its rows
    (``[1] same: 14``), then ``[0] all``: keys apart from counts."""
    ok = all(s in OK_STATUSES for s in statuses)
    t = Text.assemble(("OK" if ok else "DIFFERENT", "bold green" if ok else "bold red"))
    for k, s in enumerate(statuses, 1):
        t.append("   ")
        t.append(f"[{k}]", "bold cyan")
        t.append(f" {s}: {counts[s]:,}", STATUS_STYLE.get(s, ""))
    t.append("   ")
    t.append("[0]", "bold cyan")
    t.append(f" all: {sum(counts.values()):,}", "dim")
    return t


def column_widths(rows: list[VerifyRow], width: int) -> tuple[int, int]:
    """(status, name) widths of the table: the longest status, and names as
    long as the longest unless the detail would keep less than ``DETAIL``
    columns (or its own length), never under 12."""
    status = max([len("status"), *(len(r.status) for r in rows)]) + 2
    longest = max((len(escape(r.name)) for r in rows), default=12)
    detail = min(DETAIL, max((len(r.detail) for r in rows), default=0))
    return status, max(12, min(longest, width - status - 2 - detail))
