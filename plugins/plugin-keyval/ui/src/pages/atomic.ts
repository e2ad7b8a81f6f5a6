/** Atomic: compose checks and mutations as JSON and commit them in one step. */
import { button, field, h, json, replace, request, type PluginPage } from "@buntime/ui";

const TEMPLATE = {
  checks: [{ key: ["accounts", "alice"], versionstamp: null }],
  mutations: [
    { type: "set", key: ["accounts", "alice"], value: { balance: 100 } },
    { type: "sum", key: ["stats", "accounts"], value: 1 },
  ],
};

export const atomic: PluginPage = {
  path: "atomic",
  title: "Atomic",
  render() {
    const body = h("textarea", { name: "commit", rows: 14, spellcheck: "false" });
    body.value = JSON.stringify(TEMPLATE, null, 2);
    const out = h("div", { role: "status" });
    const form = h("form", { onsubmit: async (ev: Event) => {
      ev.preventDefault();
      let commit: unknown;
      try {
        commit = JSON.parse(body.value);
      } catch (e) {
        replace(out, h("div", { class: "ui-alert", role: "alert" }, `Not valid JSON: ${(e as Error).message}`));
        return;
      }
      try {
        const res = await request<{ ok: boolean }>("api/atomic", { method: "POST", json: commit });
        replace(out, h("div", { class: res.ok ? "ui-alert ui-alert-ok" : "ui-alert" }, res.ok ? "Committed." : "Not committed: a check failed (a versionstamp no longer matches)."), json(res));
      } catch (e) {
        replace(out, h("div", { class: "ui-alert", role: "alert" }, (e as Error).message));
      }
    } },
      field("Commit", body, "checks: [{key, versionstamp | null}] must all hold; mutations: set, delete, sum, max, min, append, prepend — all or nothing."),
      h("div", { class: "ui-actions" }, button("Commit", () => {}, { type: "submit", variant: "primary" })));
    return h("div", {}, h("h1", {}, "Atomic"), form, out);
  },
};
