// Products: a searchable, filterable list; the editor for a product's details, images,
// categories, collections, options and variants with their prices per currency.
import { all, api } from "../api.js";
import { act, badge, esc, field, html, money, notice, raw, table, toMajor, toMinor, values } from "../ui.js";

export async function render(ctx, main, id) {
  if (id === "new") return editor(ctx, main, null);
  if (id) return editor(ctx, main, await api(`/products/${id}`));
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  const query = new URLSearchParams({ limit: "50" });
  for (const k of ["q", "status", "category", "collection", "cursor"]) if (q.get(k)) query.set(k, q.get(k));
  const [page, categories, collections] = await Promise.all([api(`/products?${query}`), all("/categories"), all("/collections")]);
  const options = (list, key, label, chosen) =>
    list.map((c) => html`<option value="${c[key]}" ${raw(c[key] === chosen ? "selected" : "")}>${c[label]}</option>`).join("");
  main.innerHTML = html`
    <div class="page-head"><h1>Products</h1>
      ${raw(ctx.can("products:write") ? `<a class="button primary" href="#/products/new">New product</a>` : "")}</div>
    <form id="filters" class="filters" role="search">
      <label>Search <input name="q" type="search" value="${q.get("q") || ""}"></label>
      <label>Status <select name="status"><option value="">Any</option>${raw(["draft", "published", "archived"].map((s) => `<option ${q.get("status") === s ? "selected" : ""}>${s}</option>`).join(""))}</select></label>
      <label>Category <select name="category"><option value="">Any</option>${raw(options(categories, "handle", "name", q.get("category")))}</select></label>
      <label>Collection <select name="collection"><option value="">Any</option>${raw(options(collections, "handle", "title", q.get("collection")))}</select></label>
      <button type="submit">Filter</button>
    </form>
    ${raw(table(
      "Products",
      [
        ["Title", (p) => html`<a href="#/products/${p.id}">${p.title}</a>`],
        ["Status", (p) => badge(p.status)],
        ["Variants", (p) => String(p.variants.length)],
        ["Price", (p) => esc(p.variants[0] ? p.variants[0].prices.map(money).join(" · ") : "")],
        ["Handle", (p) => esc(p.handle)],
      ],
      page.data,
      "No product matches.",
    ))}
    ${raw(page.next_cursor ? html`<a class="button" href="#/products?${new URLSearchParams({ ...Object.fromEntries(q), cursor: page.next_cursor })}">Next page</a>` : "")}`;
  document.getElementById("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    const v = Object.fromEntries(Object.entries(values(e.target)).filter(([, x]) => x));
    location.hash = `#/products?${new URLSearchParams(v)}`;
  });
}

async function editor(ctx, main, product) {
  const edit = ctx.can("products:write");
  const [categories, collections, regions] = await Promise.all([all("/categories"), all("/collections"), ctx.can("settings:read") ? all("/regions") : []]);
  const currencies = [...new Set([...regions.map((r) => r.currency), ...(product?.variants.flatMap((v) => v.prices.map((p) => p.currency)) || []), "USD"])];
  const p = product || { title: "", handle: "", subtitle: "", description: "", status: "draft", images: [], categories: [], collections: [], tags: [], options: [], variants: [] };
  const checks = (list, key, label, chosen) =>
    list.map((c) => html`<label class="check"><input type="checkbox" name="${key}" value="${c.id}" ${raw(chosen.some((x) => x.id === c.id) ? "checked" : "")}> ${c[label]}</label>`).join("");
  main.innerHTML = html`
    <p><a href="#/products">← Products</a></p>
    <div class="page-head"><h1>${product ? p.title : "New product"}</h1> ${raw(product ? badge(p.status) : "")}</div>
    <form id="product" class="editor">
      <fieldset ${raw(edit ? "" : "disabled")}><legend>Details</legend>
        ${raw(field("Title", "title", p.title, "required"))}
        ${raw(field("Handle", "handle", p.handle, 'pattern="[a-z0-9-]*"'))}
        ${raw(field("Subtitle", "subtitle", p.subtitle))}
        <label>Description <textarea name="description" rows="4">${p.description}</textarea></label>
        <label>Status <select name="status">${raw(["draft", "published", "archived"].map((s) => `<option ${p.status === s ? "selected" : ""}>${s}</option>`).join(""))}</select></label>
        ${raw(field("Tags (comma-separated)", "tags", p.tags.join(", ")))}
        <label>Image URLs (one per line) <textarea name="images" rows="3">${p.images.map((i) => i.url).join("\n")}</textarea></label>
        <ul class="thumbs" aria-label="Images">${raw(p.images.map((i) => html`<li><img src="${i.url}" alt="${i.alt || p.title}"></li>`).join(""))}</ul>
      </fieldset>
      <fieldset ${raw(edit ? "" : "disabled")}><legend>Categories</legend>${raw(checks(categories, "category_ids", "name", p.categories))}</fieldset>
      <fieldset ${raw(edit ? "" : "disabled")}><legend>Collections</legend>${raw(checks(collections, "collection_ids", "title", p.collections))}</fieldset>
      ${raw(product ? "" : html`<fieldset><legend>Options</legend>
        <p class="hint">One option per line as <code>Name: value, value</code> (e.g. <code>Size: S, M, L</code>). A variant is made for each combination, priced below.</p>
        <label>Options <textarea name="options" rows="2"></textarea></label>
        ${raw(currencies.map((c) => field(`Price (${c})`, `price_${c}`, "", 'inputmode="decimal"')).join(""))}
        ${raw(field("SKU prefix", "sku", "", "required"))}
      </fieldset>`)}
      ${raw(edit ? `<div class="actions"><button class="primary" type="submit">${product ? "Save product" : "Create product"}</button>
        ${product && p.status !== "archived" ? `<button type="button" id="archive" class="danger">Archive</button>` : ""}</div>` : "")}
    </form>
    ${raw(product ? variantsSection(p, currencies, edit) : "")}`;

  document.getElementById("product").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    const v = values(form);
    const body = {
      title: v.title,
      handle: v.handle || null,
      subtitle: v.subtitle || null,
      description: v.description,
      status: v.status,
      tags: v.tags.split(",").map((t) => t.trim()).filter(Boolean),
      images: v.images.split("\n").map((u) => u.trim()).filter(Boolean).map((url) => ({ url })),
      category_ids: [...form.querySelectorAll("[name=category_ids]:checked")].map((c) => c.value),
      collection_ids: [...form.querySelectorAll("[name=collection_ids]:checked")].map((c) => c.value),
    };
    if (product) {
      if (await act(() => api(`/products/${product.id}`, { method: "PATCH", body }), "Product saved")) render(ctx, main, product.id);
      return;
    }
    const options = v.options.split("\n").map((l) => l.split(":")).filter(([n, vs]) => n && vs)
      .map(([name, vs]) => ({ name: name.trim(), values: vs.split(",").map((x) => x.trim()).filter(Boolean) }));
    const combos = options.reduce((acc, o) => acc.flatMap((c) => o.values.map((x) => ({ ...c, [o.name]: x }))), [{}]);
    const prices = currencies.filter((c) => v[`price_${c}`]).map((c) => ({ currency: c, amount: toMinor(v[`price_${c}`], c) }));
    body.options = options;
    body.variants = combos.map((c) => ({ sku: [v.sku, ...Object.values(c)].join("-").toUpperCase().replace(/\s+/g, "-"), options: c, prices }));
    const created = await act(() => api("/products", { method: "POST", body }), "Product created");
    if (created) location.hash = `#/products/${created.id}`;
  });
  document.getElementById("archive")?.addEventListener("click", async () => {
    if (confirm(`Archive ${p.title}? Shoppers will no longer see it.`) && (await act(() => api(`/products/${p.id}/archive`, { method: "POST" }), "Product archived")))
      render(ctx, main, p.id);
  });
  main.querySelectorAll("form.variant").forEach((form) =>
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const v = values(form);
      const prices = currencies.filter((c) => v[c] !== "" && v[c] !== undefined).map((c) => ({ currency: c, amount: toMinor(v[c], c) }));
      if (prices.some((x) => Number.isNaN(x.amount))) return notice("A price must be a number", "error");
      if (await act(() => api(`/variants/${form.dataset.variant}`, { method: "PATCH", body: { sku: v.sku, prices } }), "Variant saved"))
        render(ctx, main, p.id);
    }),
  );
  document.getElementById("add-variant")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = values(e.target);
    const body = {
      sku: v.sku,
      options: Object.fromEntries(p.options.map((o) => [o.name, v[`opt_${o.name}`]])),
      prices: currencies.filter((c) => v[c]).map((c) => ({ currency: c, amount: toMinor(v[c], c) })),
    };
    if (await act(() => api(`/products/${p.id}/variants`, { method: "POST", body }), "Variant added")) render(ctx, main, p.id);
  });
}

function variantsSection(p, currencies, edit) {
  const price = (v, c) => {
    const m = v.prices.find((x) => x.currency === c);
    return m ? toMajor(m) : "";
  };
  // One row per variant; each row's inputs belong to that row's form (the `form` attribute).
  const rows = p.variants.map((v) => html`
    <tr aria-label="Variant ${v.title}">
      <th scope="row">${v.title}<form id="v-${v.id}" class="variant" data-variant="${v.id}" aria-label="Variant ${v.title}"></form></th>
      <td><input form="v-${v.id}" name="sku" value="${v.sku}" aria-label="SKU of ${v.title}" required ${raw(edit ? "" : "disabled")}></td>
      ${raw(currencies.map((c) => html`<td><input form="v-${v.id}" name="${c}" value="${price(v, c)}" inputmode="decimal" aria-label="Price ${c} of ${v.title}" ${raw(edit ? "" : "disabled")}></td>`).join(""))}
      <td>${raw(edit ? html`<button form="v-${v.id}" type="submit">Save</button> ` : "")}<a href="#/inventory/${v.id}">Stock</a></td>
    </tr>`).join("");
  return html`
    <section aria-labelledby="h-variants"><h2 id="h-variants">Variants</h2>
      <p class="hint">Options: ${p.options.map((o) => `${o.name} (${o.values.join(", ")})`).join("; ") || "none"}</p>
      <div class="table-wrap"><table class="variants">
        <caption>Variants and prices</caption>
        <thead><tr><th scope="col">Variant</th><th scope="col">SKU</th>${raw(currencies.map((c) => html`<th scope="col">${c}</th>`).join(""))}<th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>${raw(rows)}</tbody>
      </table></div>
      ${raw(edit && p.options.length ? html`
        <form id="add-variant"><fieldset><legend>Add a variant</legend>
          ${raw(field("SKU", "sku", "", "required"))}
          ${raw(p.options.map((o) => html`<label>${o.name} <select name="opt_${o.name}">${raw(o.values.map((x) => html`<option>${x}</option>`).join(""))}</select></label>`).join(""))}
          ${raw(currencies.map((c) => field(`Price ${c}`, c, "", 'inputmode="decimal"')).join(""))}
          <button type="submit">Add variant</button></fieldset></form>` : "")}
    </section>`;
}
