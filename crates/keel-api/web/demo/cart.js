// The cart: lines with quantities, a promotion code, the totals, on to checkout.
import { api, currentCart, esc, money } from "./api.js";
import { header, setCartCount, showError } from "./layout.js";

function render(cart) {
  const main = document.getElementById("main");
  if (!cart || !cart.lines.length) {
    main.innerHTML = `<h1>Your cart</h1><p>Your cart is empty. <a href="/demo/">Keep shopping</a></p>`;
    return;
  }
  main.innerHTML = `
    <h1>Your cart</h1>
    <div class="table-wrap"><table class="lines">
      <caption class="visually-hidden">Items in your cart</caption>
      <thead><tr><th scope="col">Item</th><th scope="col">Price</th><th scope="col">Quantity</th><th scope="col">Total</th><th scope="col"><span class="visually-hidden">Remove</span></th></tr></thead>
      <tbody>${cart.lines
        .map(
          (l) => `<tr data-line="${l.id}">
            <th scope="row">${esc(l.product_title)}<br><small>${esc(l.title)} · ${esc(l.sku)}</small></th>
            <td>${money(l.unit_price)}</td>
            <td><label class="visually-hidden" for="q-${l.id}">Quantity of ${esc(l.product_title)} ${esc(l.title)}</label>
                <input id="q-${l.id}" class="qty" type="number" min="0" max="1000" value="${l.quantity}" inputmode="numeric"></td>
            <td>${money(l.total)}</td>
            <td><button class="link remove" type="button" aria-label="Remove ${esc(l.product_title)} ${esc(l.title)}">Remove</button></td>
          </tr>`,
        )
        .join("")}</tbody>
    </table></div>
    <form id="promo" class="inline">
      <label for="code">Promotion code</label> <input id="code" name="code" autocomplete="off"> <button type="submit">Apply</button>
    </form>
    <ul class="promos">${cart.promotions.map((p) => `<li>${esc(p.code || p.name || "Promotion")}: ${p.applied ? `−${money(p.discount)}` : esc(p.reason || "does not apply")}</li>`).join("")}</ul>
    <dl class="totals">
      <dt>Subtotal</dt><dd>${money(cart.subtotal)}</dd>
      ${cart.discount_total.amount ? `<dt>Discount</dt><dd>−${money(cart.discount_total)}</dd>` : ""}
      <dt>Tax${cart.tax_inclusive ? " (included)" : ""}</dt><dd>${money(cart.tax_total)}</dd>
      <dt>Total</dt><dd id="cart-total">${money(cart.total)}</dd>
    </dl>
    <a class="button primary" href="/demo/checkout.html">Checkout</a>`;

  main.querySelectorAll(".qty").forEach((input) =>
    input.addEventListener("change", () => change(cart, input.closest("tr").dataset.line, Number(input.value))),
  );
  main.querySelectorAll(".remove").forEach((button) =>
    button.addEventListener("click", () => change(cart, button.closest("tr").dataset.line, 0)),
  );
  document.getElementById("promo").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      render(await api(`/carts/${cart.id}/promotions`, { method: "POST", body: { code: document.getElementById("code").value } }));
    } catch (err) {
      showError(err);
    }
  });
}

async function change(cart, lineId, quantity) {
  try {
    const path = `/carts/${cart.id}/line-items/${lineId}`;
    const updated = quantity > 0 ? await api(path, { method: "PATCH", body: { quantity } }) : await api(path, { method: "DELETE" });
    setCartCount(updated);
    render(updated);
  } catch (err) {
    showError(err);
  }
}

async function main() {
  await header();
  render(await currentCart());
}

main().catch((e) => showError(e));
