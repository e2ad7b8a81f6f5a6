/** Policies: the list in evaluation order; create, edit and delete in a dialog (`api/policies`). */
import { button, dialog, field, h, replace, select, table, toast, type PageContext, type PluginPage } from "@buntime/ui";
import { call } from "./api.ts";
import { evaluationOrder, fromDraft, summary, toDraft, type Draft, type Policy } from "./policy.ts";

/** The effect as a badge: green permit, red deny. */
export function effectBadge(effect: string): HTMLElement {
  return h("span", { class: `ui-badge ${effect === "permit" ? "ui-ok" : effect === "deny" ? "ui-bad" : "ui-muted"}`, "data-testid": "effect" }, effect);
}

/** The create/edit dialog; resolves with the saved policy, or null when cancelled. */
async function editor(existing: Policy | null, taken: Set<string>): Promise<Policy | null> {
  const d = toDraft(existing);
  const text = (name: keyof Draft, attrs: Record<string, unknown> = {}) => h("input", { name, value: d[name], autocomplete: "off", spellcheck: "false", ...attrs });
  const area = (name: keyof Draft) => {
    const t = h("textarea", { name, rows: 3, spellcheck: "false", class: "ui-mono" });
    t.value = d[name];
    return t;
  };
  const id = text("id", { readonly: existing ? true : false, placeholder: "reports-read" });
  const name = text("name", { placeholder: "Reports, read-only" });
  const description = text("description", { placeholder: "Also the decision's reason when this policy decides" });
  const effect = select("effect", [["permit", "permit (allow)"], ["deny", "deny (403)"]], d.effect);
  const priority = text("priority", { type: "number", step: 1, inputmode: "numeric" });
  const subjects = area("subjects");
  const resources = area("resources");
  const actions = area("actions");
  const conditions = area("conditions");
  let saved: Policy | null = null;
  const body = h("div", { class: "ui-policy-form" },
    field("ID", id, existing ? "The ID of a policy cannot change: create a new one instead." : "Unique; letters, digits and dashes read best."),
    field("Name", name),
    field("Description", description),
    h("div", { class: "ui-row" }, field("Effect", effect), field("Priority", priority, "Higher is evaluated first.")),
    field("Subjects (JSON list)", subjects, 'Who: {"id"}, {"role"} (* wildcard), {"group"}, {"claim": {"name", "value", "operator"}}. [] matches anyone.'),
    field("Resources (JSON list)", resources, 'What: {"app"}, {"path"} (* and ** match anything; {owner} one segment), {"type"}, {"owner": "self"}.'),
    field("Actions (JSON list)", actions, 'Which: {"method"} (GET, POST… or *), {"operation"}.'),
    field("Conditions (JSON list)", conditions, 'All must hold: {"type": "time", "after": "07:00", "before": "20:00", "dayOfWeek": [1,2,3,4,5]}, {"type": "ip", "allowlist": ["10.0.0.0/8"]}.'));
  const choice = await dialog(existing ? `Edit ${existing.id}` : "New policy", body, [
    { text: "Cancel", value: "cancel" },
    { text: existing ? "Save" : "Create", value: "save", variant: "primary" },
  ], {
    async onSubmit() {
      let policy: Policy;
      try {
        policy = fromDraft({
          id: id.value, name: name.value, description: description.value, effect: effect.value, priority: priority.value,
          subjects: subjects.value, resources: resources.value, actions: actions.value, conditions: conditions.value,
        });
      } catch (e) {
        return (e as Error).message;
      }
      if (!existing && taken.has(policy.id)) return `A policy with the ID ${policy.id} exists: edit it instead (saving would replace it).`;
      saved = await call<Policy>("api/policies", { method: "POST", json: policy });
    },
  });
  return choice === "save" ? saved : null;
}

async function remove(p: Policy): Promise<boolean> {
  const choice = await dialog(`Delete ${p.id}?`, h("p", {}, "Requests it permitted or denied are decided by the other policies (or the default effect) from now on."), [
    { text: "Cancel", value: "cancel" },
    { text: "Delete", value: "delete", variant: "danger" },
  ], {
    async onSubmit() {
      await call(`api/policies/${encodeURIComponent(p.id)}`, { method: "DELETE" });
    },
  });
  return choice === "delete";
}

export const policies: PluginPage = {
  path: "policies",
  title: "Policies",
  async render(cx: PageContext) {
    const list = h("div", {});
    const count = h("p", { class: "ui-muted", "data-testid": "count" });
    let rows: Policy[] = [];

    const cell = (text: string) => h("span", { class: "ui-cell" }, text);
    function paint() {
      const ordered = evaluationOrder(rows);
      count.textContent = `${rows.length} ${rows.length === 1 ? "policy" : "policies"}, in evaluation order (higher priority first; ties in the order added).`;
      replace(list, table<Policy>([
        { title: "Priority", cell: (p) => String(p.priority ?? 0) },
        { title: "Policy", cell: (p) => h("div", { "data-testid": "policy" }, h("code", {}, p.id), p.name ? h("div", { class: "ui-muted" }, p.name) : null) },
        { title: "Effect", cell: (p) => effectBadge(p.effect) },
        { title: "Subjects", cell: (p) => cell(summary("subjects", p.subjects as Array<Record<string, unknown>>)) },
        { title: "Resources", cell: (p) => cell(summary("resources", p.resources as Array<Record<string, unknown>>)) },
        { title: "Actions", cell: (p) => cell(summary("actions", p.actions as Array<Record<string, unknown>>)) },
        { title: "Conditions", cell: (p) => cell(summary("conditions", p.conditions as Array<Record<string, unknown>> | undefined)) },
        {
          title: "",
          cell: (p) => h("div", { class: "ui-row" },
            button("Edit", async () => { if (await editor(p, new Set())) { toast(`Policy ${p.id} saved.`, "ok"); void reload(); } }, { label: `Edit ${p.id}` }),
            button("Delete", async () => { if (await remove(p)) { toast(`Policy ${p.id} deleted.`, "ok"); void reload(); } }, { variant: "danger", label: `Delete ${p.id}` })),
        },
      ], ordered, "No policies: every request gets the default effect (deny, unless the manifest says otherwise)."));
    }

    async function reload() {
      rows = await call<Policy[]>("api/policies");
      paint();
    }

    const create = button("New policy", async () => {
      const p = await editor(null, new Set(rows.map((r) => r.id)));
      if (p) {
        toast(`Policy ${p.id} created.`, "ok");
        await reload();
      }
    }, { variant: "primary" });
    await reload();
    void cx;
    return h("div", {}, h("h1", {}, "Policies"),
      h("div", { class: "ui-toolbar" }, create, button("Refresh", () => void reload().catch((e) => toast((e as Error).message, "error")), { icon: "refresh-cw" })),
      count, list);
  },
};
