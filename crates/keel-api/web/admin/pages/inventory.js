// Inventory: find a product, then each variant's stock per location, set or adjusted with a
// reason that lands in the movement log.
import { all, api } from "../api.js";
import { act, esc, html, raw, table, values, when } from "../ui.js";

const signed = (n) => (n > 0 ? `+${n}` : String(n));

export async function render(ctx, main, variantId) {
  if (variantId) return variant(ctx, main, variantId);
  const q = new URLSearchParams(location.hash.split("?")[1] || "").get("q") || "";
  const products = (await api(`/products?limit=50${q ? `&q=${encodeURIComponent(q)}` : ""}`)).data;
  main.innerHTML = html`
    <h1>Inventory</h1>
    <form id="find" class="filters" role="search"><label>Product <input name="q" type="search" value="${q}"></label><button type="submit">Find</button></form>
    ${raw(table("Variants", [
      ["Variant", (r) => html`<a href="#/inventory/${r.v.id}">${r.p.title} — ${r.v.title}</a>`],
      ["SKU", (r) => esc(r.v.sku)],
    ], products.flatMap((p) => p.variants.map((v) => ({ p, v })))))}`;
  document.getElementById("find").addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = `#/inventory?q=${encodeURIComponent(values(e.target).q)}`;
  });
}

async function variant(ctx, main, id) {
  const write = ctx.can("inventory:write");
  const [v, inv, locations, moves] = await Promise.all([
    api(`/variants/${id}`),
    api(`/variants/${id}/inventory`),
    all("/stock-locations"),
    api(`/variants/${id}/inventory/movements`).catch(() => ({ data: [] })),
  ]);
  const level = (loc) => inv.levels.find((l) => l.location_id === loc.id) || { on_hand: 0, reserved: 0, available: 0 };
  main.innerHTML = html`
    <p><a href="#/products/${v.product_id}">← Product</a></p>
    <h1>Stock of ${v.sku}</h1>
    <p>Available everywhere: <strong id="available">${inv.available}</strong>${inv.manage_inventory ? "" : " (not counted: always available)"}</p>
    ${raw(table("Stock per location", [
      ["Location", (l) => esc(l.name || l.code)],
      ["On hand", (l) => String(level(l).on_hand)],
      ["Reserved", (l) => String(level(l).reserved)],
      ["Available", (l) => String(level(l).available)],
      ["", (l) => (write ? html`<form class="set inline" data-location="${l.id}"><label>New on hand <input type="number" name="on_hand" min="0" value="${level(l).on_hand}" inputmode="numeric"></label><label>Reason <input name="reason" value="recount"></label><button type="submit">Set</button></form>` : "")],
    ], locations))}
    ${raw(write ? html`<form id="settings" class="inline"><fieldset><legend>Tracking</legend>
      <label class="check"><input type="checkbox" name="manage_inventory" ${raw(inv.manage_inventory ? "checked" : "")}> Count stock</label>
      <label class="check"><input type="checkbox" name="allow_backorder" ${raw(inv.allow_backorder ? "checked" : "")}> Sell beyond stock (backorders)</label>
      <label>Low-stock threshold <input type="number" name="low_stock_threshold" min="0" value="${inv.low_stock_threshold ?? ""}" inputmode="numeric"></label>
      <button type="submit">Save tracking</button></fieldset></form>` : html`<p>Low-stock threshold: ${inv.low_stock_threshold ?? "default"}</p>`)}
    <h2>Movements</h2>
    ${raw(table("Movements", [
      ["When", (m) => esc(when(m.at))],
      ["On hand", (m) => esc(signed(m.on_hand_delta))],
      ["Reserved", (m) => esc(signed(m.reserved_delta))],
      ["Reason", (m) => esc(m.reason)],
      ["Location", (m) => esc(locations.find((l) => l.id === m.location_id)?.name || m.location_id)],
    ], moves.data || []))}`;
  document.getElementById("settings")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const body = {
      manage_inventory: f.manage_inventory.checked,
      allow_backorder: f.allow_backorder.checked,
      low_stock_threshold: f.low_stock_threshold.value === "" ? null : Number(f.low_stock_threshold.value),
    };
    if (await act(() => api(`/variants/${id}/inventory`, { method: "PATCH", body }), "Tracking saved")) variant(ctx, main, id);
  });
  main.querySelectorAll("form.set").forEach((form) =>
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const f = values(form);
      const body = { on_hand: Number(f.on_hand), location_id: form.dataset.location, reason: f.reason || null };
      if (await act(() => api(`/variants/${id}/inventory`, { method: "PUT", body }), "Stock updated")) variant(ctx, main, id);
    }),
  );
}
