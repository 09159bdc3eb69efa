// Keel's browser tests: a shopper, a staff member and a read-only staff member, in headless
// Chromium (Debian's, driven by playwright-core: no browser download), against a running Keel.
//
// The harness (crates/keel/tests/browser.rs) starts Keel with the demo catalog and an SMTP sink,
// creates the two staff members, and runs this file with:
//   KEEL_URL                    where Keel serves
//   STAFF_EMAIL, STAFF_PASSWORD an owner
//   READER_EMAIL, READER_PASSWORD a read_only staff member
//   ARTIFACTS                   where screenshots go (default e2e/artifacts)
//   CHROMIUM                    the browser (default /usr/bin/chromium)
//   README_SHOTS                a directory for the README's three pictures (optional)
// It prints `MAIL-EXPECT <email> <order number>` for the harness to find in the sink.
//
// The scenarios run in order: the staff member works on the order the shopper placed.

import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.KEEL_URL || "http://127.0.0.1:8080";
const ARTIFACTS = process.env.ARTIFACTS || new URL("./artifacts", import.meta.url).pathname;
const SHOPPER = `shopper-${Date.now()}@example.com`;
mkdirSync(ARTIFACTS, { recursive: true });

/** Every section of the panel. */
const SECTIONS = ["", "products", "catalog", "inventory", "orders", "customers", "promotions", "settings", "access", "webhooks", "jobs"];
/** What a button that changes something says. */
const CHANGES = /Save|Create|Add|Delete|Revoke|Retry|Discard|Invite|Pause|Activate|Enable|Disable|Capture|Cancel|Refund|Mark delivered|Receive|New product|Archive|^Set$/;

let browser;
const shared = { order: null };

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
});

after(async () => {
  await browser?.close();
});

/** A fresh browser profile whose page fails the test on any script error or CSP violation. */
async function newPage(viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport, baseURL: BASE });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.problems = problems;
  return page;
}

/** A full-page screenshot among the artefacts; with README_SHOTS set, also the visible part
 * there (how the README's pictures are refreshed). */
async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const readme = { "admin-product-editor": "#h-variants", "admin-order-detail": "h1", "storefront-product": "h1" };
  if (process.env.README_SHOTS && readme[name]) {
    await page.evaluate((sel) => window.scrollTo(0, document.querySelector(sel).getBoundingClientRect().top + window.scrollY - 80), readme[name]);
    await page.screenshot({ path: join(process.env.README_SHOTS, `${name}.png`) });
  }
}

/** At phone width (390 px) the page needs no sideways scrolling; a screenshot of it is kept. */
async function fitsPhone(page, name) {
  const size = page.viewportSize();
  await page.setViewportSize({ width: 390, height: 844 });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  await shot(page, `${name}-phone`);
  await page.setViewportSize(size);
  assert.ok(width <= 390, `${name} is ${width} px wide at phone width`);
}

/** A fresh page of the admin panel signed in with the password form as `who` (STAFF or READER). */
async function signedInPanel(who) {
  const page = await newPage();
  await page.goto("/admin/");
  await page.getByLabel("Email").fill(process.env[`${who}_EMAIL`]);
  await page.getByLabel("Password").fill(process.env[`${who}_PASSWORD`]);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  return page;
}

/** The minor units of a displayed price such as "€25.00" or "$1,234.50". */
const minor = (text) => Math.round(Number(text.replace(/[^0-9.]/g, "")) * 100);

test("a shopper finds a product by search, buys two variants with the test card, and sees the confirmation", async () => {
  const page = await newPage();
  await page.goto("/demo/");
  await page.getByRole("heading", { name: "New in" }).waitFor();
  await shot(page, "storefront-home");

  // Search with suggestions: typing shows the product, the results page lists it.
  const search = page.getByRole("combobox", { name: "Search products" });
  await search.fill("classic");
  await page.getByRole("option", { name: "Classic Tee" }).waitFor();
  await search.press("Enter");
  await page.waitForURL(/search\.html\?q=classic/);
  await page.getByRole("heading", { name: /Results for/ }).waitFor();
  assert.ok(Number(await page.locator("#total").textContent()) >= 1);
  await shot(page, "storefront-search");
  await page.getByRole("link", { name: /Classic Tee/ }).first().click();

  // The product page: pick two sizes, add each.
  await page.getByRole("heading", { level: 1, name: "Classic Tee" }).waitFor();
  await page.locator("#stock").filter({ hasText: "In stock" }).waitFor();
  await shot(page, "storefront-product");
  await fitsPhone(page, "storefront-product");
  const sizes = page.getByRole("group", { name: "Size" });
  await sizes.getByText("S", { exact: true }).click();
  await page.getByRole("button", { name: "Add to cart" }).click();
  await page.getByRole("status").filter({ hasText: "Added" }).waitFor();
  await sizes.getByText("M", { exact: true }).click();
  await page.getByRole("button", { name: "Add to cart" }).click();
  await page.locator("#cart-count").filter({ hasText: "2" }).waitFor();

  // The cart: two lines.
  await page.getByRole("link", { name: /Cart/ }).click();
  await page.getByRole("heading", { name: "Your cart" }).waitFor();
  assert.equal(await page.locator("table.lines tbody tr").count(), 2);
  await shot(page, "storefront-cart");
  await fitsPhone(page, "storefront-cart");
  await page.getByRole("link", { name: "Checkout" }).click();

  // Checkout with the test card.
  await page.getByRole("heading", { name: "Checkout" }).waitFor();
  const region = await page.evaluate(async () => {
    const id = localStorage.getItem("keel.region");
    const { data } = await (await fetch("/v1/store/regions")).json();
    return data.find((r) => r.id === id) || data[0];
  });
  await page.getByLabel("Email").fill(SHOPPER);
  await page.getByLabel("First name").fill("Ada");
  await page.getByLabel("Last name").fill("Lovelace");
  await page.getByLabel("Address").fill("1 Analytical Way");
  await page.getByLabel("City").fill("London");
  await page.getByLabel("Postal code").fill("10115");
  await page.getByLabel("Country code").fill(region.countries[0]);
  await page.getByRole("button", { name: "Continue to shipping" }).click();
  await page.getByRole("group", { name: "Shipping", exact: true }).getByRole("radio").first().waitFor();
  await page.getByLabel(/Visa 4242/).check();
  await shot(page, "storefront-checkout");
  await page.getByRole("button", { name: "Pay and place order" }).click();

  // The confirmation.
  await page.waitForURL(/order\.html\?id=order_/);
  const heading = await page.getByRole("heading", { level: 1 }).filter({ hasText: "order #" }).textContent();
  const number = Number(heading.match(/#(\d+)/)[1]);
  await page.locator("#confirmation").filter({ hasText: SHOPPER }).waitFor();
  assert.equal(await page.locator("table.lines tbody tr").count(), 2);
  await shot(page, "storefront-confirmation");
  shared.order = { number, id: new URL(page.url()).searchParams.get("id"), email: SHOPPER, currency: region.currency };

  // An account: register, signed in at once, an empty order history (the order above was a guest's).
  await page.getByRole("link", { name: "Sign in" }).click();
  const register = page.getByRole("form", { name: "Create an account" });
  await register.getByLabel("First name").fill("Grace");
  await register.getByLabel("Email").fill(`member-${SHOPPER}`);
  await register.getByLabel(/Password/).fill("correct horse battery");
  await register.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Hello Grace" }).waitFor();
  await page.getByText("No orders yet.").waitFor();
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  console.log(`MAIL-EXPECT ${SHOPPER} ${number}`);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("a staff member edits a price, sees it on the storefront, fulfils the order and refunds one line", async () => {
  assert.ok(shared.order, "the shopper's order");
  const page = await signedInPanel("STAFF");
  await shot(page, "admin-dashboard");

  // Products: find the tee, change its M price in the shopper's currency.
  await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Products" }).click();
  await page.getByLabel("Search").fill("Classic Tee");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.getByRole("link", { name: "Classic Tee" }).click();
  await page.getByRole("heading", { level: 1, name: "Classic Tee" }).waitFor();
  const variant = page.getByRole("row", { name: /^Variant M \// }).first();
  const price = variant.getByRole("textbox", { name: new RegExp(`^Price ${shared.order.currency} of`) });
  const next = ((minor(await price.inputValue()) + 123) / 100).toFixed(2);
  await price.fill(next);
  await shot(page, "admin-product-editor");
  await variant.getByRole("button", { name: "Save" }).click();
  await page.getByRole("status").filter({ hasText: "Variant saved" }).waitFor();

  // The storefront shows it at once (the change invalidated the cached product).
  const shop = await page.context().newPage();
  await shop.goto("/demo/product.html?handle=classic-tee");
  await shop.getByRole("group", { name: "Size" }).getByText("M", { exact: true }).click();
  await shop.locator("#price").filter({ hasText: /\d/ }).waitFor();
  assert.equal(minor(await shop.locator("#price").textContent()), minor(next));
  await shop.close();

  // The order: capture if only authorised, ship everything with tracking, refund one line.
  await page.goto(`/admin/#/orders/${shared.order.id}`);
  await page.getByRole("heading", { name: `Order #${shared.order.number}` }).waitFor();
  if (await page.getByRole("button", { name: "Capture payment" }).count()) {
    await page.getByRole("button", { name: "Capture payment" }).click();
    await page.getByRole("status").filter({ hasText: "Payment captured" }).waitFor();
  }
  const fulfil = page.getByRole("group", { name: "Fulfil" });
  const units = await fulfil.getByRole("spinbutton").all();
  assert.equal(units.length, 2, "both lines can ship");
  for (const input of units) await input.fill(await input.getAttribute("max"));
  for (const input of units) assert.equal(await input.inputValue(), "1");
  await fulfil.getByLabel("Carrier").fill("DHL");
  await fulfil.getByLabel("Tracking number").fill("JD0146000012345");
  await page.getByRole("button", { name: "Create shipment" }).click();
  await page.getByRole("status").filter({ hasText: "Shipment created" }).waitFor();
  await page.getByRole("table", { name: "Shipments" }).getByText("JD0146000012345").waitFor();
  await page.locator(".page-head .badge", { hasText: /^fulfilled$/ }).waitFor();
  const refund = page.getByRole("group", { name: "Refund" });
  await refund.getByRole("spinbutton").first().fill("1");
  await refund.getByLabel("Reason").fill("damaged");
  await page.getByRole("button", { name: "Refund", exact: true }).click();
  await page.getByRole("status").filter({ hasText: "Refund issued" }).waitFor();
  await page.locator("ol.timeline").filter({ hasText: "refund.created" }).waitFor();
  assert.ok(minor(await page.locator("#refunded").textContent()) > 0, "the refunded total shows the refund");
  await shot(page, "admin-order-detail");
  await fitsPhone(page, "admin-order-detail");

  // Every section opens without an error.
  for (const section of SECTIONS) {
    await page.goto(`/admin/#/${section}`);
    await page.locator(`#nav a[data-section="${section}"][aria-current="page"]`).waitFor();
    await page.locator("#main h1").first().waitFor();
    assert.deepEqual(await page.locator("#main .error, #notice.error:visible").allTextContents(), [], `#/${section} shows an error`);
  }

  // The access cookie ends (15 minutes in): the dashboard's four calls, all refused at once,
  // share one refresh (a second use of the refresh token would end the session).
  await page.goto("/admin/#/orders");
  await page.locator(`#nav a[data-section="orders"][aria-current="page"]`).waitFor();
  await page.context().clearCookies({ name: "keel_admin" });
  await page.goto("/admin/#/");
  await page.locator("#cards").getByText("Orders today").waitFor();
  assert.deepEqual(await page.locator("#main .error, #notice.error:visible").allTextContents(), []);
  await page.goto("/admin/#/jobs");
  await page.getByRole("heading", { name: "Jobs" }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Sign in" }).count(), 0, "still signed in");

  // At phone width the navigation folds behind a menu button.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole("button", { name: "Menu" }).click();
  await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Orders" }).waitFor();
  await shot(page, "admin-phone");
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("a read-only staff member sees no way to change anything, and the API refuses anyway", async () => {
  const page = await signedInPanel("READER");

  await page.goto("/admin/#/products?q=Classic%20Tee");
  await page.getByRole("heading", { name: "Products" }).waitFor();
  assert.equal(await page.getByRole("link", { name: "New product" }).count(), 0);
  await page.getByRole("link", { name: "Classic Tee" }).first().click();
  await page.getByRole("heading", { level: 1, name: "Classic Tee" }).waitFor();
  assert.equal(await page.getByRole("button", { name: /Save|Archive|Add variant/ }).count(), 0);
  assert.ok(await page.getByRole("textbox", { name: /^Price .* of / }).first().isDisabled(), "prices are read-only");
  assert.ok(await page.getByRole("textbox", { name: "Title", exact: true }).isDisabled(), "fields are read-only");

  // No section offers a change.
  for (const section of SECTIONS) {
    await page.goto(`/admin/#/${section}`);
    await page.locator(`#nav a[data-section="${section}"][aria-current="page"]`).waitFor();
    await page.locator("#main h1").first().waitFor();
    assert.deepEqual(await page.locator("#main .error").allTextContents(), [], `#/${section} shows an error`);
    const offered = await page.locator("#main button, #main a.button").filter({ hasText: CHANGES }).allTextContents();
    assert.deepEqual(offered, [], `#/${section} offers changes to a read-only member`);
  }

  await page.goto(`/admin/#/orders/${shared.order.id}`);
  await page.getByRole("heading", { name: `Order #${shared.order.number}` }).waitFor();
  assert.equal(await page.getByRole("heading", { name: "Actions" }).count(), 0);
  assert.equal(await page.getByRole("button").filter({ hasText: /Capture|Cancel|Refund|Create shipment|Mark delivered/ }).count(), 0);
  await shot(page, "admin-read-only-order");

  // The same session straight at the API: the change is refused with 403.
  const status = await page.evaluate(async (id) => {
    const { csrf_token } = await (await fetch("/admin/session")).json();
    const product = (await (await fetch("/v1/admin/products?q=Classic%20Tee")).json()).data[0];
    const res = await fetch(`/v1/admin/products/${product.id}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json", "X-Keel-CSRF": csrf_token },
      body: JSON.stringify({ title: "Hijacked" }),
    });
    return [res.status, (await res.json()).code, id];
  }, shared.order.id);
  assert.deepEqual(status.slice(0, 2), [403, "forbidden"]);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});
