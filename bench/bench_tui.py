"""TUI with a 100,000-entry archive: time from start to the first painted
table, and time per filter keystroke (headless, 140x40)."""

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def measure(path):
    from irpa_tui.app import IrpaApp
    from irpa_tui.screens.browse import BrowseScreen
    from irpa_tui.widgets.param_table import ParamTable

    t0 = time.perf_counter()
    app = IrpaApp([path])
    async with app.run_test(size=(140, 40)) as pilot:
        while not isinstance(app.screen, BrowseScreen):
            await pilot.pause(0.005)
        table = app.screen.query_one(ParamTable)
        while table.row_count == 0 or not table.size.height:
            await pilot.pause(0.005)
        await pilot.pause()
        first_paint = time.perf_counter() - t0
        await pilot.press("slash")
        times, cpu = [], []
        keys = [*"layer.4.", *["backspace"] * 4]
        for k, ch in enumerate(keys):
            t, c = time.perf_counter(), time.process_time()
            await pilot.press(ch)
            await pilot.pause()
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            if k == 7:
                shown = len(app.screen.view.rows)
        t = time.perf_counter()
        await pilot.press("enter", "x")  # strip the filtered rows
        await pilot.pause()
        strip = time.perf_counter() - t
    return first_paint, times, shown, strip, cpu


def main():
    from safetensors.numpy import save_file

    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "many.safetensors")
        save_file({f"layer.{i}.w": np.zeros(2, np.float32) for i in range(100_000)}, p)
        runs = [asyncio.run(measure(p)) for _ in range(3)]
        first = statistics.median(r[0] for r in runs)
        keys = [t for r in runs for t in r[1]]
        cpu = [t for r in runs for t in r[4]]
        print(
            f"100,000 entries: first painted table {first:.2f} s (median of 3); filter keystroke median "
            f"{statistics.median(keys) * 1000:.0f} ms wall (includes Textual's frame pacing), "
            f"{statistics.median(cpu) * 1000:.0f} ms CPU, max {max(keys) * 1000:.0f} ms over {len(keys)} keys "
            f"(filter 'layer.4.' shows {runs[0][2]:,}); bulk strip of the view {runs[0][3] * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
