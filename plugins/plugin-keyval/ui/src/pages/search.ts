/** Search: the full-text indexes (create, drop) and queries against one. */
import { button, field, h, replace, request, table, toast, type PluginPage } from "@buntime/ui";
import { formatKey, parseKey, prefixQuery, type Entry, type Key } from "../keys.ts";

interface Index { prefix: Key; fields: string[]; tokenize?: string; tableName: string }

export const search: PluginPage = {
  path: "search",
  title: "Search",
  async render() {
    const indexes = h("div", {});
    const results = h("div", {});
    async function paint() {
      const list = await request<Index[]>("api/indexes");
      replace(indexes, table([
        { title: "Prefix", cell: (i: Index) => h("code", {}, formatKey(i.prefix)) },
        { title: "Fields", cell: (i: Index) => i.fields.join(", ") },
        { title: "Tokenizer", cell: (i: Index) => i.tokenize ?? "unicode61" },
        { title: "Actions", cell: (i: Index) => button("Drop", async () => {
          await request(`api/indexes?prefix=${encodeURIComponent(prefixQuery(i.prefix))}`, { method: "DELETE" });
          toast("Index dropped.", "ok");
          await paint();
        }, { variant: "danger" }) },
      ], list, "No indexes yet."));
    }
    const prefix = h("input", { name: "prefix", required: true, placeholder: "products" });
    const fields = h("input", { name: "fields", required: true, placeholder: "name, description" });
    const create = h("form", { class: "ui-toolbar", onsubmit: async (ev: Event) => {
      ev.preventDefault();
      await request("api/indexes", { method: "POST", json: { prefix: parseKey(prefix.value), options: { fields: fields.value.split(",").map((f) => f.trim()).filter(Boolean) } } });
      toast("Index created.", "ok");
      await paint();
    } }, field("Prefix", prefix), field("Fields (comma-separated)", fields), button("Create index", () => {}, { type: "submit" }));
    const qPrefix = h("input", { name: "qprefix", required: true, placeholder: "products" });
    const q = h("input", { name: "query", type: "search", required: true, placeholder: "wireless OR bluetooth" });
    const run = h("form", { class: "ui-toolbar", role: "search", onsubmit: async (ev: Event) => {
      ev.preventDefault();
      try {
        const hits = await request<Entry[]>("api/search", { method: "POST", json: { prefix: parseKey(qPrefix.value), query: q.value, options: { limit: 100 } } });
        replace(results, table([
          { title: "Key", cell: (e: Entry) => h("code", {}, formatKey(e.key)) },
          { title: "Value", cell: (e: Entry) => h("code", { class: "ui-cell" }, JSON.stringify(e.value)) },
        ], hits, "Nothing matches."));
      } catch (e) {
        replace(results, h("div", { class: "ui-alert", role: "alert" }, (e as Error).message));
      }
    } }, field("Index prefix", qPrefix), field("Query", q), button("Search", () => {}, { type: "submit", variant: "primary", icon: "search" }));
    await paint();
    return h("div", {}, h("h1", {}, "Search"), h("h2", {}, "Indexes"), indexes, create, h("h2", {}, "Query"), run, results);
  },
};
