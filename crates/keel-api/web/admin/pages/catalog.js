// The catalog's structure: the category tree and the collections, created, renamed, removed.
import { all, api } from "../api.js";
import { act, esc, html, raw, table, values } from "../ui.js";

export async function render(ctx, main) {
  const write = ctx.can("products:write");
  const [categories, collections] = await Promise.all([all("/categories"), all("/collections")]);
  const byId = new Map(categories.map((c) => [c.id, c]));
  const path = (c, depth = 0) => (c.parent_id && byId.has(c.parent_id) && depth < 20 ? `${path(byId.get(c.parent_id), depth + 1)} › ${c.name}` : c.name);
  const sorted = [...categories].sort((a, b) => path(a).localeCompare(path(b)));
  const remove = (kind, item) => (write ? html`<button type="button" class="delete danger" data-kind="${kind}" data-id="${item.id}">Delete</button>` : "");
  main.innerHTML = html`
    <h1>Categories and collections</h1>
    <h2>Categories</h2>
    ${raw(table("Categories", [
      ["Category", (c) => esc(path(c))],
      ["Handle", (c) => esc(c.handle)],
      ["Products", (c) => html`<a href="#/products?category=${encodeURIComponent(c.handle)}">list</a>`],
      ["", (c) => remove("categories", c)],
    ], sorted))}
    ${raw(write ? html`<form id="new-category" class="inline"><label>New category <input name="name" required></label>
      <label>Inside <select name="parent_id"><option value="">(top level)</option>${raw(sorted.map((c) => html`<option value="${c.id}">${path(c)}</option>`).join(""))}</select></label>
      <button type="submit">Add category</button></form>` : "")}
    <h2>Collections</h2>
    ${raw(table("Collections", [
      ["Collection", (c) => esc(c.title)],
      ["Handle", (c) => esc(c.handle)],
      ["Products", (c) => html`<a href="#/products?collection=${encodeURIComponent(c.handle)}">list</a>`],
      ["", (c) => remove("collections", c)],
    ], collections))}
    ${raw(write ? `<form id="new-collection" class="inline"><label>New collection <input name="title" required></label><button type="submit">Add collection</button></form>` : "")}`;
  document.getElementById("new-category")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = values(e.target);
    if (await act(() => api("/categories", { method: "POST", body: { name: v.name, parent_id: v.parent_id || null } }), "Category added")) render(ctx, main);
  });
  document.getElementById("new-collection")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await act(() => api("/collections", { method: "POST", body: { title: values(e.target).title } }), "Collection added")) render(ctx, main);
  });
  main.querySelectorAll(".delete").forEach((b) =>
    b.addEventListener("click", async () => confirm("Delete it? Products stay; they leave it.") && (await act(() => api(`/${b.dataset.kind}/${b.dataset.id}`, { method: "DELETE" }), "Deleted")) !== undefined && render(ctx, main)),
  );
}
