#!/usr/bin/env bash
# A products page through GraphQL and through REST, and what GraphQL's refusals cost, in one run.
#
#   bench/graphql.sh               # 10 s per scenario, 64 connections, 2 wrk threads
#   DURATION=30s CONNS=128 bench/graphql.sh
#   BIN_DIR=/path/to/release bench/graphql.sh
#
# Starts the release binary on a fresh SQLite file with the demo catalog (or on PostgreSQL when
# KEEL_DATABASE_URL points at an empty database) and measures:
#   - REST:    GET /v1/store/products?limit=20 (20 whole products: variants, prices, stock,
#              options, images, categories, collections, tags);
#   - GraphQL: the same 20 products with what a listing shows (title, handle, thumbnail, each
#              variant's id, SKU, title, prices and stock), sent as a query, then as a persisted
#              query (its hash only);
#   - GraphQL refusals: a query nested 50 deep and one with 1,000 aliases (their p99 is the most
#              server time a refusal takes, client included).
# Prints a Markdown table and writes bench/results/graphql-ENGINE.json and
# docs/bench/graphql-ENGINE.svg. Needs wrk (Debian: apt-get install wrk). Traffic stays on
# 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNS="${CONNS:-64}"
THREADS="${THREADS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
. bench/lib.sh
bench_workdir

release_bins -p keel


start_keel

# The request bodies, checked once before they are measured.
python3 - "$base" "$work" <<'PY'
import hashlib, json, sys, urllib.request
base, work = sys.argv[1], sys.argv[2]
page = """query ProductsPage { products(first: 20) { edges { node {
  id handle title thumbnail variants { id sku title prices { amount currency } inStock }
} } pageInfo { hasNextPage endCursor } } }"""
def post(body):
    req = urllib.request.Request(f"{base}/graphql", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))
digest = hashlib.sha256(page.encode()).hexdigest()
persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
answer = post({"query": page, "operationName": "ProductsPage", "extensions": persisted})
edges = answer["data"]["products"]["edges"]
assert len(edges) == 20 and all(e["node"]["variants"] for e in edges), answer
rest = json.load(urllib.request.urlopen(f"{base}/v1/store/products?limit=20"))
assert [e["node"]["id"] for e in edges] == [p["id"] for p in rest["data"]]
deep = "{ " + "products { " * 50 + "id " + "} " * 50 + "}"
aliases = "{ " + " ".join(f"a{i}: regions {{ id }}" for i in range(1000)) + " }"
assert post({"query": deep})["errors"][0]["extensions"]["code"] == "query_too_deep"
assert post({"query": aliases})["errors"][0]["extensions"]["code"] == "too_many_aliases"
for name, body in [("page", {"query": page, "operationName": "ProductsPage"}),
                   ("persisted", {"operationName": "ProductsPage", "extensions": persisted}),
                   ("deep", {"query": deep}), ("aliases", {"query": aliases})]:
    open(f"{work}/{name}.json", "w").write(json.dumps(body))
PY
for name in page persisted deep aliases; do wrk_post_script "$work/$name.lua" /graphql "$work/$name.json"; done

results="$work/results.jsonl"
echo "running: $DURATION per scenario, $CONNS connections, $THREADS wrk threads" >&2
WARMUP=1 wrk_run "REST products page" "$base/v1/store/products?limit=20" >>"$results"
WARMUP=1 wrk_run "GraphQL products page" "$base/graphql" "$work/page.lua" >>"$results"
WARMUP=1 wrk_run "GraphQL page, persisted query" "$base/graphql" "$work/persisted.lua" >>"$results"
wrk_run "GraphQL refusal: 50 deep" "$base/graphql" "$work/deep.lua" >>"$results"
wrk_run "GraphQL refusal: 1,000 aliases" "$base/graphql" "$work/aliases.lua" >>"$results"

engine=sqlite
case "${KEEL_DATABASE_URL:-}" in postgres*) engine=postgres ;; esac
mkdir -p bench/results docs/bench
python3 - "$results" "$DURATION" "$CONNS" "$THREADS" "$engine" <<'PY'
import json, sys, platform, os
path, duration, conns, threads, engine = sys.argv[1:]
rows = [json.loads(l) for l in open(path)]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
machine = f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}"
print(f"Engine: {engine}. Machine: {machine}. wrk -t{threads} -c{conns} -d{duration}, client and server on the same cores.\n")
print("| scenario | requests/s | p50 ms | p99 ms | vs REST |")
print("|---|---:|---:|---:|---:|")
rest = rows[0]["rps"]
for r in rows:
    bad = f" ({r['non_2xx']} non-2xx!)" if r["non_2xx"] else ""
    print(f"| {r['name']}{bad} | {r['rps']:,.0f} | {r['p50_ms']} | {r['p99_ms']} | {r['rps'] / rest:.2f}× |")
json.dump({"engine": engine, "machine": machine, "duration": duration, "connections": int(conns), "rows": rows},
          open(f"bench/results/graphql-{engine}.json", "w"), indent=2)
w, left, top, bar = 720, 230, 30, 30
h = top + len(rows) * (bar + 14) + 10
peak = max(r["rps"] for r in rows)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="13">',
       f'<text x="{left}" y="18" font-weight="bold">requests/s on {engine} (higher is better), {machine.split(",")[0]}</text>']
for i, r in enumerate(rows):
    y = top + i * (bar + 14)
    width = (w - left - 170) * r["rps"] / peak
    svg.append(f'<text x="{left - 8}" y="{y + bar * 0.65}" text-anchor="end">{r["name"]}</text>')
    svg.append(f'<rect x="{left}" y="{y}" width="{width:.1f}" height="{bar}" fill="#2a6f97"/>')
    svg.append(f'<text x="{left + width + 6:.1f}" y="{y + bar * 0.65}">{r["rps"]:,.0f} /s, p99 {r["p99_ms"]} ms</text>')
svg.append("</svg>")
open(f"docs/bench/graphql-{engine}.svg", "w").write("\n".join(svg) + "\n")
PY
