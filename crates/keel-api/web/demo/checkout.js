// Checkout: email and address, a shipping option, the card, then the order. The Idempotency-Key
// is made once per attempt and kept, so a double click or a retry after a lost answer places one
// order and charges once.
import { api, currentCart, esc, forgetCart, money } from "./api.js";
import { header, showError } from "./layout.js";

const TEST_CARDS = [
  ["tok_visa", "Visa 4242 (succeeds)"],
  ["tok_mastercard", "Mastercard 5555 (succeeds)"],
  ["tok_declined", "Card declined"],
  ["tok_insufficient_funds", "Insufficient funds"],
];

async function main() {
  await header();
  const main = document.getElementById("main");
  const cart = await currentCart();
  if (!cart || !cart.lines.length) {
    main.innerHTML = `<h1>Checkout</h1><p>Your cart is empty. <a href="/demo/">Keep shopping</a></p>`;
    return;
  }
  const a = cart.shipping_address || {};
  main.innerHTML = `
    <h1>Checkout</h1>
    <form id="checkout" class="checkout" novalidate>
      <fieldset><legend>Contact</legend>
        <label>Email <input name="email" type="email" autocomplete="email" required value="${esc(cart.email)}"></label>
      </fieldset>
      <fieldset><legend>Shipping address</legend>
        <label>First name <input name="first_name" autocomplete="given-name" value="${esc(a.first_name)}"></label>
        <label>Last name <input name="last_name" autocomplete="family-name" value="${esc(a.last_name)}"></label>
        <label>Address <input name="line1" autocomplete="address-line1" required value="${esc(a.line1)}"></label>
        <label>City <input name="city" autocomplete="address-level2" required value="${esc(a.city)}"></label>
        <label>Postal code <input name="postal_code" autocomplete="postal-code" value="${esc(a.postal_code)}"></label>
        <label>Country code <input name="country_code" autocomplete="country" required maxlength="2" value="${esc(a.country_code)}" placeholder="DE"></label>
      </fieldset>
      <button type="button" id="to-shipping">Continue to shipping</button>
      <fieldset id="shipping" hidden><legend>Shipping</legend><div id="options"></div></fieldset>
      <fieldset id="payment" hidden><legend>Payment (test cards)</legend>
        ${TEST_CARDS.map(([t, l], i) => `<label><input type="radio" name="card" value="${t}" ${i === 0 ? "checked" : ""}> ${l}</label>`).join("")}
      </fieldset>
      <dl class="totals" id="totals"></dl>
      <button type="submit" id="pay" class="primary" hidden>Pay and place order</button>
    </form>`;
  const form = document.getElementById("checkout");
  // Enter in a field moves on; only the pay button places the order.
  form.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && e.target.tagName === "INPUT" && document.getElementById("pay").hidden) {
      e.preventDefault();
      document.getElementById("to-shipping").click();
    }
  });
  let current = cart;
  const totals = (c) => {
    document.getElementById("totals").innerHTML = `
      <dt>Subtotal</dt><dd>${money(c.subtotal)}</dd>
      ${c.discount_total.amount ? `<dt>Discount</dt><dd>−${money(c.discount_total)}</dd>` : ""}
      <dt>Shipping</dt><dd>${money(c.shipping_total)}</dd>
      <dt>Tax${c.tax_inclusive ? " (included)" : ""}</dt><dd>${money(c.tax_total)}</dd>
      <dt>Total</dt><dd id="order-total">${money(c.total)}</dd>`;
  };
  totals(current);

  document.getElementById("to-shipping").addEventListener("click", async () => {
    const f = form.elements;
    try {
      current = await api(`/carts/${cart.id}`, {
        method: "PATCH",
        body: {
          email: f.email.value,
          shipping_address: {
            first_name: f.first_name.value, last_name: f.last_name.value, line1: f.line1.value,
            city: f.city.value, postal_code: f.postal_code.value, country_code: f.country_code.value.toUpperCase(),
          },
        },
      });
      const { data } = await api(`/carts/${cart.id}/shipping-options`);
      document.getElementById("options").innerHTML = data
        .map((o, i) => `<label><input type="radio" name="shipping" value="${o.id}" ${i === 0 ? "checked" : ""}> ${esc(o.name)} — ${money(o.price)}</label>`)
        .join("") || "<p>No shipping option reaches this address.</p>";
      document.getElementById("shipping").hidden = false;
      if (data.length) {
        await choose(data[0].id);
        document.getElementById("payment").hidden = false;
        document.getElementById("pay").hidden = false;
      }
    } catch (err) {
      showError(err, form);
    }
  });
  const choose = async (id) => {
    current = await api(`/carts/${cart.id}/shipping-method`, { method: "POST", body: { option_id: id } });
    totals(current);
  };
  document.getElementById("options").addEventListener("change", (e) => choose(e.target.value).catch((err) => showError(err, form)));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const pay = document.getElementById("pay");
    pay.disabled = true;
    const key = sessionStorage.getItem(`keel.checkout.${cart.id}`) || crypto.randomUUID();
    sessionStorage.setItem(`keel.checkout.${cart.id}`, key);
    try {
      const order = await api(`/carts/${cart.id}/checkout`, {
        method: "POST",
        headers: { "Idempotency-Key": key },
        body: { payment: { provider: "paysim", token: form.elements.card.value }, expected_total: current.total.amount },
      });
      forgetCart();
      sessionStorage.setItem(`keel.order.${order.id}`, order.email);
      location.href = `/demo/order.html?id=${order.id}`;
    } catch (err) {
      // A refusal (a declined card, a changed cart) leaves the cart as it was: the next attempt
      // is a new one with a new key. Anything else (no answer, a server error) may have gone
      // through: retrying with the same key answers that order instead of paying twice.
      if (err.status >= 400 && err.status < 500) sessionStorage.removeItem(`keel.checkout.${cart.id}`);
      pay.disabled = false;
      showError(err, form);
    }
  });
}

main().catch((e) => showError(e));
