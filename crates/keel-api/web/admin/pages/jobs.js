// Background jobs by state; dead letters can be retried or discarded.
import { api } from "../api.js";
import { act, badge, esc, html, raw, table, when } from "../ui.js";

const STATES = ["dead", "pending", "running", "completed", "discarded"];

export async function render(ctx, main) {
  const state = new URLSearchParams(location.hash.split("?")[1] || "").get("state") || "dead";
  const write = ctx.can("jobs:write");
  const page = await api(`/jobs?state=${state}&limit=100`);
  main.innerHTML = html`
    <h1>Jobs</h1>
    <nav class="tabs" aria-label="Job states">${raw(STATES.map((s) => `<a href="#/jobs?state=${s}" ${s === state ? 'aria-current="page"' : ""}>${s === "dead" ? "dead letters" : s}</a>`).join(""))}</nav>
    ${raw(table(`Jobs: ${state}`, [
      ["Kind", (j) => esc(j.kind)],
      ["Queue", (j) => esc(j.queue)],
      ["State", (j) => badge(j.state)],
      ["Attempts", (j) => esc(`${j.attempts} of ${j.max_attempts}`)],
      ["Last error", (j) => html`<span class="mono">${j.last_error || ""}</span>`],
      ["Updated", (j) => esc(when(j.updated_at))],
      ["", (j) => (write && j.state === "dead" ? html`<button type="button" class="retry" data-id="${j.id}">Retry</button> <button type="button" class="discard danger" data-id="${j.id}">Discard</button>` : "")],
    ], page.data, state === "dead" ? "No dead letters: every job finished or is still trying." : "None."))}`;
  for (const [cls, verb] of [["retry", "Job queued again"], ["discard", "Job discarded"]]) {
    main.querySelectorAll(`.${cls}`).forEach((b) =>
      b.addEventListener("click", async () => (await act(() => api(`/jobs/${b.dataset.id}/${cls}`, { method: "POST" }), verb)) && render(ctx, main)),
    );
  }
}
