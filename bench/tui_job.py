"""One TUI job, headless, as a command: ``tui_job.py write IN OUT`` or
``tui_job.py verify IN OUT`` (the benchmarks time it like any command).

The app opens IN as the user would (browse screen first, the first row's
statistics computed), then starts the job the way the ``w`` and ``v`` keys
do after their dialog (the engine's
targets of the current plan, the write or verify screen with its coalesced
progress), waits for the result and quits. With ``--times FILE`` it appends
the job's own seconds (screen pushed -> result shown) to FILE.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def run(job: str, src: str, out: str) -> float:
    from irpa_tui.app import IrpaApp
    from irpa_tui.screens.browse import BrowseScreen

    app = IrpaApp([src])
    async with app.run_test(size=(140, 40)) as pilot:
        while not isinstance(app.screen, BrowseScreen):
            await pilot.pause(0.01)
        # The statistics of the first row run in workers as the table
        # appears; a person takes longer than they do to fill in the dialog.
        await app.workers.wait_for_complete()
        targets = app.screen.session.targets()
        t = time.perf_counter()
        if job == "write":
            app.start_write(targets, out)
            screen = app.screen
            while screen.state == "writing":
                await asyncio.sleep(0.01)  # not pilot.pause: it waits on every widget (costs the UI time)
            if screen.state != "done":
                raise SystemExit(f"write {screen.state}")
        else:
            app.verify_written(targets, out)
            screen = app.screen
            while not screen.rows:
                await asyncio.sleep(0.01)
            if not all(r.ok for r in screen.rows):
                raise SystemExit("verify found differences")
        return time.perf_counter() - t


def main(argv: list[str]) -> None:
    times = None
    if "--times" in argv:
        k = argv.index("--times")
        times = argv[k + 1]
        argv = argv[:k] + argv[k + 2 :]
    job, src, out = argv
    seconds = asyncio.run(run(job, src, out))
    if times:
        with open(times, "a") as f:
            f.write(f"{seconds}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
