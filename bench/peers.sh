#!/usr/bin/env bash
# Keel against its two peers, Vendure (GraphQL) and Medusa (REST), in one run on one machine and
# one PostgreSQL: the same four storefront scenarios, the same wrk method, the goals of the
# performance issue checked against the better peer of each scenario.
#
#   bench/peers.sh                               # 5 s warm-up + 20 s measured per scenario
#   DURATION=5s WARMUP=2s bench/peers.sh         # a quick check, numbers not comparable
#   BIN_DIR=/path/to/release bench/peers.sh      # a prebuilt keel
#   PEERS=medusa bench/peers.sh                  # only some peers (PEERS= : Keel alone)
#   DURATION=5s WARMUP=2s MAX_WAIT=0 ATTEMPTS=1 bench/peers.sh   # a smoke test on a busy box
#
# Other variables: THREADS (2), CONNS (32), WRK_TIMEOUT (30s), MAX_BUSY (25), MAX_WAIT (120),
# ATTEMPTS (3), MAX_OTHER (25) (see Method below); PEERS_DIR (../shared/peers);
# VENDURE_PEER_DIR / MEDUSA_PEER_DIR (where the peers' setup.sh installed them, default
# ~/.cache/keel-peers/NAME); PG_URL (postgres://postgres@127.0.0.1:5432, where Keel's database is
# made); PRODUCT_HANDLE (classic-tee) and SEARCH_TERM (tee) for Keel's scenarios b and c.
#
# The peers are the harnesses in ../shared/peers (PEERS_DIR): each one's own run.sh runs its
# scenarios (starting and stopping its server, reusing its database). Set them up once with their
# setup.sh (see their README.md). Keel then runs on a fresh PostgreSQL database, dropped on exit.
#
# Method, as in the peers' run.sh: per scenario a WARMUP wrk run, then the measured
# `wrk -t$THREADS -c$CONNS -d$DURATION --latency --timeout $WRK_TIMEOUT`, the server's RSS read with
# ps every second (the peak is kept), CPU of server, PostgreSQL, wrk and everything else from /proc.
# Before each scenario the box must be quiet (<= MAX_BUSY % of a core over 3 s, waiting up to
# MAX_WAIT s); a scenario during which other processes used > MAX_OTHER % of a core is repeated, up
# to ATTEMPTS times, and the least disturbed attempt is kept. These variables go to the peers too.
# A response is an error when it is not 2xx or lacks the scenario's expected field.
#
# Keel's scenarios (REST, region = the one selling EUR, as Medusa's):
#   a. products page: GET /v1/store/products?limit=20&region_id=R (variants with calculated prices)
#   b. product detail: GET /v1/store/products/classic-tee?region_id=R
#   c. search: GET /v1/store/search?q=$SEARCH_TERM&limit=10&region_id=R (default term: tee)
#   d. add to cart: the Vendure harness's pattern, see bench/peers/add-to-cart.lua
#
# Prints a Markdown table per scenario (each system's rate, latency and memory; the ratios against
# the better peer with the goals), writes bench/results/peers.json and bench/results/peers.svg.
# Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

DURATION="${DURATION:-20s}"
WARMUP="${WARMUP:-5s}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-32}"
WRK_TIMEOUT="${WRK_TIMEOUT:-30s}"
MAX_BUSY="${MAX_BUSY:-25}"
MAX_WAIT="${MAX_WAIT:-120}"
ATTEMPTS="${ATTEMPTS:-3}"
MAX_OTHER="${MAX_OTHER:-25}"
export DURATION WARMUP THREADS CONNS WRK_TIMEOUT MAX_BUSY MAX_WAIT ATTEMPTS MAX_OTHER
PEERS="${PEERS-vendure medusa}"
PEERS_DIR="$(cd "${PEERS_DIR:-../shared/peers}" 2>/dev/null && pwd || echo "${PEERS_DIR:-../shared/peers}")"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}" # Keel's database is made here
PRODUCT_HANDLE="${PRODUCT_HANDLE:-classic-tee}"
SEARCH_TERM="${SEARCH_TERM:-tee}"  # 12 demo products: a full page of 10
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
command -v psql >/dev/null || { echo "psql is not installed (apt-get install postgresql-client)" >&2; exit 1; }

. bench/lib.sh
release_bins -p keel

# Each peer's scenarios, by the names of its Lua scripts, in the order a, b, c, d. Medusa's products
# page comes twice: with its default fields, and with calculated prices for a region as Keel's.
declare -A PEER_SCENARIOS=(
  [vendure]="products product-by-slug search add-to-order"
  [medusa]="products products-priced product-by-handle search add-to-cart"
)

bench_workdir
# lib.sh's exit trap stops $pids and removes $work; before that, stop a peer's run.sh still running
# (its whole process group: run.sh, its Node server(s) and wrk), then drop Keel's database.
keel_db="keel_bench_peers_$$"
keel_region=""
lua_env=()
peer_pgid=""
eval "set -- $(trap -p EXIT)"
trap "stop_peer; $3; drop_keel_db" EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
stop_peer() {
  [ -n "$peer_pgid" ] || return 0
  kill -TERM -- "-$peer_pgid" 2>/dev/null || true
  for _ in $(seq 20); do kill -0 -- "-$peer_pgid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$peer_pgid" 2>/dev/null || true
  peer_pgid=""
}
drop_keel_db() { psql "$PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $keel_db WITH (FORCE)" >/dev/null 2>&1 || true; }

failed=()
log() { echo "[peers.sh] $*" >&2; }

# ---------- the box and the quiet-box wait (the peers' run.sh logic) ----------
CLK="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_ticks() { local t=0 p; for p in $(pgrep -u postgres); do t=$((t + $(cpu_ticks "$p"))); done; echo "$t"; }
busy_ticks() { awk '$1=="cpu"{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
# Prints the box's busy % (of one core) over 3 s once it is <= MAX_BUSY, or after MAX_WAIT s.
wait_for_quiet() {
  local waited=0 b0 b1 busy
  while :; do
    b0="$(busy_ticks)"; sleep 3; b1="$(busy_ticks)"
    busy="$(awk -v a="$b0" -v b="$b1" -v c="$CLK" 'BEGIN{printf "%.0f", (b-a)/c/3*100}')"
    if [ "$busy" -le "$MAX_BUSY" ] || [ "$waited" -ge "$MAX_WAIT" ]; then break; fi
    log "box busy ${busy}% (> ${MAX_BUSY}%) with other work, waiting…"; sleep 7; waited=$((waited + 10))
  done
  echo "$busy"
}

# ---------- Keel ----------
run_keel() {
  psql "$PG_URL/postgres" -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE $keel_db" >/dev/null
  export KEEL_DATABASE_URL="$PG_URL/$keel_db"
  log "Keel on PostgreSQL database $keel_db; migrating and seeding the demo catalog…"
  start_keel || { tail -n 20 "$work/keel.log" >&2; return 1; }
  local key region variants
  key="$(api_key bench-peers)"
  # The region selling EUR (Medusa's scenarios use its EUR region too).
  region="$(curl -fs "$base/v1/store/regions" | python3 -c '
import json, sys
print(next(r["id"] for r in json.load(sys.stdin)["data"] if r["currency"] == "EUR"))')"
  # Four variants of four products (the first of every fifth product on the first page), each
  # with a EUR price; their stock is made untracked so that adds never run out.
  variants="$(curl -fs "$base/v1/store/products?limit=20" | python3 -c '
import json, sys
picked = [p["variants"][0]["id"] for p in json.load(sys.stdin)["data"][::5]
          if any(pr["currency"] == "EUR" for pr in p["variants"][0]["prices"])][:4]
assert len(picked) == 4, picked
print(",".join(picked))')"
  local v
  for v in ${variants//,/ }; do
    curl -fs -o /dev/null -X PATCH "$base/v1/admin/variants/$v/inventory" -H "Authorization: Bearer $key" \
      -H 'Content-Type: application/json' -d '{"manage_inventory": false}'
  done
  # What Keel's Lua scripts read, given to its wrk runs only (the peers' scripts read some of the
  # same names).
  keel_region="$region"
  lua_env=(REGION_ID="$region" VARIANTS="$variants" HANDLE="$PRODUCT_HANDLE" TERM_Q="$SEARCH_TERM" CURRENCY=EUR)

  # Sanity: each scenario's answer holds what its Lua script counts as a success.
  check products "/v1/store/products?limit=20&region_id=$region" \
    'len(b["data"]) > 1 and all("calculated_price" in v for p in b["data"] for v in p["variants"])' \
    '"%d products, %d variants, all with calculated_price" % (len(b["data"]), sum(len(p["variants"]) for p in b["data"]))'
  check product "/v1/store/products/$PRODUCT_HANDLE?region_id=$region" \
    'len(b["variants"]) > 1 and all("calculated_price" in v for v in b["variants"])' \
    '"%s: %d variants, all with calculated_price" % (b["handle"], len(b["variants"]))'
  check search "/v1/store/search?q=$SEARCH_TERM&limit=10&region_id=$region" \
    'len(b["data"]) > 1' \
    '"%d of %d hits: %s" % (len(b["data"]), b["total"], " ".join(p["handle"] for p in b["data"]))'

  local lua="$repo/bench/peers"
  echo "scenario|attempt|busy%_before|req/s|ok/s|p50_ms|p99_ms|non2xx|bad_body|sock_err|new_carts|server_rss_MB(max)|server_cpu%|postgres_cpu%|wrk_cpu%|other_cpu%" >"$work/keel.psv"
  keel_scenario products "$lua/products.lua"
  keel_scenario product "$lua/product.lua"
  keel_scenario search "$lua/search.lua"
  keel_scenario add-to-cart "$lua/add-to-cart.lua"
  log "Keel's RSS after the runs: $(( $(ps -o rss= -p "$keel_pid") / 1024 )) MB"
  kill "$keel_pid"; wait "$keel_pid" 2>/dev/null || true
  drop_keel_db
  unset KEEL_DATABASE_URL
}

# check NAME PATH TEST SHOW: GET PATH from Keel; the Python expression TEST on its parsed body b
# must hold, and SHOW (an expression too) says what it held.
check() {
  curl -fs "$base$2" >"$work/check-$1.json"
  python3 - "$work/check-$1.json" "$3" "$4" <<'PY' | sed "s/^/[peers.sh] sanity $1: /" >&2
import json, sys
b = json.load(open(sys.argv[1]))
assert eval(sys.argv[2]), json.dumps(b)[:400]
print(eval(sys.argv[3]))
PY
}

# keel_scenario NAME LUA: its attempts (see the top), the least disturbed one kept in keel.psv.
keel_scenario() {
  local a
  for a in $(seq "$ATTEMPTS"); do
    keel_measure "$1" "$2" "$a"
    [ "$other_cpu" -le "$MAX_OTHER" ] && break
    [ "$a" -lt "$ATTEMPTS" ] && log "other processes used ${other_cpu}% CPU during $1 (> MAX_OTHER=${MAX_OTHER}%): repeating"
  done
  grep "^$1|" "$work/keel-attempts.psv" | sort -t'|' -k16,16n | head -n1 >>"$work/keel.psv"
}

# keel_measure NAME LUA ATTEMPT: warm-up, then the measured run; one row to keel-attempts.psv.
keel_measure() {
  local s="$1" script="$2" tag="$work/keel-$1.try$3" busy s0 s1 p0 p1 b0 b1 t0 t1 rss
  busy="$(wait_for_quiet)"
  log "== keel $s: warm-up $WARMUP"
  env "${lua_env[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" --timeout "$WRK_TIMEOUT" -s "$script" "$base" >"$tag.warmup.txt" 2>&1
  # Requests still running in the server after wrk stops: let them finish (server CPU idle).
  for _ in $(seq 30); do s0="$(cpu_ticks "$keel_pid")"; sleep 1; [ $(( $(cpu_ticks "$keel_pid") - s0 )) -le $((CLK / 10)) ] && break; done
  ( while :; do ps -o rss= -p "$keel_pid"; sleep 1; done ) >"$tag.rss" 2>/dev/null &
  local sampler=$!
  s0="$(cpu_ticks "$keel_pid")"; p0="$(pg_ticks)"; b0="$(busy_ticks)"; t0="$(date +%s.%N)"
  log "== keel $s: measuring $DURATION (-t$THREADS -c$CONNS --latency)"
  TIMEFORMAT='%U %S'
  { time env "${lua_env[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout "$WRK_TIMEOUT" --latency -s "$script" "$base" >"$tag.txt" 2>&1; } 2>"$tag.wrktime"
  t1="$(date +%s.%N)"; s1="$(cpu_ticks "$keel_pid")"; p1="$(pg_ticks)"; b1="$(busy_ticks)"
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  grep -E '^RESULT|Requests/sec' "$tag.txt" | sed 's/^/    /' >&2
  local r; r="$(grep '^RESULT' "$tag.txt" || echo RESULT)"
  get() { echo "$r" | tr ' ' '\n' | awk -F= -v k="$1" '$1==k{print $2}'; }
  rss="$(sort -n "$tag.rss" | tail -n1)"; rss=$(( ${rss:-0} / 1024 ))
  pct() { awk -v a="$1" -v b="$2" -v t0="$t0" -v t1="$t1" -v c="$CLK" 'BEGIN{printf "%.0f", (b-a)/c/(t1-t0)*100}'; }
  local scpu pcpu wcpu
  scpu="$(pct "$s0" "$s1")"; pcpu="$(pct "$p0" "$p1")"
  wcpu="$(awk -v t0="$t0" -v t1="$t1" '{printf "%.0f", ($1+$2)/(t1-t0)*100}' "$tag.wrktime")"
  # CPU used by everything else (other jobs, kernel softirq), % of one core.
  other_cpu="$(awk -v b0="$b0" -v b1="$b1" -v s="$((s1 - s0 + p1 - p0))" -v t0="$t0" -v t1="$t1" -v c="$CLK" -v w="$wcpu" \
    'BEGIN{o=((b1-b0)-s)/c/(t1-t0)*100 - w; if (o<0) o=0; printf "%.0f", o}')"
  echo "$s|$3|$busy|$(get rps)|$(get ok_per_s)|$(get p50_ms)|$(get p99_ms)|$(get non2xx)|$(get bad_body)|$(get socket_errors)|$(get extra)|$rss|$scpu|$pcpu|$wcpu|$other_cpu" >>"$work/keel-attempts.psv"
}

# ---------- the peers ----------
# Where a peer's setup.sh installed it (its default, or the override its scripts read).
peer_home() {
  case "$1" in
    vendure) echo "${VENDURE_PEER_DIR:-$HOME/.cache/keel-peers/vendure}" ;;
    medusa) echo "${MEDUSA_PEER_DIR:-$HOME/.cache/keel-peers/medusa}" ;;
  esac
}

# run_peer NAME: the peer's own run.sh with its scenarios; its summary goes to $work/NAME.psv.
# It runs in its own process group, so that an interrupted run stops its servers too.
run_peer() {
  local name="$1" dir="$PEERS_DIR/$1" out installed
  installed="$(peer_home "$name")"
  if [ ! -f "$dir/run.sh" ]; then log "no $dir/run.sh: $name skipped"; failed+=("$name"); return 0; fi
  if [ ! -d "$installed/node_modules" ]; then
    log "$name is not set up ($installed has no node_modules): run $dir/setup.sh once; skipped"
    failed+=("$name"); return 0
  fi
  log "== $name: $dir/run.sh (SCENARIOS=\"${PEER_SCENARIOS[$name]}\"); it keeps its results in $installed/results"
  SCENARIOS="${PEER_SCENARIOS[$name]}" setsid bash "$dir/run.sh" \
    > >(tee "$work/$name.log" | sed -u "s/^/  $name| /" >&2) 2>&1 &
  peer_pgid=$!
  if wait "$peer_pgid"; then
    out="$(sed -n 's/^\[run.sh\] raw output in //p' "$work/$name.log" | tail -n1)"
    cp "$out/summary.psv" "$work/$name.psv"
    echo "$out" >"$work/$name.dir"
  else
    log "$name's run.sh failed (see its output above)"; failed+=("$name")
  fi
  peer_pgid=""
}

run_keel # fails the whole run: a peer failing is reported at the end instead
for peer in $PEERS; do run_peer "$peer"; done

# ---------- report ----------
mkdir -p bench/results
versions="$(for p in vendure:@vendure/core medusa:@medusajs/medusa; do
  echo "${p%%:*}=$(node -p "require('$(peer_home "${p%%:*}")/node_modules/${p#*:}/package.json').version" 2>/dev/null || echo '?')"
done | paste -sd' ')"
pg_version="$(psql "$PG_URL/postgres" -qAt -c 'SHOW server_version' 2>/dev/null || echo '?')"
python3 bench/peers/report.py "$work" "$versions" "$pg_version" "$keel_region" "$SEARCH_TERM" "$PRODUCT_HANDLE"

if [ "${#failed[@]}" -gt 0 ]; then log "FAILED: ${failed[*]}"; exit 1; fi
