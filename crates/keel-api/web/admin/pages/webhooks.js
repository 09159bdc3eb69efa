// Webhooks: endpoints, the events they hear, and each one's delivery log.
import { all, api } from "../api.js";
import { act, badge, esc, html, raw, table, values, when } from "../ui.js";

/** The last attempt of a delivery: its HTTP status and time, or its error. */
function last(delivery) {
  const a = delivery.attempts[delivery.attempts.length - 1];
  if (!a) return "";
  return `${a.status ?? a.error ?? ""} in ${a.latency_ms} ms`;
}

export async function render(ctx, main, id) {
  const write = ctx.can("webhooks:write");
  if (id) {
    const [hook, deliveries] = await Promise.all([api(`/webhooks/${id}`), api(`/webhooks/${id}/deliveries`)]);
    main.innerHTML = html`
      <p><a href="#/webhooks">← Webhooks</a></p>
      <h1>${hook.url}</h1>
      <p>Events: ${hook.events.join(", ")} · ${raw(badge(hook.enabled ? "enabled" : "disabled"))} ${hook.disabled_reason || ""}</p>
      <h2>Deliveries</h2>
      ${raw(table("Deliveries", [["Event", (d) => esc(d.event_type)], ["State", (d) => badge(d.state)], ["Attempts", (d) => esc(String(d.attempts.length))], ["Last answer", (d) => esc(last(d))], ["When", (d) => esc(when(d.created_at))]], deliveries.data))}`;
    return;
  }
  const hooks = await all("/webhooks");
  main.innerHTML = html`
    <h1>Webhooks</h1>
    ${raw(table("Webhooks", [["URL", (h) => html`<a href="#/webhooks/${h.id}">${h.url}</a>`], ["Events", (h) => esc(h.events.join(", "))], ["Status", (h) => badge(h.enabled ? "enabled" : "disabled")], ["Failures in a row", (h) => String(h.consecutive_failures)], ["", (h) => (write ? html`<button type="button" class="toggle" data-id="${h.id}" data-enabled="${String(!h.enabled)}">${h.enabled ? "Pause" : "Enable"}</button> <button type="button" class="delete danger" data-id="${h.id}">Delete</button>` : "")]], hooks))}
    ${raw(write ? html`<form id="new" class="inline"><label>Endpoint URL <input name="url" type="url" required></label><label>Events (comma-separated; * for all) <input name="events" value="*" required></label><button type="submit">Add webhook</button></form>
      <p id="secret" class="secret" hidden></p>` : "")}`;
  document.getElementById("new")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = values(e.target);
    const created = await act(() => api("/webhooks", { method: "POST", body: { url: v.url, events: v.events.split(",").map((x) => x.trim()).filter(Boolean), description: "" } }), "Webhook added");
    if (!created) return;
    await render(ctx, main);
    const box = document.getElementById("secret");
    box.textContent = `Signing secret (shown once): ${created.secret || ""}`;
    box.hidden = !created.secret;
  });
  main.querySelectorAll(".toggle").forEach((b) =>
    b.addEventListener("click", async () => (await act(() => api(`/webhooks/${b.dataset.id}`, { method: "PATCH", body: { enabled: b.dataset.enabled === "true" } }), "Webhook updated")) && render(ctx, main)),
  );
  main.querySelectorAll(".delete").forEach((b) =>
    b.addEventListener("click", async () => confirm("Delete this webhook?") && (await act(() => api(`/webhooks/${b.dataset.id}`, { method: "DELETE" }), "Webhook deleted")) !== undefined && render(ctx, main)),
  );
}
