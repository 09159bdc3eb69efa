// Small helpers every page shares: escaping, money, tables, forms, notices.

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** A tagged template that escapes every value unless it is marked `raw`. */
export function html(strings, ...values) {
  return strings.reduce((out, s, i) => {
    if (i === 0) return s;
    const v = values[i - 1];
    const text = v && v.raw !== undefined ? v.raw : Array.isArray(v) ? v.map((x) => (x && x.raw !== undefined ? x.raw : esc(x))).join("") : esc(v);
    return out + text + s;
  }, "");
}
export const raw = (s) => ({ raw: s });

const digits = (currency) => new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;

export function money(m) {
  if (!m) return "";
  return new Intl.NumberFormat(undefined, { style: "currency", currency: m.currency }).format(m.amount / 10 ** digits(m.currency));
}

/** "12.50" in EUR → 1250 (minor units). */
export function toMinor(text, currency) {
  const n = Number(String(text).replace(",", "."));
  if (!Number.isFinite(n)) return NaN;
  return Math.round(n * 10 ** digits(currency));
}

export const toMajor = (m) => (m.amount / 10 ** digits(m.currency)).toFixed(digits(m.currency));

export const when = (t) => (t ? new Date(t).toLocaleString() : "");

export const badge = (text) => html`<span class="badge badge-${String(text).replace(/[^a-z_]/g, "")}">${text}</span>`;

/** A table: columns are [heading, row => html]. */
export function table(caption, columns, rows, empty = "Nothing here yet.") {
  if (!rows.length) return html`<p class="empty">${empty}</p>`;
  return `<div class="table-wrap"><table>
    <caption>${esc(caption)}</caption>
    <thead><tr>${columns.map(([h]) => `<th scope="col">${esc(h)}</th>`).join("")}</tr></thead>
    <tbody>${rows.map((r) => `<tr>${columns.map(([, cell], i) => (i === 0 ? `<th scope="row">${cell(r)}</th>` : `<td>${cell(r)}</td>`)).join("")}</tr>`).join("")}</tbody>
  </table></div>`;
}

/** A notice at the top of the page (role=status), or an error (role=alert). */
export function notice(text, kind = "ok") {
  const box = document.getElementById("notice");
  box.className = `notice ${kind}`;
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  box.textContent = text;
  box.hidden = false;
  if (kind !== "error") setTimeout(() => (box.hidden = true), 5000);
}

/** Runs an action from a button or form: shows the API's error next to it, or a notice. */
export async function act(fn, done) {
  try {
    const result = await fn();
    if (done) notice(done);
    return result;
  } catch (e) {
    const fields = e.errors?.length ? ` (${e.errors.map((f) => `${f.field}: ${f.message}`).join("; ")})` : "";
    notice(`${e.message}${fields}`, "error");
    return undefined;
  }
}

/** A form's fields as an object of strings. */
export const values = (form) => Object.fromEntries(new FormData(form).entries());

export const field = (label, name, value = "", attrs = "") =>
  html`<label>${label} <input name="${name}" value="${value ?? ""}" ${raw(attrs)}></label>`;
