"""Remote archives against the test HTTP server (tests/httpserver.py, on
127.0.0.1, in its own process): what opening the real-shaped GGUF costs
(time, bytes, requests; goal: under 1.2x the header), and a remote
strip-and-keep convert against downloading the whole file first (curl, then
a local convert).

    python bench/bench_remote.py [ROUNDS] [MB_PER_S]

The server sends 16 KiB pieces; MB_PER_S (default 100) paces each
connection to about that rate, a stand-in for a network link (loopback
alone moves gigabytes a second, which hides what fetching less is worth).
Rounds run interleaved; medians.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, installed_irpa, interleaved
from bench.inputs import make_real_gguf

SERVER = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from tests.httpserver import start
ts, httpd = start(Path({root_dir!r}))
ts.delay = {delay!r}
print(ts.port, flush=True)
sys.stdin.read()  # until the benchmark closes it
"""

OPEN = """
import json, sys, time
t = time.perf_counter()
from irpa_core import open_archive
a = open_archive(sys.argv[1])
took = time.perf_counter() - t
src = a.sources[0]
print(json.dumps({"seconds": took, "fetched": src.bytes_fetched, "requests": src.requests,
                  "header": min(e.start for e in a.entries), "size": src.size}))
"""


def serve(root: str, delay: float) -> tuple[subprocess.Popen, str]:
    code = SERVER.format(root=str(ROOT), root_dir=root, delay=delay)
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    port = int(p.stdout.readline())
    return p, f"http://127.0.0.1:{port}"


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 100.0
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        srv = os.path.join(d, "srv")
        os.mkdir(srv)
        make_real_gguf(os.path.join(srv, "real.gguf"))
        irpa = installed_irpa(d)
        for label, delay in (("loopback", 0.0), (f"paced to {rate:g} MB/s per connection", (16 << 10) / (rate * 1e6))):
            server, base = serve(srv, delay)
            try:
                url = f"{base}/real.gguf"
                opens = [json.loads(subprocess.check_output([sys.executable, "-c", OPEN, url])) for _ in range(rounds)]
                o = sorted(opens, key=lambda x: x["seconds"])[len(opens) // 2]
                print(
                    f"open, {label} ({rounds} runs): {o['seconds']:.3f} s median, fetched {o['fetched']} bytes in "
                    f"{o['requests']} requests for a {o['header']}-byte header "
                    f"({o['fetched'] / o['header']:.3f}x; file {o['size']} bytes)",
                    flush=True,
                )
                local = os.path.join(d, "dl.gguf")
                out = os.path.join(d, "repro.irpa")
                keep = ["--strip", "--keep=blk.0.*", f"--output={out}", "--quiet", "--no-fsync"]
                cmds = {
                    "irpa convert (remote)": [irpa, "convert", f"--parameters={url}", *keep],
                    "curl, then irpa convert": [
                        "sh",
                        "-c",
                        f"curl -sf -o {local} {url} && {irpa} convert --parameters={local} {' '.join(keep)}",
                    ],
                    "irpa dump (remote)": [irpa, "dump", url],
                }

                def clean(paths=(local, out)):
                    for p in paths:
                        if os.path.exists(p):
                            os.unlink(p)

                r = interleaved(cmds, rounds, clean)
                clean()
                loud = [a for a in cmds["irpa convert (remote)"] if a != "--quiet"]
                fetched = [ln for ln in subprocess.check_output(loud, text=True).splitlines() if "fetched" in ln]
                ours, dl = r["irpa convert (remote)"][0], r["curl, then irpa convert"][0]
                print(
                    f"strip + keep blk.0.*, {label} ({rounds} interleaved rounds): remote {ours:.3f} s, "
                    f"download first {dl:.3f} s ({dl / ours:.1f}x); irpa dump {r['irpa dump (remote)'][0]:.3f} s; "
                    f"convert: {fetched[0] if fetched else '?'}",
                    flush=True,
                )
            finally:
                server.stdin.close()  # type: ignore[union-attr]
                server.wait(10)


if __name__ == "__main__":
    main()
