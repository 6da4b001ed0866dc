"""irpa hash against sha256sum, and irpa repair against downloading again.

    python bench/bench_hash.py [FILE] [ROUNDS] [MB_PER_S]

1. ``irpa hash --sha256 FILE`` (per-tensor and whole-model lines: every
   byte is hashed twice), ``--sha256 --no-layer`` and the default xxh64,
   against ``sha256sum FILE`` (coreutils: no SHA-NI) and ``openssl dgst
   -sha256`` (SHA-NI, as hashlib); hot cache, interleaved rounds, medians.
   FILE defaults to /work/models/gemma.gguf (a real 253 MB GGUF).
2. The same file cut at 60%, completed by ``irpa repair --from URL`` from the
   tests' HTTP server (its own process, 127.0.0.1), against ``curl`` of the
   whole file; once on bare loopback and once paced to MB_PER_S (default
   100) per connection, a stand-in for a network link. The cut copy is made
   again before every run (untimed).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_remote import serve
from bench.common import installed_irpa, interleaved, mib

DEFAULT = "/work/models/gemma.gguf"


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    rate = float(sys.argv[3]) if len(sys.argv) > 3 else 100.0
    size = os.path.getsize(path)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        irpa = installed_irpa(d)
        cmds = {
            "sha256sum": ["sha256sum", path],
            "openssl dgst -sha256": ["openssl", "dgst", "-sha256", path],  # SHA-NI, as hashlib
            "irpa hash --sha256": [irpa, "hash", "--sha256", path],
            "irpa hash --sha256 --no-layer": [irpa, "hash", "--sha256", "--no-layer", path],
            "irpa hash (xxh64)": [irpa, "hash", path],
        }
        r = interleaved(cmds, rounds)
        base = r["sha256sum"][0]
        print(f"hash of {path} ({size:,} bytes), hot cache, median of {rounds} interleaved rounds:")
        for name, (sec, rss, _) in r.items():
            print(f"  {name:<30} {sec:.3f} s  {mib(rss):>8}  {sec / base:.2f}x sha256sum  {size / sec / 1e6:.0f} MB/s")

        srv = os.path.join(d, "srv")
        os.mkdir(srv)
        shutil.copy(path, os.path.join(srv, "model.gguf"))
        cut = os.path.join(d, "cut.gguf")
        full = os.path.join(d, "full.gguf")
        keep = int(size * 0.6)

        def fresh() -> None:
            for p in (cut, full, cut + ".irpa-repair"):
                if os.path.exists(p):
                    os.unlink(p)
            with open(path, "rb") as src, open(cut, "wb") as dst:
                shutil.copyfileobj(src, dst, 8 << 20)
                dst.truncate(keep)

        for label, delay in (("loopback", 0.0), (f"paced to {rate:g} MB/s", (16 << 10) / (rate * 1e6))):
            server, url_base = serve(srv, delay)
            try:
                url = f"{url_base}/model.gguf"
                cmds = {
                    "irpa repair": [irpa, "repair", cut, "--from", url, "--quiet"],
                    "curl (download again)": ["curl", "-sf", "-o", full, url],
                }
                r = interleaved(cmds, rounds, fresh)
                fresh()
                out = subprocess.check_output(cmds["irpa repair"], text=True)
                fetched = int(re.search(r"fetched ([\d,]+) bytes", out)[1].replace(",", ""))
                with open(cut, "rb") as a, open(path, "rb") as b:
                    same = a.read() == b.read()
                ours, dl = r["irpa repair"][0], r["curl (download again)"][0]
                print(
                    f"repair of a copy cut at 60%, {label}, median of {rounds} interleaved rounds: "
                    f"irpa repair {ours:.3f} s fetching {fetched:,} bytes "
                    f"(missing {size - keep:,}: {fetched / (size - keep):.4f}x); "
                    f"curl {dl:.3f} s fetching {size:,} bytes; curl / repair {dl / ours:.2f}; "
                    f"result {'equals' if same else 'DIFFERS FROM'} the original",
                    flush=True,
                )
            finally:
                server.stdin.close()  # type: ignore[union-attr]
                server.wait(10)


if __name__ == "__main__":
    main()
