"""One measurement in a fresh process, for bench_explore.py:

    python bench/explore_probe.py TREE latency FILE   # keys while an exact pass runs
    python bench/explore_probe.py TREE idle FILE      # the same keys, no pass
    python bench/explore_probe.py TREE scan FILE      # S until the scan is done

TREE is the source tree to import irpa from (this one, or main's for the
baseline). Prints one JSON line."""

import asyncio
import json
import statistics
import sys
import time

KEYS = ["slash", *"token", *["backspace"] * 5, *"token", *["backspace"] * 5, *"tok"]  # filter keystrokes


async def main(MODE, PATH):
    from irpa_tui.app import IrpaApp

    app = IrpaApp([PATH])
    async with app.run_test(size=(140, 40)) as pilot:
        while type(app.screen).__name__ != "BrowseScreen":
            await pilot.pause(0.01)
        screen = app.screen
        bar = screen.query_one("#stats-progress")
        if MODE == "scan":
            t = time.perf_counter()
            await pilot.press("S")
            plan = screen.query_one("#plan-bar")
            while "scanned" not in str(plan.render()) and "scanned" not in getattr(screen, "_scan_state", ""):
                await pilot.pause(0.02)
            return {"scan_s": time.perf_counter() - t}
        # The first row is token_embd.weight (167,772,160 Q8_0 values): its
        # exact pass starts after the debounce and the sampled estimate. The
        # keys filter the table without leaving that row.
        if MODE == "latency":
            t0 = time.perf_counter()
            while not bar.has_class("running"):
                await pilot.pause(0.01)
                if time.perf_counter() - t0 > 30:
                    raise SystemExit("the exact pass never started")
        else:
            await pilot.pause(0.3)
            await app.workers.wait_for_complete()
        # When the filter of a key has been applied (the key's effect), seen
        # from inside the app: the pilot's own waiting is not counted.
        applied: list[float] = []
        real = screen.view.set_filter

        def timed(query):
            real(query)
            applied.append(time.perf_counter())

        screen.view.set_filter = timed
        times, cpu, handled, effect = [], [], [], []
        for k in KEYS:
            if MODE == "latency" and not bar.has_class("running"):
                break
            t, c = time.perf_counter(), time.thread_time()
            before = len(applied)
            await pilot.press(k)  # returns once the key has been handled
            handled.append(time.perf_counter() - t)
            if len(applied) > before:
                effect.append(applied[-1] - t)
            await pilot.pause()  # and the next frame is drawn
            times.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - c)
        return {
            "keys": len(times),
            "effect_ms": 1000 * statistics.median(effect) if effect else float("nan"),
            "effect_max_ms": 1000 * max(effect) if effect else float("nan"),
            "handled_ms": 1000 * statistics.median(handled),
            "handled_max_ms": 1000 * max(handled),
            "cpu_ms": 1000 * statistics.median(cpu),
            "median_ms": 1000 * statistics.median(times),
            "max_ms": 1000 * max(times),
            "p90_ms": 1000 * sorted(times)[int(0.9 * (len(times) - 1))],
        }


if __name__ == "__main__":  # a child process may import this module: run nothing then
    sys.path.insert(0, sys.argv[1])
    print(json.dumps(asyncio.run(main(sys.argv[2], sys.argv[3]))))
