#!/usr/bin/env bash
# Catalog reads on the demo catalog and on a large one, in one run: does a list, a product page
# or a search get slower when the catalog holds 100,000 products and 500,000 variants?
#
#   bench/scale.sh                       # 100,000 generated products, 10 s per scenario
#   PRODUCTS=20000 DURATION=5s bench/scale.sh
#   BIN_DIR=/path/to/release bench/scale.sh
#
# Two fresh databases (SQLite files; or two PostgreSQL databases when KEEL_DATABASE_URL points at
# an empty one and KEEL_SCALE_DATABASE_URL at another): the demo catalog (60 products), and the
# demo catalog plus PRODUCTS generated ones (`keel seed --products`). Each Keel runs with the
# response cache off (`KEEL_CACHE_MAX_BYTES=0`), so every request reads the database or the
# search index — cached answers cost the same whatever the catalog's size. Scenarios:
#   - list:      GET /v1/store/products?limit=20 (the newest 20, whole products);
#   - category:  GET /v1/store/products?category=<t-shirts>&limit=20 (a filtered list);
#   - detail:    GET /v1/store/products/{handle} for 500 products in turn (all 60 on the demo);
#   - search:    GET /v1/store/search?q=hoodie&limit=20 (matches, ranking, and every facet's
#                counts over all matches: ~12,500 of them on the large catalog);
#   - typo:      GET /v1/store/search?q=hoodei&limit=20.
# Prints a Markdown table (req/s, p50, p99 and the large/demo ratio of p99) and writes
# bench/results/scale-ENGINE.json and docs/bench/scale-ENGINE.svg; also the seed's and the start's
# durations and each server's peak RSS. Needs wrk. Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNS="${CONNS:-32}"
THREADS="${THREADS:-2}"
PRODUCTS="${PRODUCTS:-100000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
. bench/lib.sh
bench_workdir

release_bins -p keel

engine=sqlite
case "${KEEL_DATABASE_URL:-}" in postgres*) engine=postgres ;; esac
if [ "$engine" = postgres ] && [ -z "${KEEL_SCALE_DATABASE_URL:-}" ]; then
  echo "on PostgreSQL set KEEL_SCALE_DATABASE_URL to a second empty database" >&2; exit 1
fi
demo_url="${KEEL_DATABASE_URL:-}"
large_url="${KEEL_SCALE_DATABASE_URL:-}"
unset KEEL_DATABASE_URL
export KEEL_CACHE_MAX_BYTES=0 KEEL_LOG=warn

# run_size NAME DATA_DIR DATABASE_URL: measures one Keel; appends JSON lines to $results.
results="$work/results.jsonl"
run_size() {
  local name="$1" data="$2" url="$3"
  local started_ns ready_ms port
  port="$(free_port)"
  started_ns="$(date +%s%N)"
  env ${url:+KEEL_DATABASE_URL="$url"} KEEL_DATA_DIR="$data" KEEL_ADDR="127.0.0.1:$port" "$BIN/keel" serve >"$work/$name.log" 2>&1 &
  local pid=$!; pids+=("$pid")
  base="http://127.0.0.1:$port"
  # Ready once the search index is built: a search answers.
  for _ in $(seq 1 6000); do curl -fs -o /dev/null "$base/v1/store/search?q=tee" && break; sleep 0.05; done
  ready_ms=$(( ($(date +%s%N) - started_ns) / 1000000 ))
  python3 - "$base" "$work/$name-handles.lua" <<'PY'
import json, sys, urllib.request
base, out = sys.argv[1], sys.argv[2]
handles, cursor = [], None
while len(handles) < 500:
    page = json.load(urllib.request.urlopen(f"{base}/v1/store/products?limit=100" + (f"&cursor={cursor}" if cursor else "")))
    handles += [p["handle"] for p in page["data"]]
    cursor = page.get("next_cursor")
    if not cursor:
        break
hits = json.load(urllib.request.urlopen(f"{base}/v1/store/search?q=hoodie&limit=20"))
assert hits["total"] > 0 and hits["data"], hits
with open(out, "w") as f:
    f.write("local handles = {" + ",".join(json.dumps(h) for h in handles[:500]) + "}\n")
    f.write("local n = 0\nrequest = function()\n  n = n + 1\n"
            "  return wrk.format(\"GET\", \"/v1/store/products/\" .. handles[(n % #handles) + 1])\nend\n")
print(f"{len(handles[:500])} product pages, search total {hits['total']}", file=sys.stderr)
PY
  local products
  products="$(curl -fs "$base/v1/store/search?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')"
  WARMUP=1 wrk_run "$name list" "$base/v1/store/products?limit=20" | with_size "$name" "$products" "$ready_ms" >>"$results"
  WARMUP=1 wrk_run "$name category" "$base/v1/store/products?category=t-shirts&limit=20" | with_size "$name" "$products" "$ready_ms" >>"$results"
  WARMUP=1 wrk_run "$name detail" "$base/" "$work/$name-handles.lua" | with_size "$name" "$products" "$ready_ms" >>"$results"
  WARMUP=1 wrk_run "$name search" "$base/v1/store/search?q=hoodie&limit=20" | with_size "$name" "$products" "$ready_ms" >>"$results"
  WARMUP=1 wrk_run "$name typo" "$base/v1/store/search?q=hoodei&limit=20" | with_size "$name" "$products" "$ready_ms" >>"$results"
  rss_kb="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")"
  echo "{\"size\": \"$name\", \"peak_rss_kb\": $rss_kb}" >>"$results"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

# with_size NAME PRODUCTS READY_MS: adds the catalog's size and start-up time to a wrk_run line.
with_size() {
  python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r.update(size=sys.argv[1], products=int(sys.argv[2]), ready_ms=int(sys.argv[3])); print(json.dumps(r))' "$@"
}

echo "== demo catalog" >&2
env ${demo_url:+KEEL_DATABASE_URL="$demo_url"} KEEL_DATA_DIR="$work/demo" "$BIN/keel" seed --demo >/dev/null 2>&1
run_size demo "$work/demo" "$demo_url"

echo "== demo catalog + $PRODUCTS generated products" >&2
seed_started="$(date +%s%N)"
env ${large_url:+KEEL_DATABASE_URL="$large_url"} KEEL_DATA_DIR="$work/large" "$BIN/keel" seed --products "$PRODUCTS"
seed_ms=$(( ($(date +%s%N) - seed_started) / 1000000 ))
run_size large "$work/large" "$large_url"

mkdir -p bench/results docs/bench
python3 - "$results" "$engine" "$DURATION" "$CONNS" "$THREADS" "$seed_ms" "$PRODUCTS" <<'PY'
import json, os, platform, sys
path, engine, duration, conns, threads, seed_ms, generated = sys.argv[1:]
lines = [json.loads(l) for l in open(path)]
rows = [l for l in lines if "rps" in l]
rss = {l["size"]: l["peak_rss_kb"] for l in lines if "peak_rss_kb" in l}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
machine = f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}"
by = {(r["size"], r["name"].split(" ", 1)[1]): r for r in rows}
sizes = {r["size"]: (r["products"], r["ready_ms"]) for r in rows}
print(f"Engine: {engine}. Machine: {machine}. wrk -t{threads} -c{conns} -d{duration}, response cache off.\n")
for size, (products, ready) in sizes.items():
    print(f"- {size}: {products:,} published products, ready (search index built) {ready / 1000:.1f} s after start, peak RSS {rss[size] // 1024} MiB")
print(f"- `keel seed --products {int(generated):,}`: {int(seed_ms) / 1000:.0f} s\n")
print("| scenario | demo req/s | demo p50 / p99 ms | large req/s | large p50 / p99 ms | p99 large / demo |")
print("|---|---:|---:|---:|---:|---:|")
scenarios = ["list", "category", "detail", "search", "typo"]
for s in scenarios:
    d, l = by[("demo", s)], by[("large", s)]
    bad = " (non-2xx!)" if d["non_2xx"] or l["non_2xx"] else ""
    print(f"| {s}{bad} | {d['rps']:,.0f} | {d['p50_ms']} / {d['p99_ms']} | {l['rps']:,.0f} | {l['p50_ms']} / {l['p99_ms']} | {l['p99_ms'] / d['p99_ms']:.2f} |")
json.dump({"engine": engine, "machine": machine, "duration": duration, "connections": int(conns),
           "generated_products": int(generated), "seed_ms": int(seed_ms), "sizes": sizes, "peak_rss_kb": rss, "rows": rows},
          open(f"bench/results/scale-{engine}.json", "w"), indent=2)

# p99 per scenario, demo beside large, as a small standalone SVG (lower is better).
w, top, left, bar, gap = 660, 34, 110, 14, 16
h = top + len(scenarios) * (2 * bar + gap) + 20
peak = max(r["p99_ms"] for r in rows)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
       f'<text x="{left}" y="18" font-weight="bold">p99 ms on {engine}, demo (60) vs {sizes["large"][0]:,} products (lower is better)</text>']
for i, s in enumerate(scenarios):
    y = top + i * (2 * bar + gap)
    svg.append(f'<text x="{left - 8}" y="{y + bar + 4}" text-anchor="end">{s}</text>')
    for j, (size, colour) in enumerate((("demo", "#9aa5b1"), ("large", "#2a6f97"))):
        r = by[(size, s)]
        width = (w - left - 120) * r["p99_ms"] / peak
        svg.append(f'<rect x="{left}" y="{y + j * bar}" width="{width:.1f}" height="{bar - 2}" fill="{colour}"/>')
        svg.append(f'<text x="{left + width + 6:.1f}" y="{y + j * bar + bar - 4}">{r["p99_ms"]} ms ({size})</text>')
svg.append("</svg>")
open(f"docs/bench/scale-{engine}.svg", "w").write("\n".join(svg) + "\n")
PY
