/**
 * Evaluate: build an evaluation context (subject, resource, action, environment), send it to
 * `api/explain`, and show the decision and what every policy did. The form is kept in the URL, so
 * a question about access can be shared as a link.
 */
import { button, field, h, json, replace, select, table, type PageContext, type PluginPage } from "@buntime/ui";
import { call } from "./api.ts";
import { effectBadge } from "./policies.ts";

interface Decision { effect: "permit" | "deny" | "not_applicable"; reason?: string; matchedPolicy?: string }
interface Step { id: string; name?: string; effect: string; priority: number; applicable: boolean; reason: string }
interface Explanation { context: unknown; decision: Decision; policies: Array<{ id: string }>; trace: Step[] }

const METHODS: Array<[string, string]> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].map((m) => [m, m]);
/** The form's fields, also its URL parameters. */
const KEYS = ["subject", "roles", "groups", "claims", "app", "path", "type", "owner", "method", "operation", "ip", "time", "userAgent"] as const;
type Key = (typeof KEYS)[number];

const list = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);

/** The evaluation context for the form's values, or an error message. */
export function contextOf(v: Record<Key, string>): { context: Record<string, unknown> } | { error: string } {
  let claims: unknown = {};
  if (v.claims.trim()) {
    try {
      claims = JSON.parse(v.claims);
    } catch (e) {
      return { error: `Claims are not valid JSON: ${(e as Error).message}` };
    }
    if (!claims || typeof claims !== "object" || Array.isArray(claims)) return { error: 'Claims must be a JSON object such as {"department": "sales"}.' };
  }
  if (v.path.trim() && !v.path.trim().startsWith("/")) return { error: "The path starts with / (such as /reports/2024)." };
  if (v.time.trim() && Number.isNaN(Date.parse(v.time.trim()))) return { error: "The time must be an RFC 3339 date-time such as 2026-03-02T09:30:00Z (empty: now)." };
  const opt = (s: string) => (s.trim() ? s.trim() : undefined);
  return {
    context: {
      subject: { id: opt(v.subject) ?? "anonymous", roles: list(v.roles), groups: list(v.groups), claims },
      resource: { app: v.app.trim(), path: v.path.trim(), type: opt(v.type), owner: opt(v.owner) },
      action: { method: v.method || "GET", operation: opt(v.operation) },
      environment: { ip: opt(v.ip) ?? "unknown", time: opt(v.time) ? new Date(v.time.trim()).toISOString() : undefined, userAgent: opt(v.userAgent) },
    },
  };
}

function verdict(e: Explanation): HTMLElement {
  const d = e.decision;
  const allowed = d.effect === "permit";
  const matched = d.matchedPolicy ? e.trace.find((s) => s.id === d.matchedPolicy) : undefined;
  return h("div", { class: `ui-card authz-verdict ${allowed ? "is-permit" : "is-deny"}`, "data-testid": "decision", role: "status" },
    h("h2", { class: allowed ? "ui-ok" : "ui-bad" }, allowed ? "Allowed" : "Denied"),
    h("p", {}, "Effect: ", effectBadge(d.effect), " · reason: ", h("strong", { "data-testid": "reason" }, d.reason ?? "—")),
    h("p", { "data-testid": "matched" }, d.matchedPolicy
      ? ["Decided by policy ", h("code", {}, d.matchedPolicy), matched?.name ? ` (${matched.name})` : "", matched ? `, priority ${matched.priority}.` : "."]
      : "No policy decided: this is the default effect."),
    h("p", { class: "ui-muted" }, `${e.policies.length} of ${e.trace.length} ${e.trace.length === 1 ? "policy applies" : "policies apply"} to this request.`));
}

function trace(e: Explanation): HTMLElement {
  return table<Step>([
    { title: "#", cell: (s) => String(e.trace.indexOf(s) + 1) },
    { title: "Policy", cell: (s) => h("div", {}, h("code", {}, s.id), s.id === e.decision.matchedPolicy ? h("strong", { class: "ui-ok" }, " ← decided") : null, s.name ? h("div", { class: "ui-muted" }, s.name) : null) },
    { title: "Effect", cell: (s) => effectBadge(s.effect) },
    { title: "Priority", cell: (s) => String(s.priority) },
    { title: "Applies", cell: (s) => h("span", { class: s.applicable ? "ui-ok" : "ui-muted" }, s.applicable ? "yes" : "no") },
    { title: "Why", cell: (s) => s.reason },
  ], e.trace, "No policies: the default effect decides.");
}

export const evaluate: PluginPage = {
  path: "evaluate",
  title: "Evaluate",
  async render(cx: PageContext) {
    const get = (k: Key) => cx.params.get(k) ?? "";
    const input = (k: Key, attrs: Record<string, unknown> = {}) => h("input", { name: k, value: get(k), autocomplete: "off", spellcheck: "false", ...attrs });
    const controls: Record<Key, HTMLInputElement | HTMLSelectElement> = {
      subject: input("subject", { placeholder: "anonymous" }),
      roles: input("roles", { placeholder: "admin, editor" }),
      groups: input("groups", { placeholder: "ops" }),
      claims: input("claims", { placeholder: '{"department": "sales"}' }),
      app: input("app", { placeholder: "notes" }),
      path: input("path", { placeholder: "/notes/api/items" }),
      type: input("type"),
      owner: input("owner"),
      method: select("method", METHODS, get("method") || "GET"),
      operation: input("operation"),
      ip: input("ip", { placeholder: "unknown" }),
      time: input("time", { placeholder: "now" }),
      userAgent: input("userAgent"),
    };
    const out = h("div", { "aria-live": "polite" });
    const values = () => Object.fromEntries(KEYS.map((k) => [k, controls[k].value])) as Record<Key, string>;

    async function run() {
      const v = values();
      cx.setParams(v);
      const built = contextOf(v);
      if ("error" in built) {
        replace(out, h("div", { class: "ui-alert", role: "alert" }, built.error));
        return;
      }
      try {
        const e = await call<Explanation>("api/explain", { method: "POST", json: built.context });
        replace(out, verdict(e), h("h2", {}, "Every policy, in evaluation order"), trace(e),
          h("details", {}, h("summary", {}, "The context as evaluated"), json(e.context)));
        // On a phone the answer is below the form: bring it into view.
        out.scrollIntoView({ block: "start" });
      } catch (e) {
        replace(out, h("div", { class: "ui-alert", role: "alert" }, (e as Error).message));
      }
    }

    const group = (title: string, ...fields: HTMLElement[]) => h("fieldset", { class: "ui-card" }, h("legend", {}, title), h("div", { class: "ui-row" }, ...fields));
    const form = h("form", { onsubmit: (ev: Event) => { ev.preventDefault(); void run(); } },
      group("Subject",
        field("Subject ID", controls.subject as HTMLInputElement, "The identity's sub, or apikey:<name>."),
        field("Roles", controls.roles as HTMLInputElement, "Comma-separated."),
        field("Groups", controls.groups as HTMLInputElement, "Comma-separated."),
        field("Claims (JSON)", controls.claims as HTMLInputElement)),
      group("Resource",
        field("App", controls.app as HTMLInputElement),
        field("Path", controls.path as HTMLInputElement),
        field("Type", controls.type as HTMLInputElement),
        field("Owner", controls.owner as HTMLInputElement, "A subject ID, for owner: self.")),
      group("Action and environment",
        field("Method", controls.method),
        field("Operation", controls.operation as HTMLInputElement),
        field("Client IP", controls.ip as HTMLInputElement),
        field("Time", controls.time as HTMLInputElement, "Such as 2026-03-02T09:30:00Z."),
        field("User agent", controls.userAgent as HTMLInputElement)),
      h("div", { class: "ui-toolbar" }, button("Evaluate", () => {}, { type: "submit", variant: "primary", icon: "shield-check" })));

    if (KEYS.some((k) => cx.params.has(k))) await run();
    return h("div", {}, h("h1", {}, "Evaluate"),
      h("p", { class: "ui-muted" }, "Ask the decision point about a request: who, on what, how. Nothing is changed."),
      form, out);
  },
};
