// Orders: a list filtered by status, email and date; the detail with its timeline and the
// actions of an order's life: capture, fulfil with tracking, deliver, cancel, refund, returns.
import { all, api } from "../api.js";
import { act, badge, esc, html, money, raw, table, when, values } from "../ui.js";

export async function render(ctx, main, id) {
  if (id) return detail(ctx, main, id);
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  const query = new URLSearchParams({ limit: "50" });
  for (const k of ["status", "email", "cursor"]) if (q.get(k)) query.set(k, q.get(k));
  // Dates are the staff member's own days: from local midnight to the next.
  if (q.get("from")) query.set("placed_from", new Date(`${q.get("from")}T00:00:00`).toISOString());
  if (q.get("to")) {
    const end = new Date(`${q.get("to")}T00:00:00`);
    end.setDate(end.getDate() + 1);
    query.set("placed_to", end.toISOString());
  }
  const page = await api(`/orders?${query}`);
  main.innerHTML = html`
    <h1>Orders</h1>
    <form id="filters" class="filters" role="search">
      <label>Status <select name="status"><option value="">Any</option>${raw(["placed", "completed", "canceled"].map((s) => `<option ${q.get("status") === s ? "selected" : ""}>${s}</option>`).join(""))}</select></label>
      <label>Email <input name="email" type="search" value="${q.get("email") || ""}"></label>
      <label>From <input name="from" type="date" value="${q.get("from") || ""}"></label>
      <label>To <input name="to" type="date" value="${q.get("to") || ""}"></label>
      <button type="submit">Filter</button>
    </form>
    ${raw(table(
      "Orders",
      [
        ["Order", (o) => html`<a href="#/orders/${o.id}">#${o.number}</a>`],
        ["Placed", (o) => esc(when(o.created_at))],
        ["Customer", (o) => esc(o.email)],
        ["Status", (o) => badge(o.status)],
        ["Payment", (o) => badge(o.payment_status)],
        ["Fulfilment", (o) => badge(o.fulfillment_status)],
        ["Total", (o) => esc(money(o.total))],
      ],
      page.data,
      "No order matches.",
    ))}
    ${raw(page.next_cursor ? html`<a class="button" href="#/orders?${new URLSearchParams({ ...Object.fromEntries(q), cursor: page.next_cursor })}">Next page</a>` : "")}`;
  document.getElementById("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    const v = Object.fromEntries(Object.entries(values(e.target)).filter(([, x]) => x));
    location.hash = `#/orders?${new URLSearchParams(v)}`;
  });
}

const lineInputs = (order, name, max) =>
  order.lines
    .filter((l) => max(l) > 0)
    .map((l) => html`<label class="qty">${l.title} (${l.sku}) <input type="number" name="${name}:${l.id}" min="0" max="${max(l)}" value="0" inputmode="numeric"> of ${max(l)}</label>`)
    .join("");

const pickLines = (form, name) =>
  [...form.querySelectorAll(`input[name^="${name}:"]`)]
    .map((i) => ({ line_id: i.name.split(":")[1], quantity: Number(i.value) }))
    .filter((l) => l.quantity > 0);

async function detail(ctx, main, id) {
  const o = await api(`/orders/${id}`);
  const write = ctx.can("orders:write");
  const locations = write ? await all("/stock-locations").catch(() => []) : [];
  const unshipped = (l) => l.quantity - l.fulfilled_quantity;
  const refundable = (l) => l.quantity - l.refunded_quantity;
  const returnable = (l) => l.fulfilled_quantity - l.returned_quantity;
  main.innerHTML = html`
    <p><a href="#/orders">← Orders</a></p>
    <div class="page-head"><h1>Order #${o.number}</h1> ${raw(badge(o.status))} ${raw(badge(o.payment_status))} ${raw(badge(o.fulfillment_status))}</div>
    <div class="two">
      <section aria-labelledby="h-lines"><h2 id="h-lines">Items</h2>
        ${raw(table("Order lines", [
          ["Item", (l) => html`${l.title} <small>${l.sku}</small>`],
          ["Qty", (l) => String(l.quantity)],
          ["Shipped", (l) => String(l.fulfilled_quantity)],
          ["Refunded", (l) => String(l.refunded_quantity)],
          ["Returned", (l) => String(l.returned_quantity)],
          ["Total", (l) => esc(money(l.total))],
        ], o.lines))}
        <dl class="totals">
          <dt>Subtotal</dt><dd>${money(o.subtotal)}</dd>
          <dt>Discount</dt><dd>−${money(o.discount_total)}</dd>
          <dt>Shipping</dt><dd>${money(o.shipping_total)}</dd>
          <dt>Tax</dt><dd>${money(o.tax_total)}</dd>
          <dt>Total</dt><dd>${money(o.total)}</dd>
          <dt>Refunded</dt><dd id="refunded">${money(o.refunded_total)}</dd>
        </dl>
      </section>
      <section aria-labelledby="h-customer"><h2 id="h-customer">Customer</h2>
        <p>${o.email}</p>
        <address>${[o.shipping_address.first_name, o.shipping_address.last_name].filter(Boolean).join(" ")}<br>${o.shipping_address.line1}<br>${o.shipping_address.postal_code || ""} ${o.shipping_address.city}<br>${o.shipping_address.country_code}</address>
        <p>Shipping: ${o.shipping?.name || ""}</p>
        ${raw(o.customer_id && ctx.can("customers:read") ? html`<p><a href="#/customers/${o.customer_id}">Customer account</a></p>` : "")}
      </section>
    </div>
    <section aria-labelledby="h-pay"><h2 id="h-pay">Payments</h2>${raw(table("Payments", [
      ["Provider", (p) => esc(p.provider)],
      ["Amount", (p) => esc(money(p.amount))],
      ["Status", (p) => badge(p.status)],
      ["Reference", (p) => html`<span class="mono">${p.reference || ""}</span>`],
    ], o.payments, "No payment."))}
    ${raw(o.refunds.length ? table("Refunds", [
      ["Refund", (r) => esc(when(r.created_at))],
      ["Amount", (r) => esc(money(r.amount))],
      ["Status", (r) => badge(r.status)],
      ["Reason", (r) => esc(r.reason || "")],
    ], o.refunds) : "")}</section>
    ${raw(o.fulfillments.length ? html`<section aria-labelledby="h-ful"><h2 id="h-ful">Shipments</h2>${raw(table("Shipments", [
      ["Shipment", (f) => esc(f.id)],
      ["Status", (f) => badge(f.status)],
      ["Carrier", (f) => esc(`${f.carrier || ""} ${f.tracking_number || ""}`)],
      ["Units", (f) => String(f.lines.reduce((n, l) => n + l.quantity, 0))],
      ["", (f) => (write && f.status !== "delivered" ? html`<button type="button" class="deliver" data-id="${f.id}">Mark delivered</button>` : "")],
    ], o.fulfillments))}</section>` : "")}
    ${raw(o.returns.length ? html`<section aria-labelledby="h-ret"><h2 id="h-ret">Returns</h2>${raw(table("Returns", [
      ["Return", (r) => esc(r.id)],
      ["Status", (r) => badge(r.status)],
      ["", (r) => (write && r.status === "requested" ? html`<button type="button" class="receive" data-id="${r.id}">Receive</button>` : "")],
    ], o.returns))}</section>` : "")}
    ${raw(write ? html`<section class="actions-panel" aria-labelledby="h-act"><h2 id="h-act">Actions</h2>
      ${raw(o.payment_status === "authorized" ? `<button type="button" id="capture" class="primary">Capture payment</button>` : "")}
      ${raw(o.status !== "canceled" && o.fulfillment_status === "not_fulfilled" ? `<button type="button" id="cancel" class="danger">Cancel order</button>` : "")}
      ${raw(o.lines.some((l) => unshipped(l) > 0) && o.status !== "canceled" ? html`<form id="fulfil"><fieldset><legend>Fulfil</legend>
        ${raw(lineInputs(o, "ship", unshipped))}
        <label>Ship from <select name="location_id">${raw(locations.map((l) => html`<option value="${l.id}">${l.name || l.code}</option>`).join(""))}</select></label>
        <label>Carrier <input name="carrier" value=""></label>
        <label>Tracking number <input name="tracking_number" value=""></label>
        <button type="submit" class="primary">Create shipment</button></fieldset></form>` : "")}
      ${raw(o.lines.some((l) => refundable(l) > 0) && ["captured", "partially_refunded"].includes(o.payment_status) ? html`<form id="refund"><fieldset><legend>Refund</legend>
        ${raw(lineInputs(o, "refund", refundable))}
        <label class="check"><input type="checkbox" name="shipping"> Refund shipping</label>
        <label>Reason <input name="reason"></label>
        <button type="submit">Refund</button></fieldset></form>` : "")}
      ${raw(o.lines.some((l) => returnable(l) > 0) ? html`<form id="return"><fieldset><legend>Request a return</legend>
        ${raw(lineInputs(o, "return", returnable))}
        <label>Reason <input name="reason"></label>
        <button type="submit">Request return</button></fieldset></form>` : "")}
    </section>` : "")}
    <section aria-labelledby="h-time"><h2 id="h-time">Timeline</h2>
      <ol class="timeline">${raw(o.timeline.map((t) => html`<li><time datetime="${t.at}">${when(t.at)}</time> <strong>${t.event}</strong> ${raw(describe(t))}</li>`).join(""))}</ol>
    </section>`;

  const again = () => detail(ctx, main, id);
  const on = (sel, ev, fn) => main.querySelector(sel)?.addEventListener(ev, fn);
  on("#capture", "click", async () => (await act(() => api(`/orders/${id}/capture`, { method: "POST", body: {} }), "Payment captured")) && again());
  on("#cancel", "click", async () => confirm("Cancel this order? The payment is voided or refunded and stock released.") && (await act(() => api(`/orders/${id}/cancel`, { method: "POST" }), "Order canceled")) && again());
  on("#fulfil", "submit", async (e) => {
    e.preventDefault();
    const v = values(e.target);
    const body = { lines: pickLines(e.target, "ship"), location_id: v.location_id || null, carrier: v.carrier || null, tracking_number: v.tracking_number || null };
    (await act(() => api(`/orders/${id}/fulfillments`, { method: "POST", body }), "Shipment created")) && again();
  });
  on("#refund", "submit", async (e) => {
    e.preventDefault();
    const v = values(e.target);
    const body = { lines: pickLines(e.target, "refund"), shipping: Boolean(v.shipping), reason: v.reason || null };
    (await act(() => api(`/orders/${id}/refunds`, { method: "POST", body }), "Refund issued")) && again();
  });
  on("#return", "submit", async (e) => {
    e.preventDefault();
    const v = values(e.target);
    (await act(() => api(`/orders/${id}/returns`, { method: "POST", body: { lines: pickLines(e.target, "return"), reason: v.reason || null } }), "Return requested")) && again();
  });
  main.querySelectorAll(".deliver").forEach((b) => b.addEventListener("click", async () => (await act(() => api(`/orders/${id}/fulfillments/${b.dataset.id}/deliver`, { method: "POST" }), "Marked delivered")) && again()));
  main.querySelectorAll(".receive").forEach((b) => b.addEventListener("click", async () => (await act(() => api(`/orders/${id}/returns/${b.dataset.id}/receive`, { method: "POST", body: {} }), "Return received")) && again()));
}

function describe(entry) {
  const d = entry.data || {};
  const bits = [];
  if (d.amount) bits.push(money(d.amount));
  if (d.tracking_number) bits.push(`${d.carrier || ""} ${d.tracking_number}`);
  if (d.reason) bits.push(d.reason);
  return bits.length ? esc(`— ${bits.join(" · ")}`) : "";
}
