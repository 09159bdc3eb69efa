// Search and category listing: /v1/store/search with the URL's filters, facets to refine them.
import { api, currentRegion, esc, money, params, priceOf } from "./api.js";
import { card, header, showError } from "./layout.js";

const FILTERS = ["q", "category", "collection", "options", "price_min", "price_max", "in_stock", "sort"];

/** This page's URL with one filter changed (null removes it). */
function withFilter(name, value) {
  const next = new URLSearchParams(params);
  next.delete("cursor");
  if (value === null) next.delete(name);
  else next.set(name, value);
  return `?${next}`;
}

/** A price bucket's link: its lowest price up to its (exclusive) upper bound. */
function priceRange(bucket) {
  const next = new URLSearchParams(params);
  next.delete("cursor");
  next.set("price_min", bucket.min);
  if (bucket.max) next.set("price_max", bucket.max - 1);
  else next.delete("price_max");
  return `?${next}`;
}

/** Option filters are `Name:Value;Name:Value`: toggles one value. */
function toggleOption(pair) {
  const chosen = (params.get("options") || "").split(";").filter(Boolean);
  const next = chosen.includes(pair) ? chosen.filter((p) => p !== pair) : [...chosen, pair];
  return withFilter("options", next.length ? next.join(";") : null);
}

function facetList(title, items, link, isOn) {
  if (!items.length) return "";
  return `<fieldset><legend>${esc(title)}</legend><ul>${items
    .map((f) => `<li><a href="${link(f)}" ${isOn(f) ? 'aria-current="true"' : ""}>${esc(f.label || f.value)} <span class="count">${f.count}</span></a></li>`)
    .join("")}</ul></fieldset>`;
}

async function main() {
  await header();
  const region = await currentRegion();
  const query = new URLSearchParams({ region_id: region.id, limit: "24" });
  for (const name of [...FILTERS, "cursor"]) if (params.get(name)) query.set(name, params.get(name));
  const page = await api(`/search?${query}`, { auth: false });
  const f = page.facets;
  const options = (params.get("options") || "").split(";");
  // The heading names what is shown: the search words, or the category or collection's name.
  const named = (list, handle) => list.find((x) => x.value === handle)?.label;
  const heading = params.get("q")
    ? `Results for “${params.get("q")}”`
    : named(f.categories, params.get("category")) || named(f.collections, params.get("collection")) || "All products";
  document.getElementById("main").innerHTML = `
    <h1>${esc(heading)}</h1>
    <div class="listing">
      <aside class="facets" aria-label="Refine">
        ${facetList("Category", f.categories, (c) => withFilter("category", params.get("category") === c.value ? null : c.value), (c) => params.get("category") === c.value)}
        ${facetList("Collection", f.collections, (c) => withFilter("collection", params.get("collection") === c.value ? null : c.value), (c) => params.get("collection") === c.value)}
        ${Object.entries(f.options)
          .map(([name, values]) => facetList(name, values, (v) => toggleOption(`${name}:${v.value}`), (v) => options.includes(`${name}:${v.value}`)))
          .join("")}
        ${facetList(
          "Price",
          f.price.filter((b) => b.count).map((b) => ({ ...b, value: `${b.min}-${b.max ?? ""}`, label: `${money({ amount: b.min, currency: region.currency })}${b.max ? ` – ${money({ amount: b.max, currency: region.currency })}` : "+"}` })),
          priceRange,
          (b) => params.get("price_min") === String(b.min),
        )}
        ${facetList("Availability", Object.entries(f.in_stock).filter(([k]) => k === "true").map(([, count]) => ({ value: "true", label: "In stock", count })), () => withFilter("in_stock", params.get("in_stock") ? null : "true"), () => params.get("in_stock") === "true")}
      </aside>
      <section aria-live="polite">
        <div class="toolbar">
          <p><span id="total">${page.total}</span> products</p>
          <label>Sort <select id="sort">
            ${[["relevance", "Relevance"], ["price", "Price: low to high"], ["-price", "Price: high to low"], ["newest", "Newest"]]
              .map(([v, l]) => `<option value="${v}" ${(params.get("sort") || "relevance") === v ? "selected" : ""}>${l}</option>`)
              .join("")}
          </select></label>
        </div>
        <ul class="grid">${page.data.map((p) => card(p, region, priceOf, money)).join("")}</ul>
        ${page.next_cursor ? `<a class="button" href="${withFilter("cursor", page.next_cursor)}">More</a>` : ""}
      </section>
    </div>`;
  document.getElementById("sort").addEventListener("change", (e) => (location.search = withFilter("sort", e.target.value)));
}

main().catch((e) => showError(e));
