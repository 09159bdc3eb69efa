// Regions with their currency and countries; each region's tax rates and shipping options.
import { all, api } from "../api.js";
import { act, esc, html, money, raw, table, toMinor, values } from "../ui.js";

export async function render(ctx, main) {
  const write = ctx.can("settings:write");
  const [regions, locations] = await Promise.all([all("/regions"), ctx.can("inventory:read") ? all("/stock-locations") : []]);
  const details = await Promise.all(
    regions.map(async (r) => ({ r, tax: (await api(`/regions/${r.id}/tax-rates`)).data, shipping: (await api(`/regions/${r.id}/shipping-options`)).data })),
  );
  main.innerHTML = html`
    <h1>Regions, tax and shipping</h1>
    ${raw(details.map(({ r, tax, shipping }) => html`
      <section class="region" aria-labelledby="h-${r.id}">
        <h2 id="h-${r.id}">${r.name}</h2>
        <p>${r.currency} · countries ${r.countries.join(", ")} · default tax ${r.tax_rate / 100}% ${r.tax_inclusive ? "(prices include tax)" : "(tax added)"}</p>
        <h3>Tax rates</h3>
        ${raw(table(`Tax rates of ${r.name}`, [["Name", (t) => esc(t.name)], ["Rate", (t) => esc(`${t.rate / 100} %`)], ["Where", (t) => esc([t.country_code, t.province].filter(Boolean).join(" "))], ["Tax class", (t) => esc(t.tax_class || "all")], ["", (t) => (write ? html`<button type="button" class="delete-tax danger" data-id="${t.id}">Delete</button>` : "")]], tax, "Only the region's default rate."))}
        ${raw(write ? html`<form class="tax inline" data-region="${r.id}"><label>Tax rate name <input name="name" required></label>
          <label>Country <select name="country_code">${raw(r.countries.map((c) => html`<option>${c}</option>`).join(""))}</select></label>
          <label>Rate (%) <input name="rate" required inputmode="decimal"></label>
          <label>Tax class (optional) <input name="tax_class"></label><button type="submit">Add tax rate</button></form>` : "")}
        <h3>Shipping options</h3>
        ${raw(table(`Shipping options of ${r.name}`, [["Name", (s) => esc(s.name)], ["Provider", (s) => esc(s.provider)], ["Price", (s) => esc(money({ amount: s.amount, currency: r.currency }))], ["Free over", (s) => esc(s.free_over == null ? "—" : money({ amount: s.free_over, currency: r.currency }))], ["", (s) => (write ? html`<button type="button" class="delete-ship danger" data-id="${s.id}">Delete</button>` : "")]], shipping))}
        ${raw(write ? html`<form class="ship inline" data-region="${r.id}"><label>New flat-rate option <input name="name" required placeholder="Name"></label><label>Price (${r.currency}) <input name="amount" required inputmode="decimal" data-currency="${r.currency}"></label><button type="submit">Add option</button></form>` : "")}
      </section>`).join(""))}
    ${raw(write ? `<form id="new-region" class="editor"><fieldset><legend>New region</legend>
      <label>Name <input name="name" required></label>
      <label>Currency (ISO code) <input name="currency" required maxlength="3" placeholder="CHF"></label>
      <label>Countries (ISO codes, comma-separated) <input name="countries" required placeholder="CH, LI"></label>
      <label>Default tax rate (%) <input name="tax_rate" inputmode="decimal" value="0"></label>
      <label class="check"><input type="checkbox" name="tax_inclusive" checked> Prices include tax</label>
      <fieldset><legend>Ships from</legend>${locations.map((l) => html`<label class="check"><input type="checkbox" name="location_ids" value="${l.id}" ${raw(l.is_default ? "checked" : "")}> ${l.name}</label>`).join("")}</fieldset>
      <button type="submit" class="primary">Create region</button></fieldset></form>` : "")}`;
  document.getElementById("new-region")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const body = {
      name: f.name.value,
      currency: f.currency.value.toUpperCase(),
      countries: f.countries.value.split(",").map((c) => c.trim().toUpperCase()).filter(Boolean),
      tax_rate: Math.round(Number(f.tax_rate.value.replace(",", ".")) * 100),
      tax_inclusive: f.tax_inclusive.checked,
      location_ids: [...e.target.querySelectorAll("[name=location_ids]:checked")].map((c) => c.value),
    };
    if (await act(() => api("/regions", { method: "POST", body }), "Region created")) render(ctx, main);
  });
  main.querySelectorAll("form.tax").forEach((form) =>
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const v = values(form);
      const body = { name: v.name, country_code: v.country_code, rate: Math.round(Number(v.rate.replace(",", ".")) * 100), tax_class: v.tax_class || null };
      if (await act(() => api(`/regions/${form.dataset.region}/tax-rates`, { method: "POST", body }), "Tax rate added")) render(ctx, main);
    }),
  );
  main.querySelectorAll(".delete-tax").forEach((b) =>
    b.addEventListener("click", async () => confirm("Delete this tax rate?") && (await act(() => api(`/tax-rates/${b.dataset.id}`, { method: "DELETE" }), "Tax rate deleted")) !== undefined && render(ctx, main)),
  );
  main.querySelectorAll(".delete-ship").forEach((b) =>
    b.addEventListener("click", async () => confirm("Delete this shipping option?") && (await act(() => api(`/shipping-options/${b.dataset.id}`, { method: "DELETE" }), "Shipping option deleted")) !== undefined && render(ctx, main)),
  );
  main.querySelectorAll("form.ship").forEach((form) =>
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const v = values(form);
      const body = { name: v.name, amount: toMinor(v.amount, form.querySelector("[name=amount]").dataset.currency) };
      if (await act(() => api(`/regions/${form.dataset.region}/shipping-options`, { method: "POST", body }), "Shipping option added")) render(ctx, main);
    }),
  );
}
