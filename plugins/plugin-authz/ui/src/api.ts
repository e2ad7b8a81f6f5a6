/**
 * The authz API as this UI calls it (relative to the base, so `api/policies` → `/authz/api/policies`).
 * Calls carry the browser's session cookie (authn sets `X-Identity` from it, which the policies
 * judge) and, when the admin shell of this tab is signed in with an API key, that key: a runtime
 * key with `plugins:config` reaches the policy API whatever the policies say.
 */
import { HttpError, url, shellKeyHeaders } from "@buntime/ui";

/** A refusal in words: the plugin's error, the field it names, its reason or policy. */
async function refusal(res: Response): Promise<HttpError> {
  const text = await res.text().catch(() => "");
  let body: Record<string, unknown> = {};
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === "object") body = v as Record<string, unknown>;
  } catch {
    // Not JSON: the text is the message.
  }
  const str = (k: string) => (typeof body[k] === "string" && body[k] ? (body[k] as string) : null);
  const parts = [str("error") ?? (text.trim() || res.statusText)];
  const detail = [str("field") && `\`${str("field")}\``, str("message") ?? str("reason")].filter(Boolean).join(": ");
  if (detail) parts.push(detail);
  if (str("policy")) parts.push(`policy ${str("policy")}`);
  let message = `${parts.join(" — ")} (HTTP ${res.status})`;
  if (res.status === 401 || res.status === 403) {
    if (!str("field")) message += ". Sign in as a user whom a policy lets manage policies (the seeded admin-full-access: role admin), or sign in to the admin shell with a key that has plugins:config.";
  }
  return new HttpError(res.status, message, body);
}

/** A JSON call to the plugin's API; throws `HttpError` with the refusal in words. */
export async function call<T>(path: string, init: { method?: string; json?: unknown } = {}): Promise<T> {
  const res = await fetch(url(path), {
    method: init.method ?? "GET",
    headers: { accept: "application/json", ...shellKeyHeaders(), ...(init.json !== undefined ? { "content-type": "application/json" } : {}) },
    body: init.json !== undefined ? JSON.stringify(init.json) : undefined,
  });
  if (!res.ok) throw await refusal(res);
  return (await res.json()) as T;
}
