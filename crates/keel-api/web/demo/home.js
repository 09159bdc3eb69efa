// Home: the collections, the categories, and the newest products.
import { api, currentRegion, esc, money, priceOf } from "./api.js";
import { card, header, showError } from "./layout.js";

async function main() {
  await header();
  const region = await currentRegion();
  const [collections, categories, products] = await Promise.all([
    api("/collections", { auth: false }),
    api("/categories", { auth: false }),
    api(`/products?limit=8&region_id=${region.id}`, { auth: false }),
  ]);
  document.getElementById("main").innerHTML = `
    <section aria-labelledby="h-collections">
      <h2 id="h-collections">Collections</h2>
      <ul class="chips">${collections.data.map((c) => `<li><a href="/demo/search.html?collection=${encodeURIComponent(c.handle)}">${esc(c.title)}</a></li>`).join("")}</ul>
    </section>
    <section aria-labelledby="h-categories">
      <h2 id="h-categories">Shop by category</h2>
      <ul class="chips">${categories.data.filter((c) => !c.parent_id).map((c) => `<li><a href="/demo/search.html?category=${encodeURIComponent(c.handle)}">${esc(c.name)}</a></li>`).join("")}</ul>
    </section>
    <section aria-labelledby="h-new">
      <h2 id="h-new">New in</h2>
      <ul class="grid">${products.data.map((p) => card(p, region, priceOf, money)).join("")}</ul>
    </section>`;
}

main().catch((e) => showError(e));
