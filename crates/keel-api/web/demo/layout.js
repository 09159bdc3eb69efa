// The header every page shares: home link, search with suggestions, region, account, cart.
import { allRegions, chooseRegion, currentCart, currentRegion, esc, signedIn } from "./api.js";

export async function header() {
  const [regions, region, cart] = await Promise.all([allRegions(), currentRegion(), currentCart().catch(() => null)]);
  const count = cart ? cart.lines.reduce((n, l) => n + l.quantity, 0) : 0;
  const el = document.getElementById("site");
  el.innerHTML = `
    <a class="brand" href="/demo/">Keel Demo Store</a>
    <form class="search" action="/demo/search.html" role="search">
      <label for="q" class="visually-hidden">Search products</label>
      <input id="q" name="q" type="search" placeholder="Search products" autocomplete="off"
             role="combobox" aria-autocomplete="list" aria-expanded="false" aria-controls="suggestions"
             value="${esc(new URLSearchParams(location.search).get("q") || "")}">
      <ul id="suggestions" role="listbox" hidden></ul>
    </form>
    <label class="region"><span class="visually-hidden">Region</span>
      <select id="region">${regions.map((r) => `<option value="${r.id}" ${r.id === region.id ? "selected" : ""}>${esc(r.name)} (${r.currency})</option>`).join("")}</select>
    </label>
    <a href="/demo/account.html">${signedIn() ? "My account" : "Sign in"}</a>
    <a href="/demo/cart.html" id="cart-link">Cart (<span id="cart-count">${count}</span>)</a>`;
  document.getElementById("region").addEventListener("change", (e) => {
    chooseRegion(e.target.value);
    location.reload();
  });
  suggestions(document.getElementById("q"), document.getElementById("suggestions"));
}

/** Suggestions under the search box as the shopper types; arrows and Enter pick one. */
function suggestions(input, list) {
  let timer;
  let active = -1;
  let asked = 0;
  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (q.length < 2) {
      asked++;
      return close();
    }
    timer = setTimeout(async () => {
      const mine = ++asked;
      const res = await fetch(`/v1/store/search/suggest?q=${encodeURIComponent(q)}&limit=6`);
      // A slower answer to an earlier question never replaces a newer one.
      if (mine !== asked || input.value.trim() !== q) return;
      if (!res.ok) return close();
      const { data } = await res.json();
      if (!data.length) return close();
      list.innerHTML = data
        .map((s, i) => `<li role="option" id="sugg-${i}"><a href="/demo/product.html?handle=${encodeURIComponent(s.handle)}">${esc(s.title)}</a></li>`)
        .join("");
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }, 120);
  });
  input.addEventListener("keydown", (e) => {
    const items = [...list.querySelectorAll("li")];
    if (list.hidden || !items.length) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      active = (active + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      items.forEach((li, i) => li.setAttribute("aria-selected", String(i === active)));
      input.setAttribute("aria-activedescendant", items[active].id);
    } else if (e.key === "Enter" && active >= 0) {
      e.preventDefault();
      location.href = items[active].querySelector("a").href;
    } else if (e.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 200));
}

export function setCartCount(cart) {
  const el = document.getElementById("cart-count");
  if (el) el.textContent = cart.lines.reduce((n, l) => n + l.quantity, 0);
}

/** Shows an error where the page can see it, read out by screen readers. */
export function showError(error, where = document.getElementById("main")) {
  const box = document.createElement("p");
  box.className = "error";
  box.setAttribute("role", "alert");
  box.textContent = error.message || String(error);
  where.prepend(box);
}

/** A product card for grids. */
export function card(product, region, priceOf, money) {
  const v = product.variants[0];
  const image = product.thumbnail || product.images[0]?.url;
  return `<li class="card">
    <a href="/demo/product.html?handle=${encodeURIComponent(product.handle)}">
      ${image ? `<img src="${esc(image)}" alt="" loading="lazy">` : `<div class="noimg" aria-hidden="true"></div>`}
      <span class="title">${esc(product.title)}</span>
      ${v ? `<span class="price">${money(priceOf(v, region))}</span>` : ""}
    </a></li>`;
}
