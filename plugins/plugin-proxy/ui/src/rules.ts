/**
 * The rules table: static rules (the manifest's, read-only) first, then the dynamic ones in the
 * order they are tried, each with an enable switch, Edit, Delete and Move up/down buttons (and
 * drag and drop for a mouse); a dialog creates and edits a rule, checking it before sending it.
 */
import { button, dialog, field, h, replace, toast, url, type PluginPage } from "@buntime/ui";
import { call } from "./api.ts";
import { dropped, fromForm, moved, ruleLabel, toForm, type Rule, type RuleForm } from "./rule.ts";

/** The create/edit dialog; resolves with the saved rule, or null when cancelled. */
async function editor(rule: Rule | null): Promise<Rule | null> {
  const start = toForm(rule);
  const text = (name: keyof RuleForm, attrs: Record<string, unknown> = {}) =>
    h("input", { name, value: start[name] as string, autocomplete: "off", spellcheck: "false", ...attrs });
  const inputs = {
    name: text("name", { placeholder: "Backend API" }),
    pattern: text("pattern", { placeholder: "^/api/(.*)$", required: true }),
    target: text("target", { placeholder: "http://127.0.0.1:3000", required: true, inputmode: "url" }),
    rewrite: text("rewrite", { placeholder: "/$1" }),
    base: text("base", { placeholder: "/app" }),
    headers: h("textarea", { name: "headers", rows: 3, spellcheck: "false", placeholder: "x-api-key: secret" }),
    publicRoutes: h("textarea", { name: "publicRoutes", rows: 3, spellcheck: "false", placeholder: "/api/public/**" }),
  };
  inputs.headers.value = start.headers;
  inputs.publicRoutes.value = start.publicRoutes;
  const check = (name: keyof RuleForm, label: string, hint: string) => {
    const box = h("input", { type: "checkbox", name, checked: start[name] as boolean });
    return { box, el: h("label", { class: "pr-check" }, box, h("span", {}, h("strong", {}, label), h("small", { class: "ui-hint" }, hint))) };
  };
  const checks = {
    enabled: check("enabled", "Enabled", "Disabled rules never match."),
    changeOrigin: check("changeOrigin", "Change origin", "Send the target's host as Host (and Origin)."),
    ws: check("ws", "WebSockets", "Relay WebSocket upgrades to ws(s):// of the target."),
    relativePaths: check("relativePaths", "Relative paths in HTML", "Rewrite src=\"/x\" and href=\"/x\" to ./x."),
    secure: check("secure", "Verify TLS certificates", "For https and wss targets."),
  };
  const fields: Record<string, HTMLElement> = {
    name: field("Name", inputs.name, "A label for people (optional)."),
    pattern: field("Pattern", inputs.pattern, "A regular expression on the request path (no query); groups feed the rewrite."),
    target: field("Target", inputs.target, "The upstream origin: http(s):// or ws(s)://, optionally with a path prefix."),
    rewrite: field("Rewrite", inputs.rewrite, "The upstream path with $1…$n from the pattern; empty keeps the request's path."),
    headers: field("Headers", inputs.headers, "Set on the upstream request, one a line: name: value."),
    base: field("Base", inputs.base, "Injects <base href=\"{base}/\"> into proxied HTML (optional)."),
    publicRoutes: field("Public routes", inputs.publicRoutes, "Globs that need no sign-in with authn, one a line, or a JSON object by method."),
  };
  const body = h("form", { class: "pr-form", novalidate: true, onsubmit: (ev: Event) => ev.preventDefault() },
    h("div", { class: "ui-row" }, fields.name, fields.pattern),
    h("div", { class: "ui-row" }, fields.target, fields.rewrite),
    h("fieldset", { class: "pr-checks" }, h("legend", {}, "Options"), ...Object.values(checks).map((c) => c.el)),
    h("details", { open: Boolean(start.headers || start.base || start.publicRoutes) },
      h("summary", {}, "Headers, base and public routes"), fields.headers, fields.base, fields.publicRoutes));

  let saved: Rule | null = null;
  const choice = await dialog(rule ? `Edit ${ruleLabel(rule)}` : "New rule", body, [
    { text: "Cancel", value: "cancel" },
    { text: rule ? "Save" : "Create", value: "save", variant: "primary" },
  ], {
    async onSubmit() {
      const form: RuleForm = {
        name: inputs.name.value, pattern: inputs.pattern.value, target: inputs.target.value, rewrite: inputs.rewrite.value,
        headers: inputs.headers.value, base: inputs.base.value, publicRoutes: inputs.publicRoutes.value,
        enabled: checks.enabled.box.checked, changeOrigin: checks.changeOrigin.box.checked, ws: checks.ws.box.checked,
        relativePaths: checks.relativePaths.box.checked, secure: checks.secure.box.checked,
      };
      const result = fromForm(form);
      for (const el of Object.values(inputs)) el.removeAttribute("aria-invalid");
      if ("problems" in result) {
        for (const p of result.problems) inputs[p.field as keyof typeof inputs]?.setAttribute("aria-invalid", "true");
        inputs[result.problems[0]!.field as keyof typeof inputs]?.focus();
        return result.problems.map((p) => p.message).join(" ");
      }
      try {
        saved = rule
          ? await call<Rule>(`api/rules/${encodeURIComponent(rule.id)}`, { method: "PUT", json: result.body })
          : await call<Rule>("api/rules", { method: "POST", json: result.body });
      } catch (e) {
        const field = ((e as { body?: { field?: unknown } }).body?.field ?? "") as string;
        inputs[field as keyof typeof inputs]?.setAttribute("aria-invalid", "true");
        return `The runtime refused the rule: ${(e as Error).message}`;
      }
    },
  });
  return choice === "save" ? saved : null;
}

export const rules: PluginPage = {
  path: "",
  title: "Rules",
  async render() {
    let list = await call<Rule[]>("api/rules");
    const holder = h("div", {});
    const said = h("p", { class: "ui-visually-hidden", role: "status", "aria-live": "polite" });
    const count = h("p", { class: "ui-muted", "data-testid": "rule-count" });
    let dragging: string | null = null;

    async function reorder(ids: string[], focus?: { id: string; dir: "up" | "down" }) {
      try {
        list = await call<Rule[]>("api/rules/reorder", { method: "PUT", json: { ids } });
      } catch (e) {
        toast((e as Error).message, "error");
        list = await call<Rule[]>("api/rules");
      }
      paint();
      if (focus) {
        const rule = list.find((r) => r.id === focus.id);
        const position = list.filter((r) => !r.readonly).findIndex((r) => r.id === focus.id) + 1;
        if (rule) said.textContent = `${ruleLabel(rule)} is now rule ${position} of your rules.`;
        // Keep the keyboard where it was: the same button, or the other one at an end.
        const btn = holder.querySelector<HTMLButtonElement>(`[data-id="${CSS.escape(focus.id)}"] [data-move="${focus.dir}"]:not(:disabled)`)
          ?? holder.querySelector<HTMLButtonElement>(`[data-id="${CSS.escape(focus.id)}"] [data-move]:not(:disabled)`);
        btn?.focus();
      }
    }

    async function toggle(rule: Rule) {
      try {
        const next = await call<Rule>(`api/rules/${encodeURIComponent(rule.id)}/toggle`, { method: "PATCH" });
        list = list.map((r) => (r.id === next.id ? next : r));
        paint();
        holder.querySelector<HTMLButtonElement>(`[data-id="${CSS.escape(rule.id)}"] [role=switch]`)?.focus();
        toast(`${ruleLabel(next)} ${next.enabled ? "enabled" : "disabled"}.`, "ok");
      } catch (e) {
        toast((e as Error).message, "error");
      }
    }

    async function remove(rule: Rule) {
      const choice = await dialog(`Delete ${ruleLabel(rule)}?`, h("p", {}, "Requests matching ", h("code", {}, rule.pattern), " will no longer be proxied to ", h("code", {}, rule.target), "."), [
        { text: "Cancel", value: "cancel" },
        { text: "Delete", value: "delete", variant: "danger" },
      ], {
        async onSubmit() {
          await call(`api/rules/${encodeURIComponent(rule.id)}`, { method: "DELETE" });
        },
      });
      if (choice !== "delete") return;
      toast(`${ruleLabel(rule)} deleted.`, "ok");
      list = await call<Rule[]>("api/rules");
      paint();
    }

    function row(rule: Rule, position: number, dynamicIndex: number, dynamicCount: number): HTMLTableRowElement {
      const name = ruleLabel(rule);
      const move = (dir: "up" | "down", text: string, disabled: boolean) => {
        const b = button(text, () => void reorder(moved(list, rule.id, dir === "up" ? -1 : 1)!, { id: rule.id, dir }), { label: `Move ${name} ${dir}`, title: `Move ${dir}`, variant: "ghost" });
        b.disabled = disabled;
        b.dataset.move = dir;
        return b;
      };
      const actions = rule.readonly
        ? h("span", { class: "ui-muted" }, "From the manifest")
        : h("div", { class: "pr-actions" },
          h("span", { class: "pr-move" }, move("up", "↑", dynamicIndex === 0), move("down", "↓", dynamicIndex === dynamicCount - 1)),
          button("Edit", async () => {
            const saved = await editor(rule);
            if (!saved) return;
            toast(`${ruleLabel(saved)} saved.`, "ok");
            list = await call<Rule[]>("api/rules");
            paint();
          }, { label: `Edit ${name}` }),
          button("Delete", () => void remove(rule), { variant: "danger", label: `Delete ${name}` }));
      const enabled = rule.readonly
        ? h("span", { class: `ui-badge ${rule.enabled ? "ui-ok" : "ui-muted"}` }, rule.enabled ? "On" : "Off")
        : h("button", { type: "button", role: "switch", class: "pr-switch", "aria-checked": String(rule.enabled), "aria-label": `Enabled: ${name}`, onclick: () => void toggle(rule) },
          h("span", { class: "pr-knob", "aria-hidden": "true" }), h("span", {}, rule.enabled ? "On" : "Off"));
      const tr = h("tr", { "data-testid": "rule", "data-id": rule.id, class: rule.enabled ? "" : "pr-off", draggable: rule.readonly ? false : "true" },
        h("td", { "data-label": "#", class: "ui-mono" }, String(position)),
        h("td", { "data-label": "Name" }, h("div", {}, h("span", { "data-testid": "rule-name" }, name),
          rule.readonly ? [" ", h("span", { class: "ui-badge ui-muted", "data-testid": "static", title: "Defined in the plugin's manifest: read-only here" }, "static · read-only")] : null)),
        h("td", { "data-label": "Pattern" }, h("div", {}, h("code", { class: "ui-cell", "data-testid": "rule-pattern" }, rule.pattern),
          rule.rewrite ? h("div", { class: "ui-muted" }, "rewrite ", h("code", {}, rule.rewrite)) : null)),
        h("td", { "data-label": "Target" }, h("code", { class: "ui-cell", "data-testid": "rule-target" }, rule.target)),
        h("td", { "data-label": "Enabled" }, enabled),
        h("td", { "data-label": "Actions" }, actions));
      if (!rule.readonly) {
        tr.addEventListener("dragstart", (ev) => {
          dragging = rule.id;
          ev.dataTransfer?.setData("text/plain", rule.id);
          tr.classList.add("pr-dragging");
        });
        tr.addEventListener("dragend", () => { dragging = null; tr.classList.remove("pr-dragging"); });
        tr.addEventListener("dragover", (ev) => { if (dragging && dragging !== rule.id) ev.preventDefault(); });
        tr.addEventListener("drop", (ev) => {
          ev.preventDefault();
          const id = dragging ?? ev.dataTransfer?.getData("text/plain") ?? "";
          const box = tr.getBoundingClientRect();
          const ids = dropped(list, id, rule.id, ev.clientY > box.top + box.height / 2);
          if (ids) void reorder(ids);
        });
      }
      return tr;
    }

    function paint() {
      const dynamic = list.filter((r) => !r.readonly);
      const fixed = list.length - dynamic.length;
      count.textContent = `${list.length} rule${list.length === 1 ? "" : "s"}: ${fixed} static (read-only), ${dynamic.length} managed here. The first enabled rule whose pattern matches the path proxies the request.`;
      const head = h("thead", {}, h("tr", {}, ...["#", "Name", "Pattern", "Target", "Enabled", "Actions"].map((t) => h("th", { scope: "col" }, t))));
      let d = 0;
      const body = h("tbody", {}, ...(list.length
        ? list.map((r, i) => row(r, i + 1, r.readonly ? -1 : d++, dynamic.length))
        : [h("tr", {}, h("td", { colspan: 6, class: "ui-empty" }, "No rules yet: create one to proxy a path to another server."))]));
      replace(holder, h("div", { class: "ui-table-wrap", tabindex: 0 }, h("table", { class: "ui-table pr-table", "aria-label": "Proxy rules, in the order they are tried" }, head, body)));
    }

    const create = button("New rule", async () => {
      const saved = await editor(null);
      if (!saved) return;
      toast(`${ruleLabel(saved)} created.`, "ok");
      list = await call<Rule[]>("api/rules");
      paint();
    }, { variant: "primary" });
    const refresh = button("Refresh", async () => {
      list = await call<Rule[]>("api/rules");
      paint();
    }, { icon: "refresh-cw" });
    paint();
    return h("div", {},
      h("h1", {}, "Redirects"),
      h("p", {}, "Requests whose path matches a rule's pattern are proxied to its target (HTTP and WebSockets). Rules from the manifest come first and are read-only; yours follow in the order below — move them with the arrow buttons or by dragging a row."),
      h("div", { class: "ui-toolbar" }, create, refresh),
      count, holder, said,
      h("p", { class: "ui-muted" }, "API: ", h("code", {}, url("api/rules"))));
  },
};
