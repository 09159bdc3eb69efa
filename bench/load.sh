#!/usr/bin/env bash
# The shopper mix with keel-load against one Keel: browse, search, product pages, carts and full
# checkouts paid through the embedded paysim, closed-loop with USERS virtual shoppers.
#
#   bench/load.sh                                  # SQLite, 32 users, 30 s
#   USERS=64 DURATION=60 bench/load.sh
#   KEEL_DATABASE_URL=postgres://…/empty_db KEEL_NATS_URL=nats://127.0.0.1:4222 bench/load.sh
#   … KEEL_REDIS_URL=redis://127.0.0.1:6379 bench/load.sh   # Redis as the shared cache and limits
#   BIN_DIR=/path/to/release bench/load.sh         # prebuilt keel and keel-load
#   RATE=200 bench/load.sh                         # open loop: 200 journeys/s
#
# Prints keel-load's table (per step: requests, errors, req/s, p50/p90/p99/p99.9/max) and Keel's
# peak RSS; writes bench/results/load-ENGINE.json. Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-30}"
USERS="${USERS:-32}"
RATE="${RATE:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}"

. bench/lib.sh
release_bins -p keel -p keel-load

bench_workdir

# Redis keys of this run under their own prefix, deleted at the end.
if [ -n "${KEEL_REDIS_URL:-}" ]; then
  export KEEL_REDIS_PREFIX="keel_bench_$$:"
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; redis-cli -u "$KEEL_REDIS_URL" --scan --pattern "$KEEL_REDIS_PREFIX*" | xargs -r redis-cli -u "$KEEL_REDIS_URL" del >/dev/null' EXIT
fi
start_keel
key="$(api_key load)"

engine=sqlite
case "${KEEL_DATABASE_URL:-}" in postgres*) engine=postgres ;; esac
[ -n "${KEEL_REDIS_URL:-}" ] && engine="$engine+redis"
[ -n "${KEEL_NATS_URL:-}" ] && engine="$engine+nats"
mode=(--users "$USERS")
[ -n "$RATE" ] && mode=(--rate "$RATE")
mkdir -p bench/results
"$BIN/keel-load" --target "$base" "${mode[@]}" --duration "$DURATION" --admin-key "$key" \
  --label "$engine, $(nproc) cores" --json "bench/results/load-$engine.json"
rss_kb="$(awk '/VmHWM/ {print $2}' "/proc/$keel_pid/status")"
echo
echo "Keel peak RSS: $((rss_kb / 1024)) MiB"
python3 - "bench/results/load-$engine.json" "$rss_kb" <<'PY'
import json, sys
path, rss = sys.argv[1], int(sys.argv[2])
doc = json.load(open(path)); doc["keel_peak_rss_kb"] = rss
json.dump(doc, open(path, "w"), indent=2)
PY
mkdir -p docs/bench
python3 bench/load_chart.py "bench/results/load-$engine.json" "docs/bench/load-${engine%%+*}.svg"
