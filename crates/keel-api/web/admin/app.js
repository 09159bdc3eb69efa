// The panel's shell: signs the staff member in, draws the navigation their permissions allow,
// and routes `#/section/id` to a page module. Pages hide what the staff member may not do; the
// API refuses it anyway.
import { api, resume, signIn, signOut } from "./api.js";
import { act, esc, html, notice } from "./ui.js";

const SECTIONS = [
  ["", "Dashboard", null, "dashboard"],
  ["products", "Products", "products:read", "products"],
  ["catalog", "Categories, collections", "products:read", "catalog"],
  ["inventory", "Inventory", "inventory:read", "inventory"],
  ["orders", "Orders", "orders:read", "orders"],
  ["customers", "Customers", "customers:read", "customers"],
  ["promotions", "Promotions", "promotions:read", "promotions"],
  ["settings", "Regions, tax, shipping", "settings:read", "settings"],
  ["access", "Staff and API keys", "staff:read", "access"],
  ["webhooks", "Webhooks", "webhooks:read", "webhooks"],
  ["jobs", "Jobs", "jobs:read", "jobs"],
];

const ctx = { me: null, can: () => false };

function shell() {
  const nav = SECTIONS.filter(([, , perm]) => !perm || ctx.can(perm))
    .map(([path, label]) => `<li><a href="#/${path}" data-section="${path}">${esc(label)}</a></li>`)
    .join("");
  document.getElementById("app").innerHTML = html`
    <header class="top">
      <button type="button" id="menu" aria-controls="nav" aria-expanded="false">Menu</button>
      <a class="brand" href="#/">Keel admin</a>
      <span class="who">${ctx.me.name}</span>
      <button type="button" id="signout">Sign out</button>
    </header>
    <nav id="nav" aria-label="Sections"><ul>${{ raw: nav }}</ul></nav>
    <main id="main" tabindex="-1"></main>
    <div id="notice" hidden></div>`;
  document.getElementById("signout").addEventListener("click", async () => {
    await act(signOut);
    location.hash = "#/login";
    location.reload();
  });
  const menu = document.getElementById("menu");
  menu.addEventListener("click", () => {
    const open = document.body.classList.toggle("nav-open");
    menu.setAttribute("aria-expanded", String(open));
  });
}

function loginView(error = new URLSearchParams(location.hash.split("?")[1] || "").get("error")) {
  ctx.me = null;
  document.getElementById("app").innerHTML = html`
    <main class="login" id="main">
      <h1>Keel admin</h1>
      <form id="login">
        <label>Email <input name="email" type="email" autocomplete="username" required autofocus></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
        <button class="primary" type="submit">Sign in</button>
        <p id="login-error" class="error" role="alert" ${error ? "" : "hidden"}>${error || ""}</p>
      </form>
      <div id="oidc"></div>
    </main>`;
  document.getElementById("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    try {
      await signIn(f.email.value, f.password.value);
      if (location.hash.startsWith("#/login")) history.replaceState(null, "", "#/");
      await start();
    } catch (err) {
      const box = document.getElementById("login-error");
      box.textContent = err.message;
      box.hidden = false;
    }
  });
  api("/auth/oidc").then(({ data }) => {
    document.getElementById("oidc").innerHTML = data
      .map((p) => html`<a class="button" href="/v1/admin/auth/oidc/${encodeURIComponent(p)}/login?panel=true">Sign in with ${p}</a>`)
      .join("");
  }, () => {});
}

async function route() {
  // Only `#/…` is a page (the skip link's `#main` is not).
  if (!ctx.me || !location.hash.startsWith("#/") && location.hash !== "") return;
  if (location.hash.startsWith("#/login")) return loginView();
  const [section = "", id, sub] = location.hash.replace(/^#\/?/, "").split("?")[0].split("/");
  const entry = SECTIONS.find(([path]) => path === section) || SECTIONS[0];
  document.querySelectorAll("#nav a").forEach((a) =>
    a.dataset.section === entry[0] ? a.setAttribute("aria-current", "page") : a.removeAttribute("aria-current"),
  );
  document.body.classList.remove("nav-open");
  document.getElementById("menu")?.setAttribute("aria-expanded", "false");
  // A fresh container per visit: a slower page still loading for an earlier visit draws into
  // the detached old one, never over this one.
  const main = document.createElement("main");
  main.id = "main";
  main.tabIndex = -1;
  main.innerHTML = `<p class="loading">Loading…</p>`;
  document.getElementById("main").replaceWith(main);
  try {
    const page = await import(`./pages/${entry[3]}.js`);
    await page.render(ctx, main, id && decodeURIComponent(id), sub);
    main.focus({ preventScroll: true });
  } catch (e) {
    main.innerHTML = html`<h1>Something went wrong</h1><p class="error" role="alert">${e.message}</p>`;
  }
}

async function start() {
  if (!(await resume())) return loginView();
  ctx.me = await api("/auth/me");
  const granted = new Set(ctx.me.permissions);
  ctx.can = (perm) => granted.has("*") || granted.has(perm);
  document.body.dataset.readonly = String(!ctx.me.permissions.some((p) => p === "*" || p.endsWith(":write")));
  shell();
  if (location.hash === "#/login") location.hash = "#/";
  await route();
}

window.addEventListener("hashchange", route);
window.addEventListener("keel:signed-out", () => loginView("Your session ended: sign in again."));
document.addEventListener("click", (e) => {
  // The skip link moves focus without changing the page.
  if (e.target.closest?.("a.skip")) {
    e.preventDefault();
    document.getElementById("main")?.focus();
  }
});
start().catch((e) => notice(e.message, "error"));
