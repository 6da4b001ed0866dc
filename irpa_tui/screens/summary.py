"""The model summary (``i``): what ``irpa info`` prints, as a screen."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from irpa_core.check import ERROR, Report, check_archive
from irpa_core.display import human, shown
from irpa_core.errors import IrpaError
from irpa_core.model import Archive
from irpa_core.summary import LABELS, Summary, bpw, count_rows, fact_text, summarize

from ..keys import HELP_BINDING, show_help

SHOWN_FINDINGS = 8  # more are counted (irpa check lists them all)


def check_rows(report: Report) -> list[tuple[str, Text]]:
    """``irpa check``'s verdict and findings as rows of the summary."""
    if not report.checked:
        style = "dim"
    else:
        style = "green" if not report.findings else ("red" if not report.ok else "yellow")
    rows = [("check", Text(shown(report.headline(), 300), style=style))]
    for f in report.findings[:SHOWN_FINDINGS]:
        rows.append(("", Text(shown(f.message, 400), style="red" if f.severity == ERROR else "yellow")))
    if len(report.findings) > SHOWN_FINDINGS:
        more = len(report.findings) - SHOWN_FINDINGS
        rows.append(("", Text(f"and {more:,} more: irpa check FILE lists them all", style="dim")))
    return rows


def summary_renderable(s: Summary, report: Report | None = None) -> RenderableType:
    """Facts with their sources, the check's findings, then the dtype mix
    and the layer groups."""
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold", no_wrap=True)
    head.add_column()
    head.add_column(style="dim")
    for key, fact in s.facts():
        value = Text(fact_text(fact.value), style="" if fact.known else "yellow")
        head.add_row(LABELS[key], value, Text(shown(fact.source, 120)))
    for label, count, detail in count_rows(s):
        head.add_row(label, Text(count), Text(detail))
    mix = Table(title="dtype mix", title_justify="left", title_style="bold", box=None, padding=(0, 1))
    for col, right in (("dtype", False), ("tensors", True), ("elements", True), ("% elem", True)):
        mix.add_column(col, justify="right" if right else "left", no_wrap=True)
    for col in ("bytes", "% bytes", "bits/w"):
        mix.add_column(col, justify="right", no_wrap=True)
    for sh in s.by_dtype:
        pe = 100 * sh.elements / s.parameters if s.parameters else 0
        pb = 100 * sh.bytes / s.bytes if s.bytes else 0
        mix.add_row(
            Text(sh.dtype),
            f"{sh.tensors:,}",
            f"{sh.elements:,}",
            f"{pe:.1f}%",
            human(sh.bytes),
            f"{pb:.1f}%",
            bpw(sh.bits_per_weight),
        )
    groups = Table(title="per layer group", title_justify="left", title_style="bold", box=None, padding=(0, 1))
    groups.add_column("role", no_wrap=True, max_width=48)
    groups.add_column("bits/w", justify="right", no_wrap=True)
    groups.add_column("elements", justify="right", no_wrap=True)
    groups.add_column("dtypes")
    for g in s.groups:
        groups.add_row(Text(shown(g.role, 200)), bpw(g.bits_per_weight), f"{g.elements:,}", Text(g.mix))
    files = Text("\n".join(f"{fmt}  {shown(p, 300)}" for p, fmt in s.files), style="dim")
    notes = [Text(f"note: {shown(n, 300)}", style="yellow") for n in s.notes]
    checks = Table.grid(padding=(0, 2))
    checks.add_column(style="bold", no_wrap=True, min_width=len("bits per weight"))
    checks.add_column()
    for label, text in check_rows(report) if report is not None else []:
        checks.add_row(label, text)
    return Group(files, Text(""), head, *notes, Text(""), checks, Text(""), mix, Text(""), groups)


class SummaryScreen(Screen):
    BINDINGS = [Binding("escape,q,i", "app.pop_screen", "Back", tooltip="back to the table"), HELP_BINDING]

    def __init__(self, archive: Archive):
        super().__init__()
        self.summary = summarize(archive)
        try:  # names, shapes and keys only: as cheap as the summary
            self.check = check_archive(archive)
        except IrpaError as e:
            self.check = Report(checked=False, notes=(str(e),))

    def compose(self) -> ComposeResult:
        yield Static(Text("Model summary", style="bold"), classes="title")
        with VerticalScroll(id="summary-box"):
            yield Static(summary_renderable(self.summary, self.check))
        yield Footer()

    def action_help(self) -> None:
        show_help(self, "model summary keys (arrows and page keys scroll)")
