/**
 * The rules API as this UI calls it: with the admin shell's API key of this tab (same-origin
 * frames share the tab's sessionStorage), since the API follows the REST API's access model
 * (reads need `plugins:read`, writes `plugins:config`).
 */
import { HttpError, errorOf, url, shellKeyHeaders } from "@buntime/ui";

/** A JSON call; the rules API's `detail` (why a regex was refused) joins its message. */
export async function call<T>(path: string, init: { method?: string; json?: unknown } = {}): Promise<T> {
  const res = await fetch(url(path), {
    method: init.method ?? "GET",
    headers: { accept: "application/json", ...shellKeyHeaders(), ...(init.json !== undefined ? { "content-type": "application/json" } : {}) },
    body: init.json !== undefined ? JSON.stringify(init.json) : undefined,
  });
  if (!res.ok) {
    const e = await errorOf(res);
    const body = (e.body && typeof e.body === "object" ? e.body : {}) as { error?: unknown; detail?: unknown };
    let message = e.message;
    if (typeof body.error === "string" && typeof body.detail === "string" && body.detail) message = `${body.error}: ${body.detail} (HTTP ${res.status})`;
    if (res.status === 401 || (res.status === 403 && !/static rules/.test(message))) {
      message += " — sign in to the admin shell with an API key that may read the plugins' config (plugins:read) and, to change rules, write it (plugins:config), such as an admin key.";
    }
    throw new HttpError(res.status, message, e.body);
  }
  return (await res.json()) as T;
}
