/** Entries: list by prefix (paged), create, edit (with an optimistic versionstamp check) and delete. */
import { button, dialog, field, h, replace, request, table, toast, type PageContext, type PluginPage } from "@buntime/ui";
import { formatKey, parseKey, type Entry, type Key } from "../keys.ts";

const PAGE_SIZE = 50;

interface Page {
  entries: Entry[];
  cursor: string | null;
  hasMore: boolean;
}

/** A value's one-line preview; the editor shows it whole. */
function preview(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > 160 ? `${text.slice(0, 160)}…` : text;
}

/** Sets (or creates) one entry with an atomic commit guarded by `versionstamp` (null: must not exist). */
async function save(key: Key, value: unknown, versionstamp: string | null, expiresIn?: number): Promise<string | null> {
  const res = await request<{ ok: boolean }>("api/atomic", {
    method: "POST",
    json: { checks: [{ key, versionstamp }], mutations: [{ type: "set", key, value, ...(expiresIn ? { expiresIn } : {}) }] },
  });
  if (res.ok) return null;
  return versionstamp === null
    ? `An entry with the key ${formatKey(key)} already exists: edit it instead.`
    : `The entry ${formatKey(key)} changed (or was deleted) since you opened it. Close this dialog and list again to see it.`;
}

/** A new key's starting text under `prefix` (`users/`), when the prefix reads as a path. */
function startOf(prefix: Key): string {
  const text = formatKey(prefix);
  return prefix.length && !text.startsWith("[") ? `${text}/` : "";
}

/** The create/edit dialog; resolves true when something was saved. */
async function editor(entry: Entry | null, prefix: Key): Promise<boolean> {
  const keyInput = h("input", { name: "key", autocomplete: "off", spellcheck: "false", value: entry ? formatKey(entry.key) : startOf(prefix) });
  const valueInput = h("textarea", { name: "value", rows: 8, spellcheck: "false" });
  valueInput.value = entry ? JSON.stringify(entry.value, null, 2) : "";
  const ttl = h("input", { name: "expires", type: "number", min: 1, step: 1, inputmode: "numeric" });
  if (entry) keyInput.readOnly = true;
  const body = h("div", {},
    field("Key", keyInput, entry ? "The key of an entry cannot change: create a new entry instead." : "A path (users/42: whole numbers become numbers) or a JSON array."),
    field("Value (JSON)", valueInput, "Any JSON document: \"text\", 42, {\"name\": \"Ada\"}…"),
    field("Expires in (seconds)", ttl, "Empty: never expires."));
  const choice = await dialog(entry ? `Edit ${formatKey(entry.key)}` : "New entry", body, [
    { text: "Cancel", value: "cancel" },
    { text: entry ? "Save" : "Create", value: "save", variant: "primary" },
  ], {
    async onSubmit() {
      let key: Key;
      let value: unknown;
      try {
        key = entry ? entry.key : parseKey(keyInput.value);
      } catch (e) {
        return (e as Error).message;
      }
      try {
        value = JSON.parse(valueInput.value);
      } catch (e) {
        return `The value is not valid JSON: ${(e as Error).message}. Text needs quotes: "like this".`;
      }
      const seconds = ttl.value ? Number(ttl.value) : undefined;
      if (seconds !== undefined && !(seconds > 0)) return "Expires in must be a positive number of seconds.";
      return save(key, value, entry ? entry.versionstamp : null, seconds ? seconds * 1000 : undefined);
    },
  });
  return choice === "save";
}

async function remove(entry: Entry): Promise<boolean> {
  const choice = await dialog(`Delete ${formatKey(entry.key)}?`, h("p", {}, "Only this entry is deleted; entries under it stay."), [
    { text: "Cancel", value: "cancel" },
    { text: "Delete", value: "delete", variant: "danger" },
  ], {
    async onSubmit() {
      await request("api/atomic", { method: "POST", json: { mutations: [{ type: "delete", key: entry.key }] } });
    },
  });
  return choice === "delete";
}

export const entries: PluginPage = {
  path: "entries",
  title: "Entries",
  async render(cx: PageContext) {
    const prefixText = cx.params.get("prefix") ?? "";
    const prefix = parseKey(prefixText, { allowEmpty: true });
    const input = h("input", { name: "prefix", type: "search", value: prefixText, placeholder: "users or [\"users\", 42]", autocomplete: "off", spellcheck: "false" });
    const list = h("div", {});
    const count = h("span", { "data-testid": "count" }, "…");
    const noun = h("span", {}, " entries");
    const rows: Entry[] = [];
    let cursor: string | null = null;

    const refresh = () => cx.navigate(`entries${input.value.trim() ? `?prefix=${encodeURIComponent(input.value.trim())}` : ""}`);
    const form = h("form", { class: "ui-toolbar", role: "search", onsubmit: (ev: Event) => { ev.preventDefault(); refresh(); } },
      field("Prefix", input, "Lists the entries under it (all entries when empty)."),
      button("List", () => {}, { type: "submit", icon: "search" }),
      button("New entry", async () => { if (await editor(null, prefix)) { toast("Entry created.", "ok"); void reload(); } }, { variant: "primary" }));

    const more = button("Load more", () => void load(), { icon: "refresh-cw" });
    more.hidden = true;

    function paint() {
      replace(list, table([
        { title: "Key", cell: (e: Entry) => h("code", { "data-testid": "key" }, formatKey(e.key)) },
        { title: "Value", cell: (e: Entry) => h("code", { class: "ui-cell", "data-testid": "value" }, preview(e.value)) },
        { title: "Versionstamp", cell: (e: Entry) => h("code", { class: "ui-muted" }, e.versionstamp ?? "") },
        {
          title: "Actions",
          cell: (e: Entry) => h("div", { class: "ui-row" },
            button("Edit", async () => { if (await editor(e, prefix)) { toast("Entry saved.", "ok"); void reload(); } }, { label: `Edit ${formatKey(e.key)}` }),
            button("Delete", async () => { if (await remove(e)) { toast("Entry deleted.", "ok"); void reload(); } }, { variant: "danger", label: `Delete ${formatKey(e.key)}` })),
        },
      ], rows, prefix.length ? `No entries under ${formatKey(prefix)}.` : "No entries yet: create one."));
    }

    async function load() {
      const page = await request<Page>("api/keys/paginate", { method: "POST", json: { prefix, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } });
      rows.push(...page.entries);
      cursor = page.cursor;
      more.hidden = !page.hasMore;
      paint();
    }

    async function reload() {
      rows.length = 0;
      cursor = null;
      const [{ count: n }] = await Promise.all([request<{ count: number }>("api/keys/count", { method: "POST", json: { prefix } }), load()]);
      count.textContent = String(n);
      noun.textContent = n === 1 ? " entry" : " entries";
    }

    await reload();
    return h("div", {},
      h("h1", {}, "Entries"),
      form,
      h("p", { class: "ui-muted" }, count, noun, prefix.length ? ` under ${formatKey(prefix)}` : " in all"),
      list, more);
  },
};
