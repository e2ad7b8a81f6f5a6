/**
 * The gateway's API as this UI calls it. Reads are open; writes (clear a bucket, edit shell
 * excludes, drop the log) need a runtime API key with `plugins:config`, or a same-origin page on
 * this machine or of a signed-in caller, so the admin shell's key of this tab goes with every call
 * when there is one (same-origin frames share the tab's sessionStorage).
 */
import { HttpError, errorOf, url, shellKeyHeaders } from "@buntime/ui";

/** A JSON call; a refused write says how to be allowed. */
export async function call<T>(path: string, init: { method?: string; json?: unknown } = {}): Promise<T> {
  const res = await fetch(url(path), {
    method: init.method ?? "GET",
    headers: { accept: "application/json", ...shellKeyHeaders(), ...(init.json !== undefined ? { "content-type": "application/json" } : {}) },
    body: init.json !== undefined ? JSON.stringify(init.json) : undefined,
  });
  if (!res.ok) {
    const e = await errorOf(res);
    let message = e.message;
    const body = (e.body && typeof e.body === "object" ? e.body : {}) as { error?: unknown; message?: unknown };
    if (typeof body.error === "string" && typeof body.message === "string") message = `${body.error}: ${body.message} (HTTP ${res.status})`;
    if (res.status === 401 || res.status === 403) message += " — sign in to the admin shell with an API key that may change the plugins' config (plugins:config), such as an admin key.";
    throw new HttpError(res.status, message, e.body);
  }
  return (await res.json()) as T;
}

export interface Metrics { totalRequests: number; blockedRequests: number; allowedRequests: number; activeBuckets: number }
export interface Snapshot extends Metrics { timestamp: number }
export interface LogEntry { id: number; timestamp: number; ip: string; method: string; path: string; status: number; duration: number; rateLimited: boolean }
export interface LogStats { total: number; rateLimited: number; byStatus: Record<string, number>; avgDuration: number }
export interface Bucket { key: string; tokens: number; retryAfter: number; lastActivity: number }
export interface RateConfig { requests: number; window: string; keyBy: string }
export interface Stats {
  rateLimit: { enabled: boolean; metrics: Metrics | null; config: RateConfig | null };
  cors: { enabled: boolean; config: CorsConfig | null };
  cache: { enabled: boolean; entries?: number; hits?: number; misses?: number };
  shell: { enabled: boolean; dir: string | null; excludesCount: number };
  logs: LogStats;
}
export interface CorsConfig { origin: string | string[]; credentials: boolean; methods: string[]; allowedHeaders: string[] | null; exposedHeaders: string[]; maxAge: number; preflight: boolean }
export interface Config {
  rateLimit: (RateConfig & { windowSeconds: number; excludePaths: string[] }) | null;
  cors: CorsConfig | null;
  cache: { ttl: number; maxEntries: number; maxBodySize: number; methods: string[]; excludePaths: string[] } | null;
  shell: { dir: string; envExcludes: string[] } | null;
}
/** One event of `api/sse`. */
export interface Frame {
  timestamp: number;
  rateLimit: { metrics: Metrics; config: RateConfig } | null;
  cors: { enabled: boolean; origin: string | string[]; credentials: boolean; methods: string[] } | null;
  cache: { enabled: boolean };
  shell: { enabled: boolean; dir: string; excludes: string[] } | null;
  recentLogs: LogEntry[];
}
