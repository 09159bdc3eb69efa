// Customers: a list searchable by email; a customer's profile, addresses, orders and groups.
import { all, api } from "../api.js";
import { act, badge, esc, html, money, raw, table, values, when } from "../ui.js";

export async function render(ctx, main, id) {
  if (id) return detail(ctx, main, id);
  const email = new URLSearchParams(location.hash.split("?")[1] || "").get("email") || "";
  const [page, groups] = await Promise.all([api(`/customers?limit=50${email ? `&email=${encodeURIComponent(email)}` : ""}`), api("/customer-groups").catch(() => ({ data: [] }))]);
  main.innerHTML = html`
    <h1>Customers</h1>
    <form id="find" class="filters" role="search"><label>Email <input name="email" type="search" value="${email}"></label><button type="submit">Find</button></form>
    ${raw(table("Customers", [
      ["Email", (c) => html`<a href="#/customers/${c.id}">${c.email}</a>`],
      ["Name", (c) => esc([c.first_name, c.last_name].filter(Boolean).join(" "))],
      ["Verified", (c) => (c.email_verified ? "yes" : "no")],
      ["Joined", (c) => esc(when(c.created_at))],
    ], page.data))}
    <h2>Groups</h2>
    ${raw(table("Customer groups", [["Group", (g) => esc(g.name)], ["Members", (g) => String(g.customer_count)]], groups.data))}
    ${raw(ctx.can("customers:write") ? `<form id="new-group" class="inline"><label>New group <input name="name" required></label><button type="submit">Create group</button></form>` : "")}`;
  document.getElementById("find").addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = `#/customers?email=${encodeURIComponent(values(e.target).email)}`;
  });
  document.getElementById("new-group")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await act(() => api("/customer-groups", { method: "POST", body: { name: values(e.target).name } }), "Group created")) render(ctx, main);
  });
}

async function detail(ctx, main, id) {
  const [c, groups] = await Promise.all([api(`/customers/${id}`), all("/customer-groups").catch(() => [])]);
  // The email filter matches any email containing it: keep this customer's own orders.
  const orders = ctx.can("orders:read")
    ? (await api(`/orders?limit=100&email=${encodeURIComponent(c.email)}`)).data.filter((o) => o.customer_id === c.id || o.email === c.email)
    : [];
  main.innerHTML = html`
    <p><a href="#/customers">← Customers</a></p>
    <h1>${[c.first_name, c.last_name].filter(Boolean).join(" ") || c.email}</h1>
    <p>${c.email} ${raw(badge(c.email_verified ? "verified" : "unverified"))} · joined ${when(c.created_at)}</p>
    <h2>Addresses</h2>
    <ul>${raw(c.addresses.map((a) => html`<li>${a.line1}, ${a.postal_code || ""} ${a.city}, ${a.country_code}${a.is_default ? " (default)" : ""}</li>`).join("") || "<li>None</li>")}</ul>
    <h2>Orders</h2>
    ${raw(table("Orders", [["Order", (o) => html`<a href="#/orders/${o.id}">#${o.number}</a>`], ["Placed", (o) => esc(when(o.created_at))], ["Status", (o) => badge(o.status)], ["Total", (o) => esc(money(o.total))]], orders))}
    ${raw(ctx.can("customers:write") && groups.length ? html`<form id="add-group" class="inline"><label>Add to group <select name="group">${raw(groups.map((g) => html`<option value="${g.id}">${g.name}</option>`).join(""))}</select></label><button type="submit">Add</button></form>` : "")}`;
  document.getElementById("add-group")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    await act(() => api(`/customer-groups/${values(e.target).group}/customers`, { method: "POST", body: { customer_ids: [id] } }), "Added to the group");
  });
}
