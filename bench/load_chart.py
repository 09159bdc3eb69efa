"""Draws keel-load's report (bench/results/load-*.json) as a bar chart of p50 and p99 per step.

    python3 bench/load_chart.py bench/results/load-sqlite.json docs/bench/load-sqlite.svg
"""
import json
import sys

src, dst = sys.argv[1], sys.argv[2]
doc = json.load(open(src))
steps = sorted(doc["steps"], key=lambda s: s["p99_ms"])
w, left, top, bar, gap = 720, 170, 40, 12, 10
h = top + len(steps) * (2 * bar + gap) + 20
peak = max(s["p99_ms"] for s in steps) or 1
title = f"keel-load, {doc['mode']}, {doc['label']}: p50 and p99 per step (ms, lower is better)"
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
       f'<text x="10" y="20" font-weight="bold">{title}</text>']
for i, s in enumerate(steps):
    y = top + i * (2 * bar + gap)
    svg.append(f'<text x="{left - 8}" y="{y + bar + 4}" text-anchor="end">{s["step"]} ({s["rps"]:.0f}/s)</text>')
    for j, (key, colour) in enumerate((("p50_ms", "#2a6f97"), ("p99_ms", "#9aa5b1"))):
        width = (w - left - 80) * s[key] / peak
        svg.append(f'<rect x="{left}" y="{y + j * bar}" width="{width:.1f}" height="{bar - 1}" fill="{colour}"/>')
        svg.append(f'<text x="{left + width + 4:.1f}" y="{y + j * bar + bar - 2}">{key[:3]} {s[key]:.1f}</text>')
svg.append("</svg>")
open(dst, "w").write("\n".join(svg) + "\n")
