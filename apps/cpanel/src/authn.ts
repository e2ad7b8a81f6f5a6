/**
 * The authn plugin's browser session as the shell uses it: who is signed in (for the top bar), the
 * sign-in and sign-out links back to the current shell page, and the way back to sign-in when the
 * session ends mid-use. Everything here is inert when authn is not loaded.
 */
import type { LoadedPlugin } from "./plugins.ts";

/** The authn plugin as `GET /api/plugins/loaded` names it. */
export const AUTHN = "@buntime/plugin-authn";

export interface AuthUser {
  id: string;
  email?: string | null;
  name?: string | null;
  roles?: string[];
}

/** `GET <authn>/api/session`: `{user, session}` when signed in, `null` when not. */
export interface AuthSession {
  user: AuthUser;
  session: { id: string; expiresAt?: string | number | null };
}

let base: string | null = null;
let loginPath: string | null = null;

/** Notes whether authn is loaded, and at which base (`/auth`), from the loaded plugins. */
export function configureAuthn(plugins: LoadedPlugin[]) {
  const authn = plugins.find((p) => p.name === AUTHN);
  base = authn?.base ? authn.base.replace(/\/+$/, "") : null;
}

/** Whether the authn plugin is loaded (its session then guards the shell and the plugin pages). */
export function authnLoaded(): boolean {
  return base !== null;
}

/** The shell URL to come back to: path and query (authn's `redirect` keeps no fragment). */
export function here(): string {
  return location.pathname + location.search;
}

/** The caller's session, or `null` when signed out; throws when authn cannot tell (5xx, network). */
export async function currentSession(): Promise<AuthSession | null> {
  if (base === null) return null;
  const res = await fetch(`${base}/api/session`, { headers: { accept: "application/json" }, credentials: "same-origin", cache: "no-store" });
  if (!res.ok) throw new Error(`${base}/api/session answered ${res.status}`);
  const body = (await res.json()) as AuthSession | null;
  return body && typeof body === "object" && body.user ? body : null;
}

/** A label for the signed-in user: the name, else the email, else the id. */
export function userLabel(s: AuthSession): string {
  return s.user.name?.trim() || s.user.email?.trim() || s.user.id;
}

/** `GET <authn>/api/logout?redirect=<back>`: ends the session, then comes back (to its login page). */
export function logoutUrl(back = here()): string {
  return `${base}/api/logout?redirect=${encodeURIComponent(back)}`;
}

/** The login page with `redirect=<back>`: authn's configured `loginPath` once learned, else `<base>/login`. */
export function loginUrl(back = here()): string {
  return `${loginPath ?? `${base}/login`}?redirect=${encodeURIComponent(back)}`;
}

/**
 * Learns authn's `loginPath` (configurable, so not assumed): signed out, `GET <base>/` answers 302
 * to it, and the followed fetch ends there. Signed in it goes to `/` instead, which says nothing.
 */
export async function learnLoginPath(): Promise<void> {
  if (loginPath !== null || base === null) return;
  try {
    const res = await fetch(`${base}/`, { credentials: "same-origin", cache: "no-store" });
    const landed = new URL(res.url);
    // Signed in after all, it ends at `/` or at the shell `/` redirects to: not a login page.
    const shell = new URL(document.baseURI).pathname.replace(/\/?$/, "");
    const path = landed.pathname;
    if (res.redirected && landed.origin === location.origin && path !== "/" && path !== shell && !path.startsWith(`${shell}/`)) loginPath = path;
  } catch {
    // Keep the default.
  }
}

/** Notes a login page the gate itself sent a frame to (`/auth/login?redirect=…`): it is authn's `loginPath`. */
export function noteLoginPath(path: string) {
  loginPath = path;
}

/**
 * After a 401: when authn is loaded and the session is gone, sends the browser to the login page
 * with `redirect=<back>` (this shell page by default; authn honours same-origin paths only, which this is) and
 * returns `true`. Returns `false` when there is a session (the refusal was about something else,
 * an API key), authn is not loaded, or it could not be asked.
 */
export async function signInAgainIfExpired(back = here()): Promise<boolean> {
  if (base === null) return false;
  let s: AuthSession | null;
  try {
    s = await currentSession();
  } catch {
    return false;
  }
  if (s) return false;
  await learnLoginPath();
  location.assign(loginUrl(back));
  return true;
}
