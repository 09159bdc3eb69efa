// Staff, their roles, invitations and API keys.
import { api } from "../api.js";
import { act, badge, esc, html, raw, table, values, when } from "../ui.js";

export async function render(ctx, main) {
  const write = ctx.can("staff:write");
  const [staff, roles, keys, audit] = await Promise.all([
    api("/staff"),
    api("/roles"),
    api("/api-keys"),
    ctx.can("audit:read") ? api("/audit-log?limit=20") : null,
  ]);
  main.innerHTML = html`
    <h1>Staff and API keys</h1>
    <h2>Staff</h2>
    ${raw(table("Staff", [
      ["Email", (s) => esc(s.email)],
      ["Name", (s) => esc(s.name || "")],
      ["Role", (s) => (write && s.id !== ctx.me.id
        ? html`<label class="visually-hidden" for="role-${s.id}">Role of ${s.email}</label><select id="role-${s.id}" class="role" data-id="${s.id}">${raw(roles.data.map((r) => html`<option ${raw(r.name === s.role ? "selected" : "")}>${r.name}</option>`).join(""))}${raw(roles.data.some((r) => r.name === s.role) ? "" : html`<option selected>${s.role}</option>`)}</select>`
        : badge(s.role))],
      ["Status", (s) => badge(s.status)],
      ["Last sign-in", (s) => esc(when(s.last_login_at) || "never")],
      ["", (s) => (write && s.id !== ctx.me.id
        ? html`<button type="button" class="status ${s.status === "active" ? "danger" : ""}" data-id="${s.id}" data-status="${s.status === "active" ? "disabled" : "active"}">${s.status === "active" ? "Disable" : "Enable"}</button>`
        : "")],
    ], staff.data))}
    ${raw(write ? html`<form id="invite" class="inline"><label>Invite email <input name="email" type="email" required></label>
      <label>Role <select name="role">${raw(roles.data.map((r) => html`<option>${r.name}</option>`).join(""))}</select></label><button type="submit">Invite</button></form>` : "")}
    <h2>Roles</h2>
    ${raw(table("Roles", [["Role", (r) => esc(r.name)], ["Permissions", (r) => esc((r.permissions || []).join(", "))], ["About", (r) => esc(r.description || "")]], roles.data))}
    <h2>API keys</h2>
    ${raw(table("API keys", [["Name", (k) => esc(k.name)], ["Prefix", (k) => esc(k.prefix || "")], ["Permissions", (k) => esc(k.permissions.join(", "))], ["Last used", (k) => esc(when(k.last_used_at) || "never")], ["Created", (k) => esc(when(k.created_at))], ["", (k) => (write && !k.revoked_at ? html`<button type="button" class="revoke danger" data-id="${k.id}">Revoke</button>` : esc(k.revoked_at ? "revoked" : ""))]], keys.data))}
    ${raw(write ? html`<form id="new-key" class="inline"><label>New key name <input name="name" required></label>
      <label>Permissions <select name="role">${raw(roles.data.map((r) => html`<option value="${r.name}">as ${r.name}</option>`).join(""))}</select></label><button type="submit">Create key</button></form>
      <p id="secret" class="secret" hidden></p>` : "")}
    ${raw(audit ? `<h2>Recent changes</h2>` + table("Audit log", [
      ["When", (a) => esc(when(a.at))],
      ["Who", (a) => esc(a.actor)],
      ["What", (a) => html`<span class="mono">${a.method} ${a.path}</span>`],
      ["Status", (a) => esc(String(a.status))],
    ], audit.data) : "")}`;
  document.getElementById("invite")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await act(() => api("/invitations", { method: "POST", body: values(e.target) }), "Invitation sent")) render(ctx, main);
  });
  document.getElementById("new-key")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = values(e.target);
    const permissions = roles.data.find((r) => r.name === v.role)?.permissions || [];
    const created = await act(() => api("/api-keys", { method: "POST", body: { name: v.name, permissions } }), "Key created: copy its secret now");
    if (!created) return;
    await render(ctx, main);
    const box = document.getElementById("secret");
    box.textContent = `Secret (shown once): ${created.secret}`;
    box.hidden = false;
  });
  main.querySelectorAll("select.role").forEach((select) =>
    select.addEventListener("change", async () => {
      if (await act(() => api(`/staff/${select.dataset.id}`, { method: "PATCH", body: { role: select.value } }), "Role changed")) render(ctx, main);
    }),
  );
  main.querySelectorAll("button.status").forEach((b) =>
    b.addEventListener("click", async () => {
      const disabling = b.dataset.status === "disabled";
      if (disabling && !confirm("Disable this staff member? Their sessions end at once.")) return;
      if (await act(() => api(`/staff/${b.dataset.id}`, { method: "PATCH", body: { status: b.dataset.status } }), disabling ? "Disabled" : "Enabled")) render(ctx, main);
    }),
  );
  main.querySelectorAll(".revoke").forEach((b) =>
    b.addEventListener("click", async () => confirm("Revoke this key? Integrations using it stop at once.") && (await act(() => api(`/api-keys/${b.dataset.id}`, { method: "DELETE" }), "Key revoked")) !== undefined && render(ctx, main)),
  );
}
