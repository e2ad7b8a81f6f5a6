/**
 * Where the HRANA API lives: explicit → `DATABASE_API_URL` → `${RUNTIME_API_URL}/database/api`
 * (the worker pool sets `RUNTIME_API_URL`) → `/database/api` (same origin, for browsers).
 */

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

/** Returns the base URL (without a trailing slash) the client posts `…/pipeline` to. */
export function resolveBaseUrl(explicit?: string, env: Record<string, string | undefined> = typeof process === "undefined" ? {} : process.env): string {
  if (explicit) return trimSlash(explicit);
  if (env.DATABASE_API_URL) return trimSlash(env.DATABASE_API_URL);
  if (env.RUNTIME_API_URL) return `${trimSlash(env.RUNTIME_API_URL)}/database/api`;
  return "/database/api";
}
