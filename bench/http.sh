#!/usr/bin/env bash
# Keel's catalog reads against a bare axum server returning a body of the same size, in one run
# on one machine: requests/s and latency percentiles from wrk, and the ratio Keel / bare.
#
#   bench/http.sh                  # 10 s per scenario, 64 connections, 2 wrk threads
#   DURATION=30s CONNS=128 bench/http.sh
#   BIN_DIR=/path/to/release bench/http.sh   # prebuilt keel and keel-bench-bare
#
# Prints a Markdown table and writes bench/results/http-ENGINE.json and docs/bench/http-ENGINE.svg
# (a chart), ENGINE being sqlite, or postgres when KEEL_DATABASE_URL points at an (empty) database.
# Needs wrk (Debian: apt-get install wrk). Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNS="${CONNS:-64}"
THREADS="${THREADS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keel-target}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

. bench/lib.sh
release_bins -p keel -p keel-bench-bare


bench_workdir

keel_port="$(free_port)"
KEEL_DATA_DIR="$work/data" KEEL_ADDR="127.0.0.1:$keel_port" KEEL_LOG=warn "$BIN/keel" serve >"$work/keel.log" 2>&1 &
keel_pid=$!; pids+=("$keel_pid")
wait_ready "http://127.0.0.1:$keel_port/readyz"

list_path="/v1/store/products"
detail_path="/v1/store/products/classic-tee"
curl -fs "http://127.0.0.1:$keel_port$list_path" >"$work/list.json"
curl -fs "http://127.0.0.1:$keel_port$detail_path" >"$work/detail.json"

bare_list_port="$(free_port)"; bare_detail_port="$(free_port)"
"$BIN/keel-bench-bare" "127.0.0.1:$bare_list_port" "$work/list.json" 2>/dev/null & pids+=("$!")
"$BIN/keel-bench-bare" "127.0.0.1:$bare_detail_port" "$work/detail.json" 2>/dev/null & pids+=("$!")
wait_ready "http://127.0.0.1:$bare_list_port/"
wait_ready "http://127.0.0.1:$bare_detail_port/"


results="$work/results.jsonl"
echo "running: $DURATION per scenario, $CONNS connections, $THREADS wrk threads" >&2
WARMUP=1 wrk_run "keel product list" "http://127.0.0.1:$keel_port$list_path" >>"$results"
WARMUP=1 wrk_run "bare, list-sized body" "http://127.0.0.1:$bare_list_port/" >>"$results"
WARMUP=1 wrk_run "keel product detail" "http://127.0.0.1:$keel_port$detail_path" >>"$results"
WARMUP=1 wrk_run "bare, detail-sized body" "http://127.0.0.1:$bare_detail_port/" >>"$results"
rss_kb="$(awk '/VmHWM/ {print $2}' "/proc/$keel_pid/status")"

engine=sqlite
case "${KEEL_DATABASE_URL:-}" in postgres*) engine=postgres ;; esac
mkdir -p bench/results docs/bench
python3 - "$results" "$(wc -c <"$work/list.json")" "$(wc -c <"$work/detail.json")" "$rss_kb" "$DURATION" "$CONNS" "$THREADS" "$engine" <<'PY'
import json, sys, platform, os
path, list_bytes, detail_bytes, rss_kb, duration, conns, threads, engine = sys.argv[1:]
rows = [json.loads(l) for l in open(path)]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
machine = f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}"
print(f"Engine: {engine}. Machine: {machine}. wrk -t{threads} -c{conns} -d{duration}, client and servers on the same cores.\n")
print(f"Bodies: list {list_bytes} B (20 products), detail {detail_bytes} B. Keel peak RSS {int(rss_kb)//1024} MiB.\n")
print("| scenario | requests/s | p50 ms | p99 ms | Keel / bare |")
print("|---|---:|---:|---:|---:|")
for keel, bare in ((rows[0], rows[1]), (rows[2], rows[3])):
    for r in (keel, bare):
        ratio = f"{keel['rps'] / bare['rps']:.2f}" if r is keel else ""
        bad = f" ({r['non_2xx']} non-2xx!)" if r["non_2xx"] else ""
        print(f"| {r['name']}{bad} | {r['rps']:,.0f} | {r['p50_ms']} | {r['p99_ms']} | {ratio} |")
json.dump({"engine": engine, "machine": machine, "duration": duration, "connections": int(conns), "rows": rows,
           "list_bytes": int(list_bytes), "detail_bytes": int(detail_bytes), "keel_peak_rss_kb": int(rss_kb)},
          open(f"bench/results/http-{engine}.json", "w"), indent=2)

# A bar chart of requests/s, Keel beside bare, as a small standalone SVG.
w, h, left, top, bar = 640, 260, 190, 30, 34
peak = max(r["rps"] for r in rows)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="13">',
       f'<text x="{left}" y="18" font-weight="bold">requests/s on {engine} (higher is better), {machine.split(",")[0]}</text>']
for i, r in enumerate(rows):
    y = top + i * (bar + 18)
    width = (w - left - 90) * r["rps"] / peak
    colour = "#2a6f97" if r["name"].startswith("keel") else "#9aa5b1"
    svg.append(f'<text x="{left - 8}" y="{y + bar * 0.65}" text-anchor="end">{r["name"]}</text>')
    svg.append(f'<rect x="{left}" y="{y}" width="{width:.1f}" height="{bar}" fill="{colour}"/>')
    svg.append(f'<text x="{left + width + 6:.1f}" y="{y + bar * 0.65}">{r["rps"]:,.0f}</text>')
svg.append("</svg>")
open(f"docs/bench/http-{engine}.svg", "w").write("\n".join(svg) + "\n")
PY
