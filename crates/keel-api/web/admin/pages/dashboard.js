// Today at a glance: orders placed since midnight and their revenue, variants running low,
// jobs that failed for good, the latest orders. Each part shows when the staff member may read it.
import { api } from "../api.js";
import { badge, esc, html, money, raw, table, when } from "../ui.js";

export async function render(ctx, main) {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  const since = encodeURIComponent(midnight.toISOString());
  const [summary, latest, low, jobs] = await Promise.all([
    ctx.can("orders:read") ? api(`/orders/summary?placed_from=${since}`) : null,
    ctx.can("orders:read") ? api("/orders?limit=8") : null,
    ctx.can("inventory:read") ? api("/inventory/low-stock?limit=10") : null,
    ctx.can("jobs:read") ? api("/jobs/summary") : null,
  ]);
  const cards = [];
  if (summary) {
    cards.push(["Orders today", String(summary.data.reduce((n, s) => n + s.orders, 0))]);
    cards.push(["Revenue today", summary.data.map((s) => money(s.revenue)).join(" · ") || "—"]);
  }
  if (low) cards.push(["Low stock", String(low.data.length)]);
  if (jobs) {
    const dead = jobs.data.filter((d) => d.state === "dead").reduce((n, d) => n + d.count, 0);
    cards.push(["Failed jobs", html`<a href="#/jobs?state=dead">${dead}</a>`]);
  }
  main.innerHTML = html`
    <h1>Dashboard</h1>
    <ul class="cards" id="cards">${raw(cards.map(([label, value]) => `<li><span class="label">${esc(label)}</span><span class="value">${value}</span></li>`).join(""))}</ul>
    ${raw(latest ? `<h2>Latest orders</h2>` + table("Latest orders", [
      ["Order", (o) => html`<a href="#/orders/${o.id}">#${o.number}</a>`],
      ["Placed", (o) => esc(when(o.created_at))],
      ["Customer", (o) => esc(o.email)],
      ["Status", (o) => `${badge(o.status)} ${badge(o.fulfillment_status)}`],
      ["Total", (o) => esc(money(o.total))],
    ], latest.data, "No orders yet.") : "")}
    ${raw(low ? `<h2>Running low</h2>` + table("Variants running low", [
      ["Variant", (v) => html`<a href="#/inventory/${v.variant_id}">${v.sku}</a> ${v.title}`],
      ["Available", (v) => String(v.available)],
      ["Threshold", (v) => String(v.threshold)],
    ], low.data, "Nothing is running low.") : "")}`;
}
