#!/usr/bin/env bash
# The shopper mix with keel-load against one Keel: browse, search, product pages, carts and full
# checkouts paid through the embedded paysim, closed-loop with USERS virtual shoppers.
#
#   bench/load.sh                                  # SQLite, 32 users, 30 s
#   USERS=64 DURATION=60 bench/load.sh
#   KEEL_DATABASE_URL=postgres://…/empty_db KEEL_NATS_URL=nats://127.0.0.1:4222 bench/load.sh
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

echo "building release binaries…" >&2
cargo build --release --quiet -p keel -p keel-load
BIN="$CARGO_TARGET_DIR/release"

. bench/lib.sh
bench_workdir

start_keel
key="$(api_key load)"

engine=sqlite
case "${KEEL_DATABASE_URL:-}" in postgres*) engine=postgres ;; esac
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
