"""Detail pane for one parameter: fields, metadata, statistics, values.

Statistics arrive in two steps from a thread worker: a sampled estimate at
once, then the exact streaming pass with a progress bar. Moving to another
row cancels the running job (its cancel event is set and the worker is
exclusive), and a short debounce means scrolling fast through rows does not
start work for rows the user only passed over.
"""

from __future__ import annotations

import threading

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import ProgressBar, Static

from irpa_core import stats as S
from irpa_core.display import NARROW, human, num, shape_str
from irpa_core.errors import Cancelled, IrpaError
from irpa_core.formats import pytorch_meta
from irpa_core.model import Entry

BARS = " ▁▂▃▄▅▆▇█"
DEBOUNCE = 0.12


def histogram_text(counts: list[int], width: int = 64, height: int = 4) -> Text:
    """Vertical bars, ``height`` lines of block characters."""
    if not counts:
        return Text("(no finite values)", style="dim")
    # Rebin to the width available.
    n = len(counts)
    if n > width:
        step = n / width
        counts = [sum(counts[int(i * step) : int((i + 1) * step)]) for i in range(width)]
    top = max(counts) or 1
    levels = [round(c / top * height * 8) for c in counts]
    lines = []
    for row in range(height - 1, -1, -1):
        chars = []
        for lv in levels:
            v = lv - row * 8
            chars.append(BARS[max(0, min(8, v))])
        lines.append("".join(chars))
    return Text("\n".join(lines), style="cyan")


def _g(x: float) -> str:
    return num(x, NARROW)


def stats_table(st: S.Stats) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    t.add_column(style="bold")
    t.add_column()
    t.add_row("count", f"{st.count:,}", "min", _g(st.min))
    t.add_row("mean", _g(st.mean), "max", _g(st.max))
    t.add_row("std", _g(st.std), "zeros", f"{st.zeros:,} ({st.sparsity:.1f}%)")
    t.add_row("NaN", f"{st.nans:,}", "Inf", f"{st.infs:,}")
    pct = "  ".join(f"p{k} {_g(v)}" for k, v in st.percentiles.items())
    t.add_row("pct", pct, "", "")
    return t


class DetailPane(VerticalScroll):
    DEFAULT_CSS = """
    DetailPane { width: 1fr; min-width: 40; border-left: solid $panel-lighten-2; padding: 0 1; }
    DetailPane .section { text-style: bold; color: $secondary; margin-top: 1; }
    DetailPane ProgressBar { display: none; }
    DetailPane ProgressBar.running { display: block; }
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        self.entry: Entry | None = None
        self._cancel = threading.Event()
        self._timer = None
        self.as_dtype = None
        self.last_stats: S.Stats | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="info")
        yield Static("Statistics", classes="section")
        yield Static(id="stats")
        yield ProgressBar(id="stats-progress", show_eta=False)
        yield Static(id="hist")
        yield Static("Values", classes="section")
        yield Static(id="values")

    # -- showing an entry ---------------------------------------------------

    def show(self, entry: Entry | None, shown_name: str | None = None, as_dtype=None) -> None:
        """``as_dtype``: view the bytes as this dtype (entries without one)."""
        self._cancel.set()
        self.as_dtype = as_dtype
        if self._timer is not None:
            self._timer.stop()
        self.entry = entry
        self.last_stats = None
        self.query_one("#info", Static).update(self._info(entry, shown_name, as_dtype))
        self.query_one("#stats", Static).update(Text("…", style="dim") if entry else "")
        self.query_one("#hist", Static).update("")
        self.query_one("#values", Static).update("")
        self.query_one("#stats-progress", ProgressBar).remove_class("running")
        if entry is not None:
            self._timer = self.set_timer(DEBOUNCE, lambda: self._start(entry))

    def _start(self, entry: Entry) -> None:
        if entry is not self.entry:
            return
        self._cancel = threading.Event()
        cancel = self._cancel
        view = self.as_dtype
        self.run_worker(lambda: self._job(entry, cancel, view), thread=True, exclusive=True, group="stats")

    def cancel_stats(self) -> bool:
        """Stop the exact pass (escape). Returns whether one was running."""
        running = self.query_one("#stats-progress", ProgressBar).has_class("running")
        self._cancel.set()
        return running

    # -- the worker ---------------------------------------------------------

    def _job(self, entry: Entry, cancel: threading.Event, view=None) -> None:
        app = self.app
        if not S.can_decode(entry, view):
            d = view or entry.dtype
            why = (
                "no dtype recorded: press a to view the bytes as a dtype"
                if d is None
                else f"{d.name} cannot be decoded"
            )
            app.call_from_thread(self._set_stats, entry, Text(why, style="dim"))
            return
        try:
            values = S.preview(entry, 6, 5, as_dtype=view)
            app.call_from_thread(self._set_values, entry, values)
            est = S.sample_stats(entry, as_dtype=view)
            app.call_from_thread(self._set_stats, entry, est)
            if est.exact or cancel.is_set():
                return
            app.call_from_thread(self._progress, entry, 0, 1)
            exact = S.compute_stats(
                entry,
                as_dtype=view,
                cancel=cancel,
                progress=lambda d, t: app.call_from_thread(self._progress, entry, d, t),
            )
            app.call_from_thread(self._set_stats, entry, exact)
        except Cancelled:
            app.call_from_thread(self._cancelled, entry)
        except (IrpaError, OSError, ValueError) as e:
            app.call_from_thread(self._set_stats, entry, Text(f"error: {e}", style="red"))

    def _progress(self, entry, done, total) -> None:
        if entry is not self.entry:
            return
        bar = self.query_one("#stats-progress", ProgressBar)
        bar.add_class("running")
        bar.update(total=total, progress=done)

    def _cancelled(self, entry) -> None:
        if entry is not self.entry:
            return
        self.query_one("#stats-progress", ProgressBar).remove_class("running")
        st = self.query_one("#stats", Static)
        if self.last_stats is not None:
            st.update(self._stats_renderable(self.last_stats, note="exact pass cancelled"))

    def _set_stats(self, entry, st) -> None:
        if entry is not self.entry:
            return
        widget = self.query_one("#stats", Static)
        if isinstance(st, Text):
            widget.update(st)
            return
        self.last_stats = st
        if st.exact:
            self.query_one("#stats-progress", ProgressBar).remove_class("running")
        widget.update(self._stats_renderable(st))
        self.query_one("#hist", Static).update(histogram_text(st.hist_counts, width=max(16, self.size.width - 4)))

    def _stats_renderable(self, st: S.Stats, note: str | None = None):
        from rich.console import Group

        head = Text(
            "exact" if st.exact else f"estimate from {st.sampled:,} sampled values",
            style="green" if st.exact else "yellow",
        )
        if note:
            head.append(f"  ({note})", style="dim")
        return Group(head, stats_table(st))

    def _set_values(self, entry, values) -> None:
        if entry is not self.entry:
            return
        t = Table(show_header=False, box=None, padding=(0, 1))
        for _ in range(values.shape[1] if values.ndim == 2 else 0):
            t.add_column(justify="right")
        for row in values:
            t.add_row(*[f"{float(v):.4g}" for v in row])
        self.query_one("#values", Static).update(t)

    # -- fields ---------------------------------------------------------------

    def _info(self, e: Entry | None, shown_name: str | None, as_dtype=None):
        if e is None:
            return Text("No parameter selected", style="dim")
        t = Table.grid(padding=(0, 2))
        t.add_column(style="bold", no_wrap=True)
        t.add_column(overflow="fold")
        t.add_row("name", e.name)
        if shown_name and shown_name != e.name:
            t.add_row("written as", Text(shown_name, style="yellow"))
        t.add_row("dtype", e.dtype_name or "unknown")
        if as_dtype is not None:
            t.add_row("viewed as", Text(as_dtype.name, style="yellow"))
        t.add_row("shape", shape_str(e.shape))
        t.add_row("elements", f"{e.element_count:,}" if e.element_count is not None else "?")
        t.add_row("bytes", f"{e.length:,} ({human(e.length)})")
        t.add_row("kind", e.kind)
        t.add_row("file", _short(e.file))
        t.add_row("offset", "-" if e.offset is None else f"{e.offset:,}")
        t.add_row("alignment", str(e.alignment or "-"))
        if e.pattern is not None:
            t.add_row("pattern", e.pattern.hex())
        if e.metadata:
            raw = e.metadata[:100].decode("utf-8", "replace") + ("…" if len(e.metadata) > 100 else "")
            t.add_row("metadata", raw)
            decoded = pytorch_meta.decode(e.metadata)
            if decoded:
                t.add_row("decoded", f"{decoded[0].name} {shape_str(decoded[1])}")
        return t


def _short(path: str) -> str:
    import os

    return os.path.basename(path)
