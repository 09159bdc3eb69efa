// A product: images, description, a variant picker over its options, stock, add to cart.
import { api, currentRegion, ensureCart, esc, money, params, priceOf } from "./api.js";
import { header, setCartCount, showError } from "./layout.js";

async function main() {
  await header();
  const region = await currentRegion();
  const handle = params.get("handle");
  const product = await api(`/products/${encodeURIComponent(handle)}?region_id=${region.id}`, { auth: false });
  document.title = `${product.title} — Keel Demo Store`;
  const image = product.images[0]?.url || product.thumbnail;
  document.getElementById("main").innerHTML = `
    <article class="product">
      <div class="gallery">${image ? `<img src="${esc(image)}" alt="${esc(product.images[0]?.alt || product.title)}">` : ""}</div>
      <div>
        <h1>${esc(product.title)}</h1>
        ${product.subtitle ? `<p class="subtitle">${esc(product.subtitle)}</p>` : ""}
        <p class="price" id="price" aria-live="polite"></p>
        <p id="stock" aria-live="polite"></p>
        <form id="buy">
          ${product.options
            .map(
              (o) => `<fieldset class="picker"><legend>${esc(o.name)}</legend>${o.values
                .map((v, i) => `<label><input type="radio" name="${esc(o.name)}" value="${esc(v)}" ${i === 0 ? "checked" : ""}><span>${esc(v)}</span></label>`)
                .join("")}</fieldset>`,
            )
            .join("")}
          <label>Quantity <input id="quantity" type="number" min="1" max="99" value="1" inputmode="numeric"></label>
          <button id="add" class="primary" type="submit">Add to cart</button>
          <p id="added" role="status"></p>
        </form>
        <div class="description">${esc(product.description)}</div>
      </div>
    </article>`;

  const form = document.getElementById("buy");
  const chosen = () => {
    const picked = Object.fromEntries(product.options.map((o) => [o.name, form.elements[o.name].value]));
    return product.variants.find((v) => product.options.every((o) => v.options[o.name] === picked[o.name]));
  };
  const show = () => {
    const variant = chosen();
    const button = document.getElementById("add");
    if (!variant) {
      document.getElementById("price").textContent = "";
      document.getElementById("stock").textContent = "This combination is not sold";
      button.disabled = true;
      return;
    }
    const price = priceOf(variant, region);
    const original = variant.calculated_price?.original;
    document.getElementById("price").innerHTML =
      original && original.amount > price.amount ? `<del>${money(original)}</del> <ins>${money(price)}</ins>` : money(price);
    const inStock = variant.in_stock !== false;
    document.getElementById("stock").textContent = inStock ? "In stock" : "Out of stock";
    button.disabled = !inStock;
  };
  form.addEventListener("change", show);
  show();

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const variant = chosen();
    const quantity = Number(document.getElementById("quantity").value) || 1;
    try {
      const cart = await ensureCart();
      const updated = await api(`/carts/${cart.id}/line-items`, { method: "POST", body: { variant_id: variant.id, quantity } });
      setCartCount(updated);
      document.getElementById("added").innerHTML = `Added ${esc(variant.title)} to your cart. <a href="/demo/cart.html">View cart</a>`;
    } catch (err) {
      showError(err, form);
    }
  });
}

main().catch((e) => showError(e));
