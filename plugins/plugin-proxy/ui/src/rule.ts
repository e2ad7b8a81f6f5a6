/**
 * A proxy rule as `GET api/rules` lists it, and the checks the form runs before sending one. The
 * server checks again (its regex engine is Rust's: a pattern JavaScript accepts, such as a
 * look-ahead, may still be refused, and the form then shows the server's message).
 */

export interface Rule {
  id: string;
  name: string;
  enabled: boolean;
  order: number;
  pattern: string;
  target: string;
  rewrite: string | null;
  changeOrigin: boolean;
  secure: boolean;
  headers: Record<string, string>;
  ws: boolean;
  base: string | null;
  relativePaths: boolean;
  publicRoutes: unknown;
  readonly: boolean;
}

/** What the form holds, as text. */
export interface RuleForm {
  name: string;
  pattern: string;
  target: string;
  rewrite: string;
  headers: string;
  base: string;
  publicRoutes: string;
  enabled: boolean;
  changeOrigin: boolean;
  ws: boolean;
  relativePaths: boolean;
  secure: boolean;
}

/** A problem with one field of the form. */
export interface FieldProblem {
  field: keyof RuleForm;
  message: string;
}

/** The name shown for a rule: its name, else its pattern. */
export function ruleLabel(rule: Pick<Rule, "name" | "pattern">): string {
  return rule.name.trim() || rule.pattern;
}

/** Returns why `pattern` is refused, or null: it is required and must compile as a JavaScript regex. */
export function checkPattern(pattern: string): string | null {
  if (!pattern.trim()) return "The pattern is required: a regular expression on the request path, such as ^/api/(.*)$.";
  try {
    new RegExp(pattern);
  } catch (e) {
    return `The pattern is not a valid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, "")}.`;
  }
  return null;
}

/** Returns why `target` is refused, or null: an http(s) or ws(s) origin, optionally with a path prefix. */
export function checkTarget(target: string): string | null {
  const shape = "The target must be an http, https, ws or wss URL such as http://127.0.0.1:3000 or https://api.example.com/prefix";
  if (!target.trim()) return `${shape}; it is required.`;
  let url: URL;
  try {
    url = new URL(target.trim());
  } catch {
    return `${shape}.`;
  }
  if (!["http:", "https:", "ws:", "wss:"].includes(url.protocol)) return `${shape}, not ${url.protocol.replace(/:$/, "")}.`;
  if (!url.hostname) return `${shape}: it has no host.`;
  if (url.search || url.hash || target.includes("?") || target.includes("#")) return `${shape}, without a query or fragment.`;
  if (url.username || url.password) return `${shape}, without a user name or password.`;
  return null;
}

/** Returns why `rewrite` is refused, or null: a path (the origin comes from the target). */
export function checkRewrite(rewrite: string): string | null {
  if (rewrite.includes("://") || rewrite.includes("#")) return "The rewrite must be a path such as /v1/$1 (the origin comes from the target).";
  return null;
}

/** Returns why `base` is refused, or null: empty, or a path starting with /. */
export function checkBase(base: string): string | null {
  if (base && (!base.startsWith("/") || /["'<>]/.test(base))) return "The base must be a path starting with /, such as /app.";
  return null;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Reads `name: value` lines into headers; throws with the line at fault. */
export function parseHeaders(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`Headers, line ${i + 1}: write it as name: value.`);
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (!TOKEN.test(name)) throw new Error(`Headers, line ${i + 1}: "${name}" is not a valid header name.`);
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) throw new Error(`Headers, line ${i + 1}: the value has control characters.`);
    out[name] = value;
  });
  return out;
}

/** Writes headers as `name: value` lines. */
export function formatHeaders(headers: Record<string, unknown> | null | undefined): string {
  return Object.entries(headers ?? {}).map(([k, v]) => `${k}: ${String(v)}`).join("\n");
}

/**
 * Reads public routes: globs one a line (a list), or a JSON object of globs by method
 * (`{"GET": ["/docs/**"]}`); empty is none (null). Throws for JSON that is not such an object.
 */
export function parsePublicRoutes(text: string): unknown {
  const t = text.trim();
  if (!t) return null;
  if (t.startsWith("{")) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch (e) {
      throw new Error(`Public routes: not valid JSON (${(e as Error).message}).`);
    }
    const ok = v !== null && typeof v === "object" && !Array.isArray(v)
      && Object.values(v as Record<string, unknown>).every((list) => Array.isArray(list) && list.every((g) => typeof g === "string"));
    if (!ok) throw new Error('Public routes: a JSON object maps methods to lists of globs, such as {"GET": ["/docs/**"]}.');
    return v;
  }
  return t.split("\n").map((l) => l.trim()).filter(Boolean);
}

/** Writes public routes back as the form shows them. */
export function formatPublicRoutes(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.join("\n");
  return JSON.stringify(value, null, 2);
}

/** The form's text for `rule` (a new rule's defaults when null). */
export function toForm(rule: Rule | null): RuleForm {
  return {
    name: rule?.name ?? "",
    pattern: rule?.pattern ?? "",
    target: rule?.target ?? "",
    rewrite: rule?.rewrite ?? "",
    headers: formatHeaders(rule?.headers),
    base: rule?.base ?? "",
    publicRoutes: formatPublicRoutes(rule?.publicRoutes),
    enabled: rule?.enabled ?? true,
    changeOrigin: rule?.changeOrigin ?? false,
    ws: rule?.ws ?? true,
    relativePaths: rule?.relativePaths ?? false,
    secure: rule?.secure ?? true,
  };
}

/**
 * Checks the form and returns the JSON body the API takes, or the problems (every field's, in
 * the form's order).
 */
export function fromForm(form: RuleForm): { body: Record<string, unknown> } | { problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const check = (field: keyof RuleForm, message: string | null) => message && problems.push({ field, message });
  check("pattern", checkPattern(form.pattern));
  check("target", checkTarget(form.target));
  check("rewrite", checkRewrite(form.rewrite.trim()));
  let headers: Record<string, string> = {};
  try {
    headers = parseHeaders(form.headers);
  } catch (e) {
    check("headers", (e as Error).message);
  }
  check("base", checkBase(form.base.trim()));
  let publicRoutes: unknown = null;
  try {
    publicRoutes = parsePublicRoutes(form.publicRoutes);
  } catch (e) {
    check("publicRoutes", (e as Error).message);
  }
  if (problems.length) return { problems };
  return {
    body: {
      name: form.name.trim(),
      pattern: form.pattern,
      target: form.target.trim(),
      rewrite: form.rewrite.trim() || null,
      headers,
      base: form.base.trim() || null,
      publicRoutes,
      enabled: form.enabled,
      changeOrigin: form.changeOrigin,
      ws: form.ws,
      relativePaths: form.relativePaths,
      secure: form.secure,
    },
  };
}

/** The ids of `rules` (dynamic ones only) after moving `id` by `delta` places, or null at an end. */
export function moved(rules: Rule[], id: string, delta: number): string[] | null {
  const ids = rules.filter((r) => !r.readonly).map((r) => r.id);
  const from = ids.indexOf(id);
  const to = from + delta;
  if (from < 0 || to < 0 || to >= ids.length) return null;
  ids.splice(to, 0, ...ids.splice(from, 1));
  return ids;
}

/** The ids of `rules` (dynamic ones only) after dropping `id` just before (or after) `target`. */
export function dropped(rules: Rule[], id: string, target: string, after: boolean): string[] | null {
  if (id === target) return null;
  const ids = rules.filter((r) => !r.readonly).map((r) => r.id);
  if (!ids.includes(id) || !ids.includes(target)) return null;
  ids.splice(ids.indexOf(id), 1);
  ids.splice(ids.indexOf(target) + (after ? 1 : 0), 0, id);
  return ids;
}
