#!/usr/bin/env bash
# Job-queue throughput of a no-op job, in one run: SQLite and PostgreSQL, 1 and 4 competing
# worker instances (each running 4 jobs at a time). Prints a Markdown table.
#
#   bench/jobs.sh            # 5000 jobs per row
#   JOBS=20000 bench/jobs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-5000}"
PG_ADMIN="${KEEL_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}"
cargo build --release --quiet -p keel --example job_throughput
BIN="$CARGO_TARGET_DIR/release/examples/job_throughput"

rows=()
for workers in 1 4; do
  rows+=("$("$BIN" --workers "$workers" --jobs "$JOBS")")
done
base="${PG_ADMIN%/*}"
for workers in 1 4; do
  db="keel_bench_jobs_$$_$workers"
  psql "$PG_ADMIN" -qc "CREATE DATABASE $db"
  rows+=("$("$BIN" --workers "$workers" --jobs "$JOBS" --database-url "$base/$db")")
  psql "$PG_ADMIN" -qc "DROP DATABASE $db WITH (FORCE)"
done

rows_file="$(mktemp)"
printf '%s\n' "${rows[@]}" | tee "$rows_file" >&2
python3 - "$rows_file" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"Machine: {os.cpu_count()} cores, {cpu}. {rows[0]['jobs']} no-op jobs per row.\n")
print("| engine | worker instances x slots | enqueue jobs/s | run jobs/s |")
print("|---|---|---:|---:|")
for r in rows:
    print(f"| {r['engine']} | {r['workers']} x {r['concurrency_per_worker']} | {r['enqueue_per_sec']:,.0f} | {r['jobs_per_sec']:,.0f} |")
PY
rm -f "$rows_file"
