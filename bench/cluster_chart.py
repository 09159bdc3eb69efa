"""Draws bench/cluster.sh's two runs side by side: requests per second and p99 per step, one api
node against two.

    python3 bench/cluster_chart.py bench/results/cluster-1api.json bench/results/cluster-2api.json docs/bench/cluster.svg
"""
import json
import sys

one, two = (json.load(open(p)) for p in sys.argv[1:3])
dst = sys.argv[3]
names = [s["step"] for s in sorted(one["steps"], key=lambda s: -s["rps"])]
by = lambda doc: {s["step"]: s for s in doc["steps"]}
runs = [("1 api node", "#2a6f97", by(one)), ("2 api nodes", "#e07a1f", by(two))]
w, left, top, bar, gap = 760, 170, 56, 11, 12
h = top + len(names) * (2 * bar + gap) + 20
peak = max(s["rps"] for _, _, steps in runs for s in steps.values()) or 1
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
       f'<text x="10" y="20" font-weight="bold">Shopper mix, {one["mode"]}: requests/s per step (p99 in ms), PostgreSQL+Redis+NATS</text>']
for j, (label, colour, _) in enumerate(runs):
    svg.append(f'<rect x="{10 + j * 140}" y="32" width="12" height="12" fill="{colour}"/>')
    svg.append(f'<text x="{26 + j * 140}" y="43">{label}</text>')
for i, name in enumerate(names):
    y = top + i * (2 * bar + gap)
    svg.append(f'<text x="{left - 8}" y="{y + bar + 4}" text-anchor="end">{name}</text>')
    for j, (_, colour, steps) in enumerate(runs):
        s = steps.get(name, {"rps": 0, "p99_ms": 0})
        width = (w - left - 150) * s["rps"] / peak
        svg.append(f'<rect x="{left}" y="{y + j * bar}" width="{width:.1f}" height="{bar - 1}" fill="{colour}"/>')
        svg.append(f'<text x="{left + width + 4:.1f}" y="{y + j * bar + bar - 2}">{s["rps"]:.0f}/s (p99 {s["p99_ms"]:.0f})</text>')
svg.append("</svg>")
open(dst, "w").write("\n".join(svg) + "\n")
