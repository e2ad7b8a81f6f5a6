/** A plugin UI's calls to its own API: URLs relative to the page's `<base href>`, JSON errors as `HttpError`. */

/** An answer that was not a success, with the plugin's own message (`{error}`, `{message}` or the text). */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly body: unknown = null) {
    super(message);
  }
}

/** Reads a failed answer's message: JSON `message` or `error`, else its text, else the status. */
export async function errorOf(res: Response): Promise<HttpError> {
  const text = await res.text().catch(() => "");
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: the text is the message.
  }
  const o = (body && typeof body === "object" ? body : {}) as Record<string, unknown>;
  const message = typeof o.message === "string" ? o.message : typeof o.error === "string" ? o.error : text.trim() || `${res.status} ${res.statusText}`.trim();
  return new HttpError(res.status, `${message} (HTTP ${res.status})`, body);
}

/**
 * The `X-API-Key` header of the key the admin shell signed in with in this tab (same-origin frames
 * share the tab's `sessionStorage`), for the plugin APIs that follow the REST API's access model.
 */
export function shellKeyHeaders(): Record<string, string> {
  const key = sessionStorage.getItem("buntime-api-key");
  return key ? { "x-api-key": key } : {};
}

/**
 * Resolves `path` (`api/keys`) against the page's base (`/keyval/` with `injectBase`), so the UI
 * works at whatever base the plugin is mounted.
 */
export function url(path: string): string {
  return new URL(path, document.baseURI).toString();
}

/** Calls the plugin's API and returns its JSON (or text for non-JSON answers); throws `HttpError`. */
export async function request<T>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json", ...(init.headers as Record<string, string> | undefined) };
  let body = init.body;
  if (init.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(init.json);
  }
  const res = await fetch(url(path), { ...init, headers, body });
  if (!res.ok) throw await errorOf(res);
  const type = res.headers.get("content-type") ?? "";
  return (type.includes("json") ? await res.json() : await res.text()) as T;
}

/** A query string from the defined values of `params` (`?a=1&b=x`, or empty). */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}
