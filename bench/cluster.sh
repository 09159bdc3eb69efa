#!/usr/bin/env bash
# The shopper mix through one api node, then through two, on one PostgreSQL, Redis and NATS:
# WORKERS worker processes beside the api nodes, keel-load spreading its requests round-robin
# over every api node (a cart made on one node is checked out on the other). On one machine the
# figure is about correctness and overhead, not linear gain: both nodes share its cores.
#
#   bench/cluster.sh                         # 1 then 2 api nodes, 2 workers, 32 users, 30 s each
#   NODES="2" WORKERS=2 DURATION=60 bench/cluster.sh
#   BIN_DIR=/path/to/release bench/cluster.sh
#   PG_URL=postgres://postgres@127.0.0.1:5432 KEEL_NATS_URL=… KEEL_REDIS_URL=… bench/cluster.sh
#
# Each run gets a fresh database (dropped afterwards), its own NATS stream and Redis prefix
# (deleted afterwards). Writes bench/results/cluster-Napi.json per run and prints both tables,
# every node's peak RSS and the ratio of the two runs. Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-30}"
USERS="${USERS:-32}"
NODES="${NODES:-1 2}"
WORKERS="${WORKERS:-2}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
export KEEL_NATS_URL="${KEEL_NATS_URL:-nats://127.0.0.1:4222}"
export KEEL_REDIS_URL="${KEEL_REDIS_URL:-redis://127.0.0.1:6379}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}"
command -v psql >/dev/null || { echo "psql is not installed (apt-get install postgresql-client)" >&2; exit 1; }

. bench/lib.sh
release_bins -p keel -p keel-load -p paysim
bench_workdir

db="keel_bench_cluster_$$"
export KEEL_DATABASE_URL="$PG_URL/$db"
export KEEL_NATS_STREAM="KEEL_BENCH_$$"
export KEEL_NATS_SUBJECT_PREFIX="bench.$$"
export KEEL_REDIS_PREFIX="keel_bench_$$:"
export KEEL_SECRET_KEY="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
export KEEL_DEMO_SEED=false KEEL_LOG=warn MALLOC_ARENA_MAX=2

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  redis-cli -u "$KEEL_REDIS_URL" --scan --pattern "$KEEL_REDIS_PREFIX*" | xargs -r redis-cli -u "$KEEL_REDIS_URL" del >/dev/null || true
  python3 - "$KEEL_NATS_URL" "$KEEL_NATS_STREAM" <<'PY' || true
import socket, sys, urllib.parse
url = urllib.parse.urlparse(sys.argv[1])
s = socket.create_connection((url.hostname, url.port or 4222), timeout=5)
s.recv(4096)
s.sendall(b'CONNECT {"verbose":false}\r\nSUB _INBOX.keel 1\r\n')
s.sendall(f"PUB $JS.API.STREAM.DELETE.{sys.argv[2]} _INBOX.keel 0\r\n\r\nPING\r\n".encode())
s.recv(4096)
PY
  rm -rf "$work"
}
trap cleanup EXIT

# node ROLE N: starts one process; api nodes get a port each, appended to $targets.
node() {
  local role="$1" n="$2" log="$work/$1-$2.log"
  if [ "$role" = api ]; then
    local p; p="$(free_port)"
    KEEL_DATA_DIR="$work/$role-$n" KEEL_ADDR="127.0.0.1:$p" "$BIN/keel" serve --role api >"$log" 2>&1 &
    pids+=("$!"); api_pids+=("$!")
    wait_ready "http://127.0.0.1:$p/readyz"
    targets+=("http://127.0.0.1:$p")
  else
    KEEL_DATA_DIR="$work/$role-$n" "$BIN/keel" serve --role worker >"$log" 2>&1 &
    pids+=("$!"); worker_pids+=("$!")
  fi
}

# One payment simulator for every node, as one provider serves a real cluster (each process
# would otherwise embed its own, and a payment authorised on one node be unknown to another).
paysim_port="$(free_port)"
"$BIN/paysim" --addr "127.0.0.1:$paysim_port" >"$work/paysim.log" 2>&1 &
paysim_pid=$!
pids+=("$paysim_pid")
export KEEL_PAYSIM_URL="http://127.0.0.1:$paysim_port"

mkdir -p bench/results docs/bench
# Only this run's figures are compared at the end.
for n in $NODES; do rm -f "bench/results/cluster-${n}api.json"; done
for n in $NODES; do
  echo "== $n api node(s), $WORKERS worker(s)"
  psql "$PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  psql "$PG_URL/postgres" -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" >/dev/null
  KEEL_DATA_DIR="$work/seed" "$BIN/keel" seed --demo >"$work/seed.log" 2>&1 \
    || { cat "$work/seed.log" >&2; exit 1; }
  key="$(KEEL_DATA_DIR="$work/seed" "$BIN/keel" apikey create --name load 2>/dev/null | tail -n1)"
  targets=(); api_pids=(); worker_pids=()
  for w in $(seq 1 "$WORKERS"); do node worker "$w"; done
  for a in $(seq 1 "$n"); do node api "$a"; done
  list="$(IFS=,; echo "${targets[*]}")"
  "$BIN/keel-load" --target "$list" --users "$USERS" --duration "$DURATION" --admin-key "$key" \
    --label "PostgreSQL+Redis+NATS, $n api + $WORKERS worker processes, $(nproc) cores" \
    --json "bench/results/cluster-${n}api.json"
  python3 - "bench/results/cluster-${n}api.json" "${api_pids[@]}" -- "${worker_pids[@]}" <<'PY'
import json, sys
path, rest = sys.argv[1], sys.argv[2:]
split = rest.index("--")
def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1])
doc = json.load(open(path))
doc["api_peak_rss_kb"] = [rss(p) for p in rest[:split]]
doc["worker_peak_rss_kb"] = [rss(p) for p in rest[split + 1:]]
json.dump(doc, open(path, "w"), indent=2)
print("peak RSS (MiB): api", [r // 1024 for r in doc["api_peak_rss_kb"]], "workers", [r // 1024 for r in doc["worker_peak_rss_kb"]])
PY
  for p in "${api_pids[@]}" "${worker_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=("$paysim_pid")
done

if [[ " $NODES " == *" 1 "* && " $NODES " == *" 2 "* ]]; then
  python3 - <<'PY'
import json
one, two = (json.load(open(f"bench/results/cluster-{n}api.json")) for n in (1, 2))
def total(doc, key):
    return sum(s[key] for s in doc["steps"])
def step(doc, name, key):
    return next((s[key] for s in doc["steps"] if s["step"] == name), 0)
print()
print("| | 1 api node | 2 api nodes | 2 / 1 |")
print("|---|---:|---:|---:|")
for label, a, b in [
    ("requests/s", total(one, "rps"), total(two, "rps")),
    ("errors", total(one, "errors"), total(two, "errors")),
    ("checkouts/s", step(one, "checkout", "rps"), step(two, "checkout", "rps")),
    ("checkout p99 ms", step(one, "checkout", "p99_ms"), step(two, "checkout", "p99_ms")),
    ("product page p99 ms", step(one, "detail", "p99_ms"), step(two, "detail", "p99_ms")),
]:
    print(f"| {label} | {a:.1f} | {b:.1f} | {b / a if a else 0:.2f} |")
PY
  python3 bench/cluster_chart.py bench/results/cluster-1api.json bench/results/cluster-2api.json docs/bench/cluster.svg
fi
