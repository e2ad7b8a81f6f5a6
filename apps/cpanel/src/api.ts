/** The runtime's REST API as the shell uses it: the API key of this tab, JSON errors as `ApiError`. */

const KEY = "buntime-api-key";

/** An API answer that was not a success, with the runtime's own code and message. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly body: unknown = null) {
    super(message);
  }
  /** Whether signing in (again) could help: 401 or 403. */
  get denied(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

/** The key of this tab only (sessionStorage: gone when the tab closes, never shared with other tabs). */
export const session = {
  get key(): string | null {
    return sessionStorage.getItem(KEY);
  },
  signIn(key: string) {
    sessionStorage.setItem(KEY, key.trim());
  },
  signOut() {
    sessionStorage.removeItem(KEY);
  },
};

let apiRoot = "/api";

/** Finds where the API is mounted (`RUNTIME_API_PREFIX` moves it) from `/.well-known/buntime`. */
export async function discover(): Promise<{ api: string; version: string }> {
  const res = await fetch("/.well-known/buntime", { headers: { accept: "application/json" } });
  if (!res.ok) throw await toError(res);
  const info = (await res.json()) as { api: string; version: string };
  apiRoot = info.api;
  return info;
}

/** Returns the API URL of `path` (`/plugins/loaded` → `/api/plugins/loaded`). */
export function apiUrl(path: string): string {
  return apiRoot + path;
}

/** The headers every API call carries: the tab's key, when signed in, as `X-API-Key`. */
export function authHeaders(): Record<string, string> {
  const key = session.key;
  return key ? { "x-api-key": key } : {};
}

/** Reads an error answer into an `ApiError`: JSON `{code, message}` or `{code, error}`, else the text. */
export async function toError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => "");
  return errorFrom(res.status, res.statusText, text);
}

/** Builds an `ApiError` from a status and a body (shared with the XHR upload). */
export function errorFrom(status: number, statusText: string, text: string): ApiError {
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: the text itself is the message.
  }
  const o = (body && typeof body === "object" ? body : {}) as Record<string, unknown>;
  const code = typeof o.code === "string" ? o.code : `HTTP_${status}`;
  const message = typeof o.message === "string" ? o.message : typeof o.error === "string" ? o.error : text.trim() || `${status} ${statusText}`.trim();
  return new ApiError(status, code, message, body);
}

/** Calls the API and returns the JSON answer, or throws an `ApiError`; `okStatuses` are not errors. */
export async function api<T>(path: string, init: RequestInit & { json?: unknown; okStatuses?: number[] } = {}): Promise<{ data: T; res: Response }> {
  const headers: Record<string, string> = { accept: "application/json", ...authHeaders(), ...(init.headers as Record<string, string> | undefined) };
  let body = init.body;
  if (init.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(init.json);
  }
  const res = await fetch(apiUrl(path), { ...init, headers, body });
  if (!res.ok && !init.okStatuses?.includes(res.status)) throw await toError(res);
  return { data: (await res.json()) as T, res };
}
