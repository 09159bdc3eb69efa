#!/usr/bin/env bash
# Add-to-cart over HTTP and the cart arithmetic, in one run on one machine.
#
#   bench/cart.sh                  # 10 s per scenario, 64 connections, 2 wrk threads
#   DURATION=30s CONNS=128 bench/cart.sh
#   BIN_DIR=/path/to/release bench/cart.sh   # prebuilt keel and examples/cart_compute
#
# Starts the release binary on a fresh SQLite file with the demo catalog (or on PostgreSQL when
# KEEL_DATABASE_URL points at an empty database), puts a running sale on the variant and an
# automatic 5 % promotion in place, makes 1 000 carts each holding the WELCOME10 code, then
# measures (so every cart read prices a price list and two promotions):
#   - add to cart: POST /v1/store/carts/{id}/line-items, one unit of one variant, carts in turn
#     (each request re-prices the whole cart and answers it);
#   - get cart: GET /v1/store/carts/{id};
#   - the cart arithmetic alone for a 50-line cart with 3 promotions (keel-domain example).
# Prints a Markdown table and writes bench/results/cart-ENGINE.json and docs/bench/cart-ENGINE.svg.
# Needs wrk (Debian: apt-get install wrk). Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNS="${CONNS:-64}"
THREADS="${THREADS:-2}"
CARTS="${CARTS:-1000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

if [ -n "${BIN_DIR:-}" ]; then
  BIN="$BIN_DIR" # prebuilt: keel and examples/cart_compute
else
  echo "building release binaries…" >&2
  cargo build --release --quiet -p keel
  cargo build --release --quiet -p keel-domain --example cart_compute
  BIN="$CARGO_TARGET_DIR/release"
fi


. bench/lib.sh
bench_workdir
start_keel
key="$(api_key bench)"

# One variant whose stock is not tracked, so every add succeeds however many run.
variant="$(curl -fs "$base/v1/store/products/classic-tee" | python3 -c 'import json,sys; print(json.load(sys.stdin)["variants"][0]["id"])')"
curl -fs -o /dev/null -X PATCH "$base/v1/admin/variants/$variant/inventory" -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' -d '{"manage_inventory": false}'

admin() { curl -fs -o /dev/null -X POST "$base$1" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d "$2"; }
admin /v1/admin/price-lists "{\"name\": \"Bench sale\", \"prices\": [{\"variant_id\": \"$variant\", \"amount\": 1500, \"currency\": \"USD\"}]}"
admin /v1/admin/promotions '{"name": "Bench automatic", "benefit": {"type": "percent_off", "basis_points": 500}}'

echo "making $CARTS carts…" >&2
python3 - "$base" "$CARTS" "$variant" >"$work/carts.txt" <<'PY'
import json, sys, urllib.request
base, n, variant = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def post(path, body):
    req = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))
for i in range(n):
    cart = post("/v1/store/carts", {"currency": "USD"})["id"]
    post(f"/v1/store/carts/{cart}/promotions", {"code": "WELCOME10"})
    if i == 0:
        # The first cart proves the set-up: sale price, the code and the automatic promotion.
        priced = post(f"/v1/store/carts/{cart}/line-items", {"variant_id": variant, "quantity": 1})
        line = priced["lines"][0]
        assert line["unit_price"]["amount"] == 1500, line
        assert len([p for p in priced["promotions"] if p["applied"]]) == 2, priced["promotions"]
    print(cart)
PY
python3 - "$work/carts.txt" "$variant" >"$work/add.lua" <<'PY'
import sys
carts = [l.strip() for l in open(sys.argv[1]) if l.strip()]
print("local carts = {" + ",".join(f'"{c}"' for c in carts) + "}")
print(f'local body = \'{{"variant_id": "{sys.argv[2]}", "quantity": 1}}\'')
print("""local n = 0
request = function()
  n = n + 1
  local cart = carts[(n % #carts) + 1]
  return wrk.format("POST", "/v1/store/carts/" .. cart .. "/line-items", {["Content-Type"] = "application/json"}, body)
end""")
PY


results="$work/results.jsonl"
echo "running: $DURATION per scenario, $CONNS connections, $THREADS wrk threads" >&2
wrk_run "add to cart" "$base/" "$work/add.lua" >>"$results"
wrk_run "get cart" "$base/v1/store/carts/$(head -n1 "$work/carts.txt")" >>"$results"
compute="$("$BIN/examples/cart_compute")"

engine=sqlite
case "${KEEL_DATABASE_URL:-}" in postgres*) engine=postgres ;; esac
mkdir -p bench/results docs/bench
python3 - "$results" "$compute" "$DURATION" "$CONNS" "$THREADS" "$engine" "$CARTS" <<'PY'
import json, sys, platform, os
path, compute, duration, conns, threads, engine, carts = sys.argv[1:]
rows = [json.loads(l) for l in open(path)]
compute = json.loads(compute)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
machine = f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}"
print(f"Engine: {engine}. Machine: {machine}. wrk -t{threads} -c{conns} -d{duration}, client and server on the same cores; {carts} carts, each priced with a sale price list, an automatic promotion and a code.\n")
print("| scenario | requests/s | p50 ms | p99 ms |")
print("|---|---:|---:|---:|")
for r in rows:
    bad = f" ({r['non_2xx']} non-2xx!)" if r["non_2xx"] else ""
    print(f"| {r['name']}{bad} | {r['rps']:,.0f} | {r['p50_ms']} | {r['p99_ms']} |")
print(f"\nCart arithmetic, {compute['lines']} lines and {compute['promotions']} promotions: {compute['per_cart_us']} µs per cart ({compute['runs']} runs).")
json.dump({"engine": engine, "machine": machine, "duration": duration, "connections": int(conns), "rows": rows, "compute": compute},
          open(f"bench/results/cart-{engine}.json", "w"), indent=2)
w, h, left, top, bar = 640, 130, 150, 30, 34
peak = max(r["rps"] for r in rows)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="13">',
       f'<text x="{left}" y="18" font-weight="bold">cart requests/s on {engine} (higher is better), {machine.split(",")[0]}</text>']
for i, r in enumerate(rows):
    y = top + i * (bar + 18)
    width = (w - left - 90) * r["rps"] / peak
    svg.append(f'<text x="{left - 8}" y="{y + bar * 0.65}" text-anchor="end">{r["name"]}</text>')
    svg.append(f'<rect x="{left}" y="{y}" width="{width:.1f}" height="{bar}" fill="#2a6f97"/>')
    svg.append(f'<text x="{left + width + 6:.1f}" y="{y + bar * 0.65}">{r["rps"]:,.0f} /s, p99 {r["p99_ms"]} ms</text>')
svg.append("</svg>")
open(f"docs/bench/cart-{engine}.svg", "w").write("\n".join(svg) + "\n")
PY
