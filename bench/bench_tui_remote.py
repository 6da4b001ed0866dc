"""The TUI on remote archives: opening the real-shaped GGUF over HTTP in the
TUI (time to the painted table, bytes and requests) against the engine's
own open (what ``irpa dump`` does), and a local open in the TUI against an
earlier tree (default: main), to show the worker path left local files
alone.

    python bench/bench_tui_remote.py [ROUNDS] [BASELINE_REF]

The server is the tests' (tests/httpserver.py, own process, 127.0.0.1).
Every measurement is a fresh process; rounds run in a shuffled order, as
bench.common.interleaved does. Times are measured inside each process, from
its start to the painted table (the app's shutdown, which waits for the
detail pane's job, is left out); medians.
"""

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_remote import serve
from bench.common import ROOT
from bench.inputs import make_real_gguf

# A fresh process: the TUI headless at 140x40 until the browser's table is painted.
TUI = """
import asyncio, json, sys, time
sys.path.insert(0, sys.argv[1])
t0 = time.perf_counter()
from irpa_tui.app import IrpaApp
from irpa_tui.screens.browse import BrowseScreen
from irpa_tui.widgets.param_table import ParamTable

async def main():
    app = IrpaApp([sys.argv[2]])
    async with app.run_test(size=(140, 40)) as pilot:
        while not (isinstance(app.screen, BrowseScreen) and app.screen.query(ParamTable)):
            await pilot.pause(0.005)
        table = app.screen.query_one(ParamTable)
        while table.row_count == 0 or not table.size.height:
            await pilot.pause(0.005)
        await pilot.pause()
        took = time.perf_counter() - t0
        f = getattr(app, "open_fetched", None)
        print(json.dumps({"seconds": took, "fetched": f.bytes if f else 0, "requests": f.requests if f else 0}))

if __name__ == "__main__":
    asyncio.run(main())
"""

OPEN = """
import json, sys, time
t0 = time.perf_counter()
from irpa_core import open_archive
a = open_archive(sys.argv[1])
src = a.sources[0]
print(json.dumps({"seconds": time.perf_counter() - t0, "fetched": src.bytes_fetched, "requests": src.requests}))
"""


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    ref = sys.argv[2] if len(sys.argv) > 2 else "main"
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        srv = os.path.join(d, "srv")
        os.mkdir(srv)
        path = make_real_gguf(os.path.join(srv, "real.gguf"))
        base_tree = os.path.join(d, "base")
        os.mkdir(base_tree)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", base_tree], input=archive, check=True)
        server, base = serve(srv, 0.0)
        try:
            url = f"{base}/real.gguf"
            cmds = {
                "remote: irpa-tui URL, to the painted table": [sys.executable, "-c", TUI, str(ROOT), url],
                "remote: open_archive(URL)": [sys.executable, "-c", OPEN, url],
                "local: irpa-tui FILE, this tree": [sys.executable, "-c", TUI, str(ROOT), path],
                f"local: irpa-tui FILE, {ref}": [sys.executable, "-c", TUI, base_tree, path],
            }
            runs: dict[str, list[dict]] = {k: [] for k in cmds}
            order = random.Random(0)
            for r in range(rounds + 1):  # the first round warms up (and byte-compiles both trees)
                names = list(cmds)
                order.shuffle(names)
                for name in names:
                    out = json.loads(subprocess.check_output(cmds[name], cwd=d).splitlines()[-1])
                    if r:
                        runs[name].append(out)
        finally:
            server.stdin.close()  # type: ignore[union-attr]
            server.wait(10)
        med = {k: statistics.median(x["seconds"] for x in xs) for k, xs in runs.items()}
        for name, xs in runs.items():
            fetched = f", fetched {xs[0]['fetched']} bytes in {xs[0]['requests']} requests" if xs[0]["fetched"] else ""
            print(f"{name}: {med[name]:.3f} s median{fetched}")
        ours, theirs = med["local: irpa-tui FILE, this tree"], med[f"local: irpa-tui FILE, {ref}"]
        print(f"({rounds} interleaved rounds, from process start; local this tree / {ref}: {ours / theirs:.2f})")


if __name__ == "__main__":
    main()
