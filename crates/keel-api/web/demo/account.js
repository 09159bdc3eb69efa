// The customer's account: sign in or register, then their order history.
import { api, esc, money, signIn, signOut, signedIn } from "./api.js";
import { header, showError } from "./layout.js";

function signInForms(main) {
  main.innerHTML = `
    <h1>Your account</h1>
    <div class="columns">
      <form id="signin" aria-labelledby="h-signin"><h2 id="h-signin">Sign in</h2>
        <label>Email <input name="email" type="email" autocomplete="username" required></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
        <button type="submit" class="primary">Sign in</button>
      </form>
      <form id="register" aria-labelledby="h-register"><h2 id="h-register">Create an account</h2>
        <label>First name <input name="first_name" autocomplete="given-name"></label>
        <label>Email <input name="email" type="email" autocomplete="email" required></label>
        <label>Password (10 characters or more) <input name="password" type="password" autocomplete="new-password" minlength="10" required></label>
        <button type="submit">Create account</button>
      </form>
    </div>`;
  document.getElementById("signin").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    try {
      await signIn(f.email.value, f.password.value);
      location.reload();
    } catch (err) {
      showError(err, e.target);
    }
  });
  document.getElementById("register").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    try {
      await api("/customers", { method: "POST", auth: false, body: { email: f.email.value, password: f.password.value, first_name: f.first_name.value || null } });
      await signIn(f.email.value, f.password.value);
      location.reload();
    } catch (err) {
      showError(err, e.target);
    }
  });
}

async function history(main) {
  const [me, orders] = await Promise.all([api("/customers/me"), api("/orders?limit=50")]);
  main.innerHTML = `
    <h1>Hello ${esc(me.first_name || me.email)}</h1>
    <button type="button" id="signout">Sign out</button>
    <h2>Your orders</h2>
    ${orders.data.length ? `<table class="lines" id="orders">
      <thead><tr><th scope="col">Order</th><th scope="col">Placed</th><th scope="col">Status</th><th scope="col">Total</th></tr></thead>
      <tbody>${orders.data
        .map((o) => `<tr><th scope="row"><a href="/demo/order.html?id=${o.id}">#${o.number}</a></th><td>${new Date(o.created_at).toLocaleDateString()}</td><td>${esc(o.status)} · ${esc(o.fulfillment_status)}</td><td>${money(o.total)}</td></tr>`)
        .join("")}</tbody></table>` : "<p>No orders yet.</p>"}`;
  document.getElementById("signout").addEventListener("click", async () => {
    await api("/auth/token", { method: "DELETE" }).catch(() => {});
    signOut();
    location.reload();
  });
}

async function main() {
  await header();
  const main = document.getElementById("main");
  if (signedIn()) await history(main);
  else signInForms(main);
}

main().catch((e) => showError(e));
