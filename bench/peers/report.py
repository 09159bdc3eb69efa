"""bench/peers.sh's report: the Markdown tables, bench/results/peers.json and bench/results/peers.svg.

Usage: report.py WORK VERSIONS PG_VERSION REGION_ID SEARCH_TERM PRODUCT_HANDLE
WORK holds keel.psv and, for each peer that ran, NAME.psv (the summary.psv of its run.sh): one row
per scenario, '|'-separated, with a header line.

The rate compared is ok/s: responses that were 2xx and carried the expected field, per second (for
add to cart: successful adds; Keel's cart creations count as requests but not as ok). The better
peer of a scenario is the peer row with the highest ok/s; its p99 and memory are the ones compared.
Memory is the peak RSS during the measured run of every process a deployment needs: Keel's one
process (API and worker), Medusa's one process, Vendure's server plus its worker (whose RSS
run.sh reads once, after the run).
"""
import json
import math
import os
import platform
import subprocess
import sys
import time

work, versions, pg_version, region, term, handle = sys.argv[1:7]
pg_version = pg_version.split()[0]  # "15.20 (Debian …)" -> "15.20"
versions = dict(v.split("=", 1) for v in versions.split())
env = {k: os.environ.get(k, "") for k in ("DURATION", "WARMUP", "THREADS", "CONNS", "WRK_TIMEOUT")}

# (id, title, Keel's scenario, Keel's request, goal ×rate, [(peer, its scenario, its request)])
SCENARIOS = [
    ("a", "products page: 20 products with variants and prices", "products",
     f"GET /v1/store/products?limit=20&region_id=<EUR region> (calculated prices)", 500, [
         ("vendure", "products", "shop-api products(take:20) { variants { priceWithTax stockLevel … } }"),
         ("medusa", "products", "GET /store/products?limit=20 (default fields: no calculated prices)"),
         ("medusa", "products-priced", "GET /store/products?limit=20&region_id=<EUR>&fields=*variants.calculated_price"),
     ]),
    ("b", "product detail", "product",
     f"GET /v1/store/products/{handle}?region_id=<EUR region>", 100, [
         ("vendure", "product-by-slug", 'shop-api product(slug:"laptop") (4 variants, asset, facets)'),
         ("medusa", "product-by-handle", "GET /store/products?handle=pro-laptop (4 variants)"),
     ]),
    ("c", "search", "search",
     f"GET /v1/store/search?q={term}&limit=10&region_id=<EUR region>", 100, [
         ("vendure", "search", 'shop-api search(term:"camera", take:10) (8 hits)'),
         ("medusa", "search", "GET /store/products?q=camera&limit=10 (8 hits)"),
     ]),
    ("d", "add to cart", "add-to-cart",
     "POST /v1/store/carts/{id}/line-items (32 live carts per wrk thread, 10 adds each, then a new cart)", 30, [
         ("vendure", "add-to-order", "shop-api addItemToOrder, anonymous sessions (32 per thread, 10 adds each)"),
         ("medusa", "add-to-cart", "POST /store/carts/{id}/line-items (carts made before the run)"),
     ]),
]
P99_GOAL, MEM_GOAL = 50, 5
NAMES = {"keel": "Keel", "vendure": f"Vendure {versions.get('vendure', '?')}",
         "medusa": f"Medusa {versions.get('medusa', '?')}"}


def read_psv(name):
    path = os.path.join(work, f"{name}.psv")
    if not os.path.exists(path):
        return {}
    lines = [l.rstrip("\n").split("|") for l in open(path) if l.strip()]
    return {row[0]: dict(zip(lines[0], row)) for row in lines[1:]}


def num(row, key, default=0.0):
    try:
        return float(row.get(key) or default)
    except ValueError:
        return default


def row_of(system, scenario, request, psv):
    r = psv.get(scenario)
    if r is None:
        return None
    server = num(r, "server_rss_MB(max)")
    worker = num(r, "worker_rss_MB")
    return {
        "system": system, "scenario": scenario, "request": request,
        "rps": num(r, "req/s"), "ok_per_s": num(r, "ok/s"),
        "p50_ms": num(r, "p50_ms"), "p99_ms": num(r, "p99_ms"),
        "rss_mb": server + worker,
        "rss_detail": f"{server:.0f} + worker {worker:.0f}" if "worker_rss_MB" in r else f"{server:.0f}",
        "non_2xx": int(num(r, "non2xx")),
        "bad_body": int(num(r, "bad_body", num(r, "gql_err"))),
        "socket_errors": int(num(r, "sock_err")),
        "server_cpu_pct": num(r, "server_cpu%"), "postgres_cpu_pct": num(r, "postgres_cpu%"),
        "other_cpu_pct": num(r, "other_cpu%"),
    }


cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
machine = f"{os.cpu_count()} cores, {cpu}, {mem_gib:.0f} GiB, {platform.system()} {platform.release()}"
try:
    rev = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
except OSError:
    rev = "?"
if os.environ.get("BIN_DIR"):  # a prebuilt binary need not be this tree's
    rev = f"binary from {os.environ['BIN_DIR']}, tree {rev}"
keel_psv = read_psv("keel")
peer_psv = {p: read_psv(p) for p in ("vendure", "medusa")}

print(f"\nMachine: {machine}. PostgreSQL {pg_version} on 127.0.0.1 for all three; client, servers and "
      f"PostgreSQL share the cores. Keel ({rev}), {NAMES['vendure']}, {NAMES['medusa']}.")
print(f"Each scenario: {env['WARMUP']} warm-up, then `wrk -t{env['THREADS']} -c{env['CONNS']} -d{env['DURATION']} "
      f"--latency --timeout {env['WRK_TIMEOUT']}`. ok/s = 2xx answers with the expected content per second "
      "(add to cart: successful adds). RSS = peak during the measured run, every process of the deployment.\n")

raw = {p: open(os.path.join(work, f"{p}.dir")).read().strip()
       for p in ("vendure", "medusa") if os.path.exists(os.path.join(work, f"{p}.dir"))}
report = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine, "postgres": pg_version, "keel": rev, "versions": versions, "settings": env,
          "region_id": region, "peer_results": raw,
          "goals": {"p99_at_most": f"1/{P99_GOAL}", "memory_at_most": f"1/{MEM_GOAL}"}, "scenarios": []}
summary = []
for sid, title, keel_s, keel_req, rate_goal, peers in SCENARIOS:
    keel = row_of("keel", keel_s, keel_req, keel_psv)
    rows = [r for r in (row_of(p, s, req, peer_psv[p]) for p, s, req in peers) if r]
    print(f"### {sid}. {title}\n")
    print("| system | request | req/s | ok/s | p50 ms | p99 ms | RSS MB | errors | other CPU % |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows + ([keel] if keel else []):
        errors = r["non_2xx"] + r["bad_body"] + r["socket_errors"]
        name = NAMES[r["system"]] + (f" ({r['scenario']})" if r["system"] == "medusa" and sid == "a" else "")
        if r["system"] == "keel":
            name = f"**{name}**"
        p50, p99 = (f"{r['p50_ms']:,.2f}", f"{r['p99_ms']:,.2f}") if r["rps"] > 0 else ("–", "–")
        print(f"| {name} | `{r['request']}` | {r['rps']:,.1f} | {r['ok_per_s']:,.1f} | {p50} | {p99} | "
              f"{r['rss_detail']} | {errors}{' (!)' if errors else ''} | {r['other_cpu_pct']:.0f} |")
    entry = {"id": sid, "title": title, "rows": rows + ([keel] if keel else []), "goal_rate_ratio": rate_goal}
    measured = [r for r in rows if r["ok_per_s"] > 0]
    if keel and keel["ok_per_s"] > 0 and measured:
        best = max(measured, key=lambda r: r["ok_per_s"])
        ratios = {"rate": keel["ok_per_s"] / best["ok_per_s"],
                  "p99": best["p99_ms"] / keel["p99_ms"] if keel["p99_ms"] > 0 else math.inf,
                  "memory": best["rss_mb"] / keel["rss_mb"] if keel["rss_mb"] > 0 else math.inf}
        met = {"rate": ratios["rate"] >= rate_goal, "p99": ratios["p99"] >= P99_GOAL, "memory": ratios["memory"] >= MEM_GOAL}
        better = f"{NAMES[best['system']]} ({best['scenario']})"
        mark = lambda ok: "met" if ok else "**not met**"
        print(f"\nAgainst the better peer, {better}: ok/s **{ratios['rate']:,.0f}×** (goal ≥ {rate_goal}×: "
              f"{mark(met['rate'])}), p99 **1/{ratios['p99']:,.0f}** (goal ≤ 1/{P99_GOAL}: {mark(met['p99'])}), "
              f"memory **1/{ratios['memory']:,.1f}** (goal ≤ 1/{MEM_GOAL}: {mark(met['memory'])}).\n")
        entry.update(better_peer={"system": best["system"], "scenario": best["scenario"],
                                  "ok_per_s": best["ok_per_s"]},
                     ratios={k: round(v, 2) if math.isfinite(v) else None for k, v in ratios.items()}, met=met)
        summary.append((sid, title, better, ratios, met, rate_goal))
    else:
        print("\nNo comparison: no successful answer from Keel, or from any peer.\n")
        summary.append((sid, title, None, None, None, rate_goal))
    report["scenarios"].append(entry)

print("### Goals against the better peer\n")
print("| scenario | better peer | ok/s ratio (goal) | p99 ratio (goal) | memory ratio (goal) | all met |")
print("|---|---|---:|---:|---:|---|")
for sid, title, better, ratios, met, rate_goal in summary:
    if ratios is None:
        print(f"| {sid}. {title.split(':')[0]} | – | – | – | – | no data |")
        continue
    cell = lambda text, ok: f"{text} {'✓' if ok else '✗'}"
    rate = cell(f"{ratios['rate']:,.0f}× (≥ {rate_goal}×)", met["rate"])
    p99 = cell(f"1/{ratios['p99']:,.0f} (≤ 1/{P99_GOAL})", met["p99"])
    memory = cell(f"1/{ratios['memory']:,.1f} (≤ 1/{MEM_GOAL})", met["memory"])
    print(f"| {sid}. {title.split(':')[0]} | {better} | {rate} | {p99} | {memory} | {'yes' if all(met.values()) else '**no**'} |")

bad = [(e["id"], r) for e in report["scenarios"] for r in e["rows"] if r["non_2xx"] + r["bad_body"] + r["socket_errors"]]
for e in report["scenarios"]:
    for r in e["rows"]:
        if r["rps"] == 0:
            print(f"\nWARNING: {NAMES[r['system']]} {r['scenario']} ({e['id']}) completed no request in the "
                  f"{env['DURATION']} measured run, so the comparison leaves it out: use a longer DURATION.")
for sid, r in bad:
    print(f"\nWARNING: {NAMES[r['system']]} {r['scenario']} ({sid}) had errors: {r['non_2xx']} non-2xx, "
          f"{r['bad_body']} without the expected content, {r['socket_errors']} socket errors.")
if raw:
    print("\nThe peers' own results: " + ", ".join(f"{p} {d}" for p, d in raw.items()))

json.dump(report, open("bench/results/peers.json", "w"), indent=2)

# A standalone SVG: ok/s per system and scenario, log scale (the ratios span orders of magnitude).
COLOURS = {"keel": "#2a6f97", "vendure": "#9aa5b1", "medusa": "#c9a66b"}
left, right, top, bar, gap, head = 330, 250, 56, 16, 5, 22
w = 980
plot_w = w - left - right
# A scenario's rate goal (the better peer's ok/s times the goal ratio) is marked on Keel's row.
goal_at = lambda e: e["better_peer"]["ok_per_s"] * e["goal_rate_ratio"] if "better_peer" in e else None
values = [r["ok_per_s"] for e in report["scenarios"] for r in e["rows"] if r["ok_per_s"] > 0]
values = values + [goal_at(e) for e in report["scenarios"] if goal_at(e)] or [1]
lo = 10 ** math.floor(math.log10(min(values)))
hi = 10 ** math.ceil(math.log10(max(values)))
hi = max(hi, lo * 10)
xpos = lambda v: left + plot_w * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
h = top + sum(head + len(e["rows"]) * (bar + gap) + 18 for e in report["scenarios"]) + 24
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
       f'<rect width="{w}" height="{h}" fill="white"/>',
       f'<text x="10" y="20" font-size="14" font-weight="bold">Keel and its peers: successful requests/s, log scale '
       f'(higher is better)</text>',
       f'<text x="10" y="38" fill="#555">{machine.split(",")[0]}, PostgreSQL {pg_version}; wrk -t{env["THREADS"]} '
       f'-c{env["CONNS"]}, {env["DURATION"]} per scenario</text>']
decade = lo
while decade <= hi:
    x = xpos(decade)
    label = f"{decade / 1000:g}k" if decade >= 1000 else f"{decade:g}"
    svg.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{h - 20}" stroke="#ddd"/>')
    svg.append(f'<text x="{x:.1f}" y="{h - 6}" text-anchor="middle" fill="#555">{label}</text>')
    decade *= 10
y = top
for e, (_, _, better, ratios, _, _) in zip(report["scenarios"], summary):
    svg.append(f'<text x="10" y="{y + 14}" font-weight="bold">{e["id"]}. {e["title"].split(":")[0]}</text>')
    y += head
    for r in e["rows"]:
        name = NAMES[r["system"]] + (f" ({r['scenario']})" if r["system"] == "medusa" and e["id"] == "a" else "")
        svg.append(f'<text x="{left - 8}" y="{y + bar * 0.8:.1f}" text-anchor="end">{name}</text>')
        if r["ok_per_s"] > 0:
            x = xpos(r["ok_per_s"])
            label = f"{r['ok_per_s']:,.1f}/s" if r["ok_per_s"] < 100 else f"{r['ok_per_s']:,.0f}/s"
            if r["system"] == "keel" and ratios:
                label += f"  ({ratios['rate']:,.0f}× the better peer)"
            svg.append(f'<rect x="{left}" y="{y}" width="{x - left:.1f}" height="{bar}" fill="{COLOURS[r["system"]]}"/>')
            gx = xpos(goal_at(e)) if r["system"] == "keel" and goal_at(e) else None
            svg.append(f'<text x="{max(x, gx or 0) + 5:.1f}" y="{y + bar * 0.8:.1f}">{label}</text>')
            if gx:
                svg.append(f'<line x1="{gx:.1f}" y1="{y - 3}" x2="{gx:.1f}" y2="{y + bar + 3}" stroke="#c0392b" '
                           f'stroke-width="2" stroke-dasharray="3,2"/>')
                svg.append(f'<text x="{gx:.1f}" y="{y + bar + 13}" text-anchor="middle" font-size="10" '
                           f'fill="#c0392b">goal {e["goal_rate_ratio"]}×</text>')
        else:
            errors = r["non_2xx"] + r["bad_body"] + r["socket_errors"]
            text = "no request completed" if r["rps"] == 0 else f"no successful answer ({errors} errors)"
            svg.append(f'<text x="{left + 5}" y="{y + bar * 0.8:.1f}" fill="#a00">{text}</text>')
        y += bar + gap
    y += 18
svg.append("</svg>")
open("bench/results/peers.svg", "w").write("\n".join(svg) + "\n")
print("\nWrote bench/results/peers.json and bench/results/peers.svg.")
