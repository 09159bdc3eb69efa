#!/usr/bin/env bash
# Outbox relay throughput to NATS JetStream (each event stored and acknowledged by the server
# before it is marked published), on SQLite and on PostgreSQL, in one run. Prints a table.
#
#   bench/outbox.sh               # 5000 events per row, NATS at 127.0.0.1:4222
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-5000}"
NATS="${KEEL_NATS_URL:-nats://127.0.0.1:4222}"
PG_ADMIN="${KEEL_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}"
cargo build --release --quiet -p keel --example outbox_throughput
BIN="$CARGO_TARGET_DIR/release/examples/outbox_throughput"

rows=("$("$BIN" --events "$EVENTS" --nats-url "$NATS")")
db="keel_bench_outbox_$$"
psql "$PG_ADMIN" -qc "CREATE DATABASE $db"
rows+=("$("$BIN" --events "$EVENTS" --nats-url "$NATS" --database-url "${PG_ADMIN%/*}/$db")")
psql "$PG_ADMIN" -qc "DROP DATABASE $db WITH (FORCE)"

echo "| engine | bus | events | published events/s |"
echo "|---|---|---:|---:|"
for r in "${rows[@]}"; do
  python3 - "$r" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print("| {} | {} | {} | {:,.0f} |".format(r["engine"], r["bus"], r["events"], r["events_per_sec"]))
PY
done
