#!/usr/bin/env bash
# Cold start: from starting the release binary to its first served catalog request, on SQLite with
# the demo catalog — on a fresh data directory (migrations, demo seed, search index) and on a
# restart of the same directory. RUNS times each; prints min / median / max in milliseconds.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}"
. bench/lib.sh
release_bins -p keel
bench_workdir
python3 - "$BIN/keel" "$work" "$RUNS" <<'PY'
import os, socket, subprocess, sys, time, urllib.request, statistics, shutil
keel, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
def port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def once(data):
    p = port()
    env = dict(os.environ, KEEL_DATA_DIR=data, KEEL_ADDR=f"127.0.0.1:{p}", KEEL_LOG="warn")
    t0 = time.perf_counter()
    proc = subprocess.Popen([keel, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{p}/v1/store/products", timeout=1) as r:
                    if r.status == 200:
                        return (time.perf_counter() - t0) * 1000
            except Exception:
                if time.perf_counter() - t0 > 30:
                    raise SystemExit("no answer within 30 s")
                time.sleep(0.002)
    finally:
        proc.terminate(); proc.wait()
fresh, restart = [], []
for i in range(runs):
    data = os.path.join(work, f"d{i}")
    fresh.append(once(data))
    restart.append(once(data))
    shutil.rmtree(data)
fmt = lambda xs: f"{min(xs):.0f} / {statistics.median(xs):.0f} / {max(xs):.0f}"
print(f"| start | ms to first served request (min / median / max of {runs}) |")
print("|---|---:|")
print(f"| fresh data directory (migrate, seed demo, build search index) | {fmt(fresh)} |")
print(f"| restart on the same data directory | {fmt(restart)} |")
PY
