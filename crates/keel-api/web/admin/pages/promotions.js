// Promotions: codes and automatic promotions with their usage; create, pause, delete.
import { all, api } from "../api.js";
import { act, badge, esc, html, money, raw, table, toMinor, values, when } from "../ui.js";

/** A benefit in words: "10 % off", "€5.00 off", "free shipping". */
function benefit(p) {
  const b = p.benefit;
  if (b.type === "percent_off") return `${b.basis_points / 100} % off`;
  if (b.type === "amount_off") return `${money({ amount: b.amount, currency: p.currency })} off`;
  if (b.type === "free_shipping") return "free shipping";
  return b.type.replace(/_/g, " ");
}

export async function render(ctx, main) {
  const write = ctx.can("promotions:write");
  const [promotions, lists] = await Promise.all([all("/promotions"), api("/price-lists").catch(() => ({ data: [] }))]);
  main.innerHTML = html`
    <h1>Promotions</h1>
    ${raw(table("Promotions", [
      ["Name", (p) => esc(p.name)],
      ["Code", (p) => esc(p.automatic ? "automatic" : p.code)],
      ["Status", (p) => badge(p.status)],
      ["Benefit", (p) => esc(benefit(p))],
      ["Used", (p) => esc(`${p.usage_count}${p.usage_limit ? ` of ${p.usage_limit}` : ""}`)],
      ["Ends", (p) => esc(when(p.ends_at) || "—")],
      ["", (p) => (write ? html`<button type="button" class="toggle" data-id="${p.id}" data-status="${p.status === "active" ? "draft" : "active"}">${p.status === "active" ? "Pause" : "Activate"}</button> <button type="button" class="delete danger" data-id="${p.id}">Delete</button>` : "")],
    ], promotions))}
    ${raw(write ? html`<form id="new" class="editor"><fieldset><legend>New code</legend>
      <label>Name <input name="name" required></label>
      <label>Code <input name="code" pattern="[A-Za-z0-9_-]+"></label>
      <label>Benefit <select name="kind"><option value="percent_off">Percent off</option><option value="amount_off">Amount off</option><option value="free_shipping">Free shipping</option></select></label>
      <label>Percent or amount <input name="value" inputmode="decimal"></label>
      <label>Currency (for an amount) <input name="currency" maxlength="3" placeholder="EUR"></label>
      <label class="check"><input type="checkbox" name="automatic"> Automatic (no code)</label>
      <label>Usage limit <input name="usage_limit" type="number" min="1" inputmode="numeric"></label>
      <button class="primary" type="submit">Create promotion</button></fieldset></form>` : "")}
    <h2>Price lists</h2>
    ${raw(table("Price lists", [["Name", (l) => esc(l.name)], ["Status", (l) => badge(l.status)], ["Prices", (l) => String(l.prices.length)], ["Starts", (l) => esc(when(l.starts_at) || "—")], ["Ends", (l) => esc(when(l.ends_at) || "—")]], lists.data))}`;
  main.querySelectorAll(".toggle").forEach((b) =>
    b.addEventListener("click", async () => (await act(() => api(`/promotions/${b.dataset.id}`, { method: "PATCH", body: { status: b.dataset.status } }), "Promotion updated")) && render(ctx, main)),
  );
  main.querySelectorAll(".delete").forEach((b) =>
    b.addEventListener("click", async () => confirm("Delete this promotion?") && (await act(() => api(`/promotions/${b.dataset.id}`, { method: "DELETE" }), "Promotion deleted")) !== undefined && render(ctx, main)),
  );
  document.getElementById("new")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = values(e.target);
    const currency = (v.currency || "").toUpperCase() || null;
    const benefit =
      v.kind === "percent_off" ? { type: "percent_off", basis_points: Math.round(Number(v.value) * 100) }
      : v.kind === "amount_off" ? { type: "amount_off", amount: toMinor(v.value, currency || "EUR") }
      : { type: "free_shipping" };
    const body = { name: v.name, code: v.automatic ? null : v.code, status: "active", benefit, currency, usage_limit: v.usage_limit ? Number(v.usage_limit) : null };
    if (await act(() => api("/promotions", { method: "POST", body }), "Promotion created")) render(ctx, main);
  });
}
