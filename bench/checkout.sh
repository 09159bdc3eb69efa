#!/usr/bin/env bash
# Checkouts over HTTP with the embedded paysim, in one run on one machine.
#
#   bench/checkout.sh                 # 10 s, 16 connections, 2 wrk threads, 6 000 carts
#   DURATION=20s CONNS=32 CARTS=10000 bench/checkout.sh
#   BIN_DIR=/path/to/release bench/checkout.sh   # a prebuilt keel
#
# Starts the release binary on a fresh SQLite file with the demo catalog (or on PostgreSQL when
# KEEL_DATABASE_URL points at an empty database), prepares CARTS carts ready to pay (a line,
# email, address, shipping method, the WELCOME10 code), then drives POST …/checkout with the test
# card, each cart once with its own Idempotency-Key: re-pricing, stock reservation, a payment
# authorised over HTTP by paysim, the order transaction (stock sold, promotion usage, outbox
# event, mail and invoice jobs). The worker role is off so the figures are the API's alone.
# Prints a Markdown table and writes bench/results/checkout-ENGINE.json. Needs wrk.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNS="${CONNS:-16}"
THREADS="${THREADS:-2}"
CARTS="${CARTS:-6000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
. bench/lib.sh
release_bins -p keel

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
KEEL_RATE_LIMITS=false KEEL_DATA_DIR="$work/data" KEEL_ADDR="127.0.0.1:$port" KEEL_LOG=warn "$BIN/keel" serve --role api >"$work/keel.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 400); do curl -fs -o /dev/null "$base/readyz" && break; sleep 0.05; done
key="$(KEEL_DATA_DIR="$work/data" "$BIN/keel" apikey create --name bench 2>/dev/null | tail -n1)"
variant="$(curl -fs "$base/v1/store/products/classic-tee" | python3 -c 'import json,sys; print(json.load(sys.stdin)["variants"][0]["id"])')"
curl -fs -o /dev/null -X PUT "$base/v1/admin/variants/$variant/inventory" -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' -d '{"on_hand": 1000000}'

echo "preparing $CARTS carts…" >&2
python3 - "$base" "$CARTS" "$variant" >"$work/carts.txt" <<'PY'
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
base, n, variant = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def call(method, path, body=None):
    req = urllib.request.Request(f"{base}{path}", method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))
option = None
def prepare(i):
    global option
    cart = call("POST", "/v1/store/carts", {"currency": "USD"})["id"]
    call("POST", f"/v1/store/carts/{cart}/line-items", {"variant_id": variant, "quantity": 1})
    call("PATCH", f"/v1/store/carts/{cart}", {"email": f"bench{i}@example.com",
         "shipping_address": {"line1": "1 Main St", "city": "Springfield", "country_code": "US"}})
    if option is None:
        option = call("GET", f"/v1/store/carts/{cart}/shipping-options")["data"][0]["id"]
    call("POST", f"/v1/store/carts/{cart}/shipping-method", {"option_id": option})
    call("POST", f"/v1/store/carts/{cart}/promotions", {"code": "WELCOME10"})
    return cart
prepare(0)  # learns the shipping option
with ThreadPoolExecutor(8) as pool:
    for cart in pool.map(prepare, range(1, n + 1)):
        print(cart)
PY
python3 - "$work/carts.txt" "$THREADS" >"$work/checkout.lua" <<'PY'
import sys
carts = [l.strip() for l in open(sys.argv[1]) if l.strip()]
threads = int(sys.argv[2])
print("local carts = {" + ",".join(f'"{c}"' for c in carts) + "}")
print("local threads = %d" % threads)
print("""local body = '{"payment": {"provider": "paysim", "token": "tok_visa"}}'
local n = 0
local thread_id = 0
setup = function(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end
request = function()
  -- Threads take interleaved carts, so no cart is checked out twice.
  local i = n * threads + tid + 1
  n = n + 1
  local cart = carts[i]
  if cart == nil then cart = carts[#carts] end
  return wrk.format("POST", "/v1/store/carts/" .. cart .. "/checkout",
    {["Content-Type"] = "application/json", ["Idempotency-Key"] = "bench-" .. i}, body)
end""")
PY

echo "running: $DURATION, $CONNS connections, $THREADS wrk threads" >&2
out="$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$work/checkout.lua" "$base/")"
engine=sqlite
case "${KEEL_DATABASE_URL:-}" in postgres*) engine=postgres ;; esac
mkdir -p bench/results
python3 - "$out" "$engine" "$DURATION" "$CONNS" "$THREADS" "$CARTS" <<'PY'
import json, re, sys, platform, os
out, engine, duration, conns, threads, carts = sys.argv[1:]
def ms(label):
    m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return round(v / 1000 if unit == "us" else v * 1000 if unit == "s" else v, 3)
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
total = int(re.search(r"(\d+) requests in", out).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
bad = int(errors.group(1)) if errors else 0
if total > int(carts):
    print(f"warning: {total} requests for {carts} carts: raise CARTS", file=sys.stderr)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
machine = f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}"
row = {"name": "checkout", "rps": rps, "p50_ms": ms("50"), "p99_ms": ms("99"), "requests": total, "non_2xx": bad}
print(f"Engine: {engine}. Machine: {machine}. wrk -t{threads} -c{conns} -d{duration}, client, Keel and paysim on the same cores.\n")
print("| scenario | checkouts/s | p50 ms | p99 ms | orders | non-2xx |")
print("|---|---:|---:|---:|---:|---:|")
print(f"| checkout (re-price, reserve, authorise over HTTP, place) | {rps:,.0f} | {row['p50_ms']} | {row['p99_ms']} | {total - bad} | {bad} |")
json.dump({"engine": engine, "machine": machine, "duration": duration, "connections": int(conns), "rows": [row]},
          open(f"bench/results/checkout-{engine}.json", "w"), indent=2)
PY
