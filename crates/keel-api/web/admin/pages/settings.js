// Regions with their currency and countries; each region's tax rates and shipping options.
import { all, api } from "../api.js";
import { act, esc, html, money, raw, table, toMinor, values } from "../ui.js";

export async function render(ctx, main) {
  const write = ctx.can("settings:write");
  const regions = await all("/regions");
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
        ${raw(table(`Tax rates of ${r.name}`, [["Name", (t) => esc(t.name || t.tax_class || "")], ["Rate", (t) => esc(`${t.rate / 100}%`)], ["Where", (t) => esc([t.country_code, t.province].filter(Boolean).join(" ") || "everywhere")]], tax, "Only the region's default rate."))}
        <h3>Shipping options</h3>
        ${raw(table(`Shipping options of ${r.name}`, [["Name", (s) => esc(s.name)], ["Provider", (s) => esc(s.provider)], ["Price", (s) => esc(money({ amount: s.amount, currency: r.currency }))], ["Free over", (s) => esc(s.free_over == null ? "—" : money({ amount: s.free_over, currency: r.currency }))], ["", (s) => (write ? html`<button type="button" class="delete-ship danger" data-id="${s.id}">Delete</button>` : "")]], shipping))}
        ${raw(write ? html`<form class="ship inline" data-region="${r.id}"><label>New flat-rate option <input name="name" required placeholder="Name"></label><label>Price (${r.currency}) <input name="amount" required inputmode="decimal" data-currency="${r.currency}"></label><button type="submit">Add option</button></form>` : "")}
      </section>`).join(""))}`;
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
