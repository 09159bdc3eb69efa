// The panel's door to Keel: the admin REST API (/v1/admin), as any other client uses it.
// The staff session lives in an HttpOnly cookie this script cannot read; each change carries the
// session's CSRF token, and each POST an Idempotency-Key so a double click does one thing.

let csrf = "";

export class ApiError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || "Something went wrong");
    this.status = problem.status;
    this.code = problem.code;
    this.errors = problem.errors || [];
  }
}

async function session(method, path = "/admin/session", body) {
  const res = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Keel-CSRF": csrf || "-" },
    body: body && JSON.stringify(body),
  });
  if (res.status === 204) return null;
  const data = await res.json().catch(() => ({ status: res.status }));
  if (!res.ok) throw new ApiError(data);
  if (data.csrf_token) csrf = data.csrf_token;
  return data;
}

async function currentOrRefreshed() {
  try {
    return await session("GET");
  } catch (e) {
    if (e.status !== 401) throw e;
  }
  try {
    return await session("POST", "/admin/session/refresh");
  } catch {
    return null;
  }
}

let resuming = null;

/** The current session, refreshed when its access cookie has ended; null when signed out.
 * One refresh at a time: calls in this tab share it, and other tabs wait for it (a refresh
 * token works once; a second use would end the session), then find the fresh cookie. */
export function resume() {
  resuming ??= (navigator.locks ? navigator.locks.request("keel-admin-session", currentOrRefreshed) : currentOrRefreshed()).finally(() => {
    resuming = null;
  });
  return resuming;
}

export const signIn = (email, password) => session("POST", "/admin/session", { email, password });
export const signOut = () => session("DELETE");

/** Calls the admin API. */
export async function api(path, { method = "GET", body, idempotent = method === "POST" } = {}) {
  const call = () => {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-Keel-CSRF"] = csrf;
    if (idempotent) headers["Idempotency-Key"] = key;
    return fetch(`/v1/admin${path}`, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  };
  const key = crypto.randomUUID();
  let res = await call();
  if (res.status === 401 && (await resume())) res = await call();
  // Another tab refreshed the session (its CSRF token changed with it): learn the new one, once.
  if (res.status === 403 && method !== "GET" && (await res.clone().json().catch(() => ({}))).code === "csrf_failed" && (await resume())) {
    res = await call();
  }
  if (res.status === 401) {
    window.dispatchEvent(new Event("keel:signed-out"));
    throw new ApiError({ status: 401, detail: "Your session ended: sign in again." });
  }
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json() : { status: res.status, title: res.statusText };
  if (!res.ok) throw new ApiError(data);
  return data;
}

/** Every page of a list (up to `max` items). */
export async function all(path, max = 500) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api(`${path}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}
