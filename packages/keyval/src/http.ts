/**
 * Requests to the KeyVal API: base URL, JSON bodies in the wire form, and a {@link KvError} with
 * the status and body for every non-2xx answer.
 */
import { decodeJson, encodeJson } from "./codec.ts";

/** A non-2xx answer (or a body that is not what the route promises). */
export class KvError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The response body, as text. */
  readonly body: string;

  constructor(status: number, body: string, method: string, path: string) {
    let detail = body;
    try {
      const parsed = JSON.parse(body) as { error?: unknown };
      if (typeof parsed.error === "string") detail = parsed.error;
    } catch {
      // Not JSON: keep the text.
    }
    super(`KeyVal ${method} ${path} failed: ${status} ${detail}`);
    this.name = "KvError";
    this.status = status;
    this.body = body;
  }
}

/** Where the API lives: explicit → `KEYVAL_API_URL` → `${RUNTIME_API_URL}/keyval/api` → `/keyval/api`. */
export function resolveBaseUrl(explicit?: string, env: Record<string, string | undefined> = typeof process === "undefined" ? {} : process.env): string {
  const trim = (u: string) => u.replace(/\/+$/, "");
  if (explicit) return trim(explicit);
  if (env.KEYVAL_API_URL) return trim(env.KEYVAL_API_URL);
  if (env.RUNTIME_API_URL) return `${trim(env.RUNTIME_API_URL)}/keyval/api`;
  return "/keyval/api";
}

/** One request. */
export interface RequestSpec {
  method?: "DELETE" | "GET" | "POST" | "PUT";
  /** Path under the base, starting with `/`. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** Sent as JSON in the wire form (tagged bigints and bytes). */
  body?: unknown;
  /** Statuses returned as `null` instead of thrown (e.g. 404 for a missing entry). */
  allow?: number[];
  signal?: AbortSignal;
  accept?: string;
}

/** Sends requests under one base URL. */
export class Http {
  constructor(
    readonly baseUrl: string,
    private readonly fetchFn: typeof fetch,
    private readonly headers: Record<string, string>,
  ) {}

  /** Builds the URL of `path` with `query` (undefined values left out). */
  url(path: string, query?: RequestSpec["query"]): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ""}`;
  }

  /** Sends the request; returns the response, or `null` for an allowed status; throws otherwise. */
  async send(spec: RequestSpec): Promise<Response | null> {
    const method = spec.method ?? "GET";
    const headers: Record<string, string> = { ...this.headers };
    if (spec.accept) headers.Accept = spec.accept;
    let body: string | undefined;
    if (spec.body !== undefined) {
      body = encodeJson(spec.body);
      headers["Content-Type"] = "application/json";
    }
    const res = await this.fetchFn(this.url(spec.path, spec.query), { method, headers, body, signal: spec.signal });
    if (spec.allow?.includes(res.status)) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok) throw new KvError(res.status, await res.text(), method, spec.path);
    return res;
  }

  /** Sends the request and parses the JSON answer (reviving bigints and bytes). */
  async json<T>(spec: RequestSpec): Promise<T | null> {
    const res = await this.send(spec);
    if (!res) return null;
    const text = await res.text();
    try {
      return decodeJson<T>(text);
    } catch {
      throw new KvError(res.status, text, spec.method ?? "GET", `${spec.path} (the answer is not JSON)`);
    }
  }

  /** Like {@link json} for routes that never answer an allowed status. */
  async must<T>(spec: RequestSpec): Promise<T> {
    return (await this.json<T>({ ...spec, allow: undefined })) as T;
  }
}
