/**
 * The policy document as `GET/POST /authz/api/policies` speaks it (plugins/plugin-authz/src/policy.rs),
 * its one-line summaries for the table, and the checks the editor runs before sending one. The
 * plugin checks again (patterns, regexes, addresses, time zones) and its refusal is shown as sent.
 */

export type Effect = "permit" | "deny";

export interface SubjectMatch { id?: string; role?: string; group?: string; claim?: { name: string; value: unknown; operator?: string } }
export interface ResourceMatch { app?: string; path?: string; type?: string; owner?: string }
export interface ActionMatch { method?: string; operation?: string }
export type Condition =
  | { type: "time"; after?: string; before?: string; dayOfWeek?: number[]; timeZone?: string }
  | { type: "ip"; allowlist?: string[]; blocklist?: string[]; cidr?: string[] };

export interface Policy {
  id: string;
  name?: string;
  description?: string;
  effect: Effect;
  priority: number;
  subjects: SubjectMatch[];
  resources: ResourceMatch[];
  actions: ActionMatch[];
  conditions?: Condition[];
}

/** The policies in the order the decision point visits them: higher priority first, ties as added. */
export function evaluationOrder(policies: Policy[]): Policy[] {
  return policies.map((p, i) => [p, i] as const).sort((a, b) => (b[0].priority ?? 0) - (a[0].priority ?? 0) || a[1] - b[1]).map(([p]) => p);
}

const quote = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

/** One matcher or condition in words (`role admin`, `path /api/**`, `GET`, `ip in 10.0.0.0/8`). */
export function describe(kind: "subjects" | "resources" | "actions" | "conditions", m: Record<string, unknown>): string {
  const parts: string[] = [];
  if (kind === "subjects") {
    const s = m as SubjectMatch;
    if (s.id !== undefined) parts.push(`id ${s.id}`);
    if (s.role !== undefined) parts.push(`role ${s.role}`);
    if (s.group !== undefined) parts.push(`group ${s.group}`);
    if (s.claim) parts.push(`claim ${s.claim.name} ${s.claim.operator ?? "eq"} ${quote(s.claim.value)}`);
  } else if (kind === "resources") {
    const r = m as ResourceMatch;
    if (r.app !== undefined) parts.push(`app ${r.app}`);
    if (r.path !== undefined) parts.push(`path ${r.path}`);
    if (r.type !== undefined) parts.push(`type ${r.type}`);
    if (r.owner !== undefined) parts.push(`owner ${r.owner}`);
  } else if (kind === "actions") {
    const a = m as ActionMatch;
    if (a.method !== undefined) parts.push(a.method === "*" ? "any method" : a.method.toUpperCase());
    if (a.operation !== undefined) parts.push(`operation ${a.operation}`);
  } else {
    const c = m as Condition;
    if (c.type === "time") {
      if (c.after || c.before) parts.push(`time ${c.after ?? "00:00"}–${c.before ?? "24:00"}`);
      if (c.dayOfWeek) parts.push(`days ${c.dayOfWeek.join(",")}`);
      if (c.timeZone) parts.push(c.timeZone);
      if (!parts.length) parts.push("time (any)");
    } else if (c.type === "ip") {
      const allow = [...(c.allowlist ?? []), ...(c.cidr ?? [])];
      if (allow.length) parts.push(`ip in ${allow.join(", ")}`);
      if (c.blocklist?.length) parts.push(`ip not in ${c.blocklist.join(", ")}`);
      if (!parts.length) parts.push("ip (any)");
    }
  }
  return parts.join(" and ") || "anything";
}

/** A list of matchers in words; an empty list matches anything. */
export function summary(kind: "subjects" | "resources" | "actions" | "conditions", list: Array<Record<string, unknown>> | undefined): string {
  if (!list?.length) return kind === "subjects" ? "anyone" : kind === "resources" ? "any resource" : kind === "actions" ? "any action" : "none";
  return list.map((m) => describe(kind, m)).join(" · ");
}

/** What the editor's fields hold, as typed. */
export interface Draft {
  id: string;
  name: string;
  description: string;
  effect: string;
  priority: string;
  subjects: string;
  resources: string;
  actions: string;
  conditions: string;
}

/** A draft with the fields of `p` (or a new policy's starting text). */
export function toDraft(p: Policy | null): Draft {
  const list = (v: unknown[] | undefined, fallback: string) => (v ? JSON.stringify(v, null, 1).replace(/\n\s*/g, " ") : fallback);
  return {
    id: p?.id ?? "",
    name: p?.name ?? "",
    description: p?.description ?? "",
    effect: p?.effect ?? "permit",
    priority: String(p?.priority ?? 0),
    subjects: list(p?.subjects, '[{"role": "admin"}]'),
    resources: list(p?.resources, '[{"path": "/**"}]'),
    actions: list(p?.actions, '[{"method": "GET"}]'),
    conditions: list(p?.conditions?.length ? p.conditions : undefined, "[]"),
  };
}

const FIELDS = {
  subjects: { id: "string", role: "string", group: "string", claim: "claim" },
  resources: { app: "string", path: "string", type: "string", owner: "string" },
  actions: { method: "string", operation: "string" },
} as const;
const OPERATORS = ["eq", "neq", "gt", "lt", "contains", "regex"];
const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

class Invalid extends Error {}

function parseList(label: string, text: string): Array<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(text.trim() || "[]");
  } catch (e) {
    throw new Invalid(`${label} is not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(value)) throw new Invalid(`${label} must be a JSON list ([…]); an empty list [] matches anything.`);
  value.forEach((m, i) => {
    if (!m || typeof m !== "object" || Array.isArray(m)) throw new Invalid(`${label}[${i}] must be an object such as {"role": "admin"}.`);
  });
  return value as Array<Record<string, unknown>>;
}

function checkMatchers(kind: keyof typeof FIELDS, label: string, list: Array<Record<string, unknown>>) {
  const fields: Record<string, string> = FIELDS[kind];
  list.forEach((m, i) => {
    const keys = Object.keys(m);
    if (!keys.length) throw new Invalid(`${label}[${i}] is empty: give at least one of ${Object.keys(fields).join(", ")}.`);
    for (const key of keys) {
      const type = fields[key];
      if (!type) throw new Invalid(`${label}[${i}] has an unknown field "${key}": use ${Object.keys(fields).join(", ")}.`);
      const v = m[key];
      if (type === "string" && typeof v !== "string") throw new Invalid(`${label}[${i}].${key} must be a string.`);
      if (type === "claim") {
        const c = v as Record<string, unknown> | null;
        if (!c || typeof c !== "object" || typeof c.name !== "string" || !("value" in c)) throw new Invalid(`${label}[${i}].claim must be {"name": …, "value": …, "operator"?: …}.`);
        if (c.operator !== undefined && !OPERATORS.includes(String(c.operator))) throw new Invalid(`${label}[${i}].claim.operator must be one of ${OPERATORS.join(", ")}.`);
      }
    }
  });
}

function checkConditions(list: Array<Record<string, unknown>>) {
  list.forEach((c, i) => {
    const at = `Conditions[${i}]`;
    if (c.type === "time") {
      for (const k of ["after", "before"]) {
        if (c[k] !== undefined && !(typeof c[k] === "string" && HHMM.test(c[k] as string))) throw new Invalid(`${at}.${k} must be a time as HH:mm (such as "07:30").`);
      }
      if (c.dayOfWeek !== undefined && !(Array.isArray(c.dayOfWeek) && c.dayOfWeek.every((d) => Number.isInteger(d) && d >= 0 && d <= 6))) throw new Invalid(`${at}.dayOfWeek must be a list of days, 0 (Sunday) to 6.`);
      if (c.timeZone !== undefined && typeof c.timeZone !== "string") throw new Invalid(`${at}.timeZone must be an IANA name such as "Europe/Berlin".`);
    } else if (c.type === "ip") {
      for (const k of ["allowlist", "blocklist", "cidr"]) {
        if (c[k] !== undefined && !(Array.isArray(c[k]) && (c[k] as unknown[]).every((a) => typeof a === "string"))) throw new Invalid(`${at}.${k} must be a list of addresses or ranges such as ["10.0.0.0/8"].`);
      }
    } else {
      throw new Invalid(`${at}.type must be "time" or "ip".`);
    }
  });
}

/** Reads a draft into a policy, or throws an `Error` whose message says what to fix. */
export function fromDraft(d: Draft): Policy {
  try {
    const id = d.id.trim();
    if (!id) throw new Invalid("The ID is required.");
    if (d.effect !== "permit" && d.effect !== "deny") throw new Invalid("The effect must be permit or deny.");
    const priority = d.priority.trim() === "" ? 0 : Number(d.priority);
    if (!Number.isSafeInteger(priority)) throw new Invalid("The priority must be a whole number (higher is evaluated first).");
    const subjects = parseList("Subjects", d.subjects);
    const resources = parseList("Resources", d.resources);
    const actions = parseList("Actions", d.actions);
    const conditions = parseList("Conditions", d.conditions);
    checkMatchers("subjects", "Subjects", subjects);
    checkMatchers("resources", "Resources", resources);
    checkMatchers("actions", "Actions", actions);
    checkConditions(conditions);
    const p: Policy = { id, effect: d.effect, priority, subjects, resources, actions };
    if (d.name.trim()) p.name = d.name.trim();
    if (d.description.trim()) p.description = d.description.trim();
    if (conditions.length) p.conditions = conditions as unknown as Condition[];
    return p;
  } catch (e) {
    if (e instanceof Invalid) throw new Error(e.message);
    throw e;
  }
}
