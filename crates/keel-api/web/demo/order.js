// Order confirmation (and any order of the signed-in customer): lines, totals, status, invoice.
import { api, esc, money, params } from "./api.js";
import { header, showError } from "./layout.js";

async function main() {
  await header();
  const id = params.get("id");
  const email = sessionStorage.getItem(`keel.order.${id}`);
  const query = email ? `?email=${encodeURIComponent(email)}` : "";
  const order = await api(`/orders/${id}${query}`);
  document.getElementById("main").innerHTML = `
    <h1>Thank you — order #${order.number}</h1>
    <p id="confirmation" role="status">We have your order and sent a confirmation to <strong>${esc(order.email)}</strong>.</p>
    <p>Status: <span class="badge">${esc(order.status)}</span> · payment <span class="badge">${esc(order.payment_status)}</span> · fulfilment <span class="badge">${esc(order.fulfillment_status)}</span></p>
    <table class="lines">
      <caption class="visually-hidden">Items ordered</caption>
      <thead><tr><th scope="col">Item</th><th scope="col">Quantity</th><th scope="col">Total</th></tr></thead>
      <tbody>${order.lines.map((l) => `<tr><th scope="row">${esc(l.title)} <small>${esc(l.sku)}</small></th><td>${l.quantity}</td><td>${money(l.total)}</td></tr>`).join("")}</tbody>
    </table>
    <dl class="totals">
      <dt>Shipping</dt><dd>${money(order.shipping_total)}</dd>
      <dt>Tax</dt><dd>${money(order.tax_total)}</dd>
      <dt>Total</dt><dd>${money(order.total)}</dd>
    </dl>
    <p><a href="/demo/">Continue shopping</a></p>`;
}

main().catch((e) => showError(e));
