/** API keys: list, create with a role and an expiry (the secret shown once), revoke. */
import { button, dialog, field, h, replace, select, table, toast } from "@buntime/ui";
import { api } from "../api.ts";
import { list, when, type Page } from "./common.ts";

interface Key {
  id: number | string;
  name: string;
  keyPrefix: string;
  role: string;
  permissions: string[];
  /** Unix seconds. */
  createdAt?: number;
  expiresAt?: number;
  lastUsedAt?: number;
  description?: string;
}

interface Meta {
  permissions: string[];
  roles: string[];
}

interface Created {
  id: number | string;
  key: string;
  keyPrefix: string;
  name: string;
  role: string;
}

const EXPIRIES: Array<[string, string]> = [["never", "Never"], ["7d", "7 days"], ["30d", "30 days"], ["90d", "90 days"], ["1y", "1 year"]];

export const keys: Page = {
  title: "API keys",
  async render() {
    const [{ data: listed }, { data: meta }] = await Promise.all([api<{ keys: Key[] }>("/keys"), api<Meta>("/keys/meta")]);
    const listing = h("div", {});
    const refresh = async () => replace(listing, keyTable((await api<{ keys: Key[] }>("/keys")).data.keys));
    const keyTable = (rows: Key[]) => table<Key>([
      { title: "Name", cell: (k) => h("div", {}, h("strong", {}, k.name), k.description ? h("div", { class: "ui-muted" }, k.description) : null) },
      { title: "Prefix", cell: (k) => h("code", {}, k.keyPrefix) },
      { title: "Role", cell: (k) => h("span", { class: "ui-badge", title: list(k.permissions) }, k.role) },
      { title: "Created", cell: (k) => when(k.createdAt) },
      { title: "Expires", cell: (k) => (k.expiresAt ? when(k.expiresAt) : "Never") },
      { title: "Last used", cell: (k) => (k.lastUsedAt ? when(k.lastUsedAt) : "Never") },
      { title: "", cell: (k) => button("Revoke", () => revoke(k), { variant: "danger", title: `Revoke ${k.name}` }) },
    ], rows, "No API key yet.");

    const revoke = async (k: Key) => {
      const choice = await dialog(`Revoke ${k.name}?`, h("p", {}, `Requests with ${k.keyPrefix}… are refused from now on. This cannot be undone.`), [
        { text: "Cancel", value: "" },
        { text: "Revoke", value: "revoke", variant: "danger" },
      ]);
      if (choice !== "revoke") return;
      try {
        await api(`/keys/${encodeURIComponent(String(k.id))}`, { method: "DELETE" });
        await refresh();
        toast(`Revoked ${k.name}.`, "ok");
      } catch (e) {
        toast(e instanceof Error ? e.message : String(e), "error");
      }
    };

    const name = h("input", { name: "name", required: true, maxlength: 64, autocomplete: "off" });
    const role = select("role", meta.roles.map((r) => [r, r]), "viewer");
    const expires = select("expiresIn", EXPIRIES, "30d");
    const description = h("input", { name: "description", maxlength: 500, autocomplete: "off" });
    const perms = h("fieldset", { class: "cp-perms", hidden: true }, h("legend", {}, "Permissions (custom role)"),
      ...meta.permissions.map((p) => h("label", {}, h("input", { type: "checkbox", name: "permissions", value: p }), ` ${p}`)));
    role.addEventListener("change", () => (perms.hidden = role.value !== "custom"));
    const error = h("div", { "aria-live": "polite" });
    const form = h("form", { class: "ui-card", "aria-label": "Create an API key" },
      h("h2", {}, "Create a key"),
      h("div", { class: "ui-row" }, field("Name", name), field("Role", role), field("Expires", expires)),
      field("Description (optional)", description),
      perms, error,
      h("div", { class: "ui-actions" }, button("Create key", () => {}, { variant: "primary", type: "submit", icon: "key-round" })));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      replace(error);
      const permissions = Array.from(perms.querySelectorAll<HTMLInputElement>("input:checked")).map((i) => i.value);
      try {
        const { data } = await api<{ data: Created }>("/keys", {
          method: "POST",
          json: { name: name.value, role: role.value, expiresIn: expires.value, description: description.value || undefined, permissions: role.value === "custom" ? permissions : undefined },
        });
        form.reset();
        perms.hidden = true;
        await refresh();
        const secret = h("input", { class: "ui-input ui-mono", readonly: true, value: data.data.key, "data-testid": "new-key", "aria-label": "The new key" });
        const copy = button("Copy", async () => {
          await navigator.clipboard?.writeText(data.data.key).catch(() => {});
          secret.select();
        }, { title: "Copy the key" });
        await dialog(`Key ${data.data.name} created`, h("div", {},
          h("p", {}, "Copy it now: it is shown only this once (the runtime keeps only its hash)."),
          h("div", { class: "cp-secret" }, secret, copy)), [{ text: "Done", value: "done", variant: "primary" }]);
      } catch (e) {
        replace(error, h("div", { class: "ui-alert", role: "alert" }, e instanceof Error ? e.message : String(e)));
      }
    });
    replace(listing, keyTable(listed.keys));
    return h("div", {}, h("h1", {}, "API keys"), form, listing);
  },
};
