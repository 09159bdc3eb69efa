// Today at a glance: orders placed since midnight, their revenue, jobs that failed for good.
import { api } from "../api.js";
import { badge, esc, html, money, table, when } from "../ui.js";

export async function render(ctx, main) {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  const cards = [];
  let recent = "";
  if (ctx.can("orders:read")) {
    const page = await api("/orders?limit=100");
    const today = page.data.filter((o) => new Date(o.created_at) >= midnight);
    const revenue = {};
    for (const o of today.filter((o) => o.status !== "canceled")) revenue[o.currency] = (revenue[o.currency] || 0) + o.total.amount;
    const more = page.next_cursor && today.length === page.data.length ? "+" : "";
    cards.push(["Orders today", `${today.length}${more}`]);
    cards.push(["Revenue today", Object.entries(revenue).map(([currency, amount]) => money({ amount, currency })).join(" · ") || "—"]);
    recent = table(
      "Latest orders",
      [
        ["Order", (o) => html`<a href="#/orders/${o.id}">#${o.number}</a>`],
        ["Placed", (o) => esc(when(o.created_at))],
        ["Customer", (o) => esc(o.email)],
        ["Status", (o) => badge(o.status) + " " + badge(o.fulfillment_status)],
        ["Total", (o) => esc(money(o.total))],
      ],
      page.data.slice(0, 8),
    );
  }
  if (ctx.can("jobs:read")) {
    const dead = await api("/jobs?state=dead&limit=100");
    cards.push(["Failed jobs", html`<a href="#/jobs">${dead.data.length}${dead.next_cursor ? "+" : ""}</a>`]);
  }
  main.innerHTML = `
    <h1>Dashboard</h1>
    <ul class="cards">${cards.map(([label, value]) => `<li><span class="label">${esc(label)}</span><span class="value">${value}</span></li>`).join("")}</ul>
    ${recent}`;
}
