// The storefront's only door to Keel: the public Store API (/v1/store), called from the browser.
// Everything a shopper keeps between pages lives in localStorage: the region, the cart's id and,
// once signed in, the customer's tokens.

const store = window.localStorage;

export class ApiError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || "Something went wrong");
    this.status = problem.status;
    this.code = problem.code;
    this.errors = problem.errors || [];
  }
}

/** Calls the Store API: JSON in, JSON out, a problem+json answer thrown as an ApiError. */
export async function api(path, { method = "GET", body, headers = {}, auth = true } = {}) {
  const h = { Accept: "application/json", ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  const token = store.getItem("keel.access");
  if (auth && token) h.Authorization = `Bearer ${token}`;
  let res = await fetch(`/v1/store${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401 && auth && token && (await refresh())) {
    h.Authorization = `Bearer ${store.getItem("keel.access")}`;
    res = await fetch(`/v1/store${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => ({ status: res.status, title: res.statusText }));
  if (!res.ok) throw new ApiError(data);
  return data;
}

let refreshing = null;

/** One refresh at a time: a refresh token works once, and a second use ends the session. */
function refresh() {
  refreshing ??= refreshOnce().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

async function refreshOnce() {
  const token = store.getItem("keel.refresh");
  if (!token) return false;
  const res = await fetch("/v1/store/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: token }),
  });
  if (!res.ok) {
    signOut();
    return false;
  }
  saveTokens(await res.json());
  return true;
}

// ---- the customer ----------------------------------------------------------------------------

export function saveTokens(pair) {
  store.setItem("keel.access", pair.access_token);
  store.setItem("keel.refresh", pair.refresh_token);
}

export const signedIn = () => Boolean(store.getItem("keel.access"));

export function signOut() {
  store.removeItem("keel.access");
  store.removeItem("keel.refresh");
  store.removeItem("keel.cart");
}

export async function signIn(email, password) {
  saveTokens(await api("/auth/token", { method: "POST", body: { email, password }, auth: false }));
  // An anonymous cart becomes the customer's (its lines merge into theirs).
  const cart = store.getItem("keel.cart");
  if (cart) {
    try {
      const claimed = await api(`/carts/${cart}/claim`, { method: "POST" });
      store.setItem("keel.cart", claimed.id);
    } catch {
      store.removeItem("keel.cart");
    }
  }
}

// ---- region and cart --------------------------------------------------------------------------

let regions;
export async function currentRegion() {
  regions ??= (await api("/regions", { auth: false })).data;
  const chosen = regions.find((r) => r.id === store.getItem("keel.region"));
  return chosen || regions[0];
}

export async function allRegions() {
  await currentRegion();
  return regions;
}

export function chooseRegion(id) {
  store.setItem("keel.region", id);
  store.removeItem("keel.cart");
}

/** The shopper's cart, or null when there is none yet. */
export async function currentCart() {
  const id = store.getItem("keel.cart");
  if (!id) return null;
  try {
    return await api(`/carts/${id}`);
  } catch (e) {
    if (e.status === 404 || e.status === 403 || e.status === 409) {
      store.removeItem("keel.cart");
      return null;
    }
    throw e;
  }
}

export async function ensureCart() {
  const cart = await currentCart();
  if (cart) return cart;
  const region = await currentRegion();
  const fresh = await api("/carts", { method: "POST", body: { region_id: region.id } });
  store.setItem("keel.cart", fresh.id);
  return fresh;
}

export function forgetCart() {
  store.removeItem("keel.cart");
}

// ---- formatting -------------------------------------------------------------------------------

/** `{amount: 1999, currency: "EUR"}` → "€19.99" (minor units, as the API sends them). */
export function money(m) {
  if (!m) return "";
  const format = new Intl.NumberFormat(undefined, { style: "currency", currency: m.currency });
  const digits = format.resolvedOptions().maximumFractionDigits;
  return format.format(m.amount / 10 ** digits);
}

/** The variant's price in the region's currency (its sale price when a price list applies). */
export function priceOf(variant, region) {
  if (variant.calculated_price) return variant.calculated_price.amount;
  return variant.prices.find((p) => p.currency === region.currency) || variant.prices[0];
}

/** Escapes text for an HTML template. */
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export const params = new URLSearchParams(window.location.search);
