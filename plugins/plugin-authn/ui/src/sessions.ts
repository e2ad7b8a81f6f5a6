/**
 * Sessions: who is signed in (`api/session`), every live session of that user (`api/sessions`),
 * revoking one after a confirmation (`DELETE api/sessions/{id}`), and signing out. Signed out, the
 * page says so and links to the login page (which refuses to be framed, so it opens on its own
 * inside the admin shell).
 */
import { button, dialog, h, replace, request, table, toast, type PageContext, type PluginPage } from "@buntime/ui";

interface User { id: string; email: string; name: string; roles: string[]; groups: string[] }
interface Session { id: string; userId: string; createdAt: number; expiresAt: number; ipAddress: string | null; userAgent: string | null; current: boolean }

const when = (ms: number) => new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A user agent in a few words (`Chrome on Linux`), the whole string in its title. */
export function device(ua: string | null): string {
  if (!ua) return "unknown";
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrom(e|ium)\//.test(ua) ? (/HeadlessChrome/.test(ua) ? "Headless Chrome" : "Chrome") : /Safari\//.test(ua) ? "Safari" : /curl\//.test(ua) ? "curl" : null;
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Windows/.test(ua) ? "Windows" : /Mac OS X/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : null;
  if (browser && os) return `${browser} on ${os}`;
  return browser ?? os ?? (ua.length > 40 ? `${ua.slice(0, 40)}…` : ua);
}

/** The page this one is reached at for the login page's `redirect`: the shell's URL when framed. */
function here(): string {
  try {
    if (window.top && window.top !== window) return window.top.location.pathname + window.top.location.search;
  } catch {
    // Another origin above us: come back to this page itself.
  }
  return location.pathname + location.search;
}

function signedOut(): HTMLElement {
  const framed = window.top !== window;
  return h("div", {}, h("h1", {}, "Sessions"),
    h("div", { class: "ui-alert", role: "alert", "data-testid": "signed-out" }, "You are not signed in: there are no sessions to show."),
    h("p", {}, h("a", { class: "ui-btn ui-btn-primary", href: `login?redirect=${encodeURIComponent(here())}`, target: framed ? "_blank" : false, rel: "noopener" }, "Sign in"),
      framed ? h("span", { class: "ui-muted" }, " (opens the login page in a new tab; reload this one afterwards)") : null));
}

async function revoke(s: Session): Promise<boolean> {
  const text = s.current
    ? "This is the session of this browser: you are signed out here, and the next page you open asks you to sign in."
    : `The browser using it (${device(s.userAgent)}, signed in ${when(s.createdAt)}) is signed out at its next request.`;
  const choice = await dialog(s.current ? "Sign out this browser?" : "Revoke this session?", h("p", {}, text), [
    { text: "Cancel", value: "cancel" },
    { text: "Revoke", value: "revoke", variant: "danger" },
  ], {
    async onSubmit() {
      await request(`api/sessions/${encodeURIComponent(s.id)}`, { method: "DELETE" });
    },
  });
  return choice === "revoke";
}

export const sessions: PluginPage = {
  path: "sessions",
  title: "Sessions",
  async render(cx: PageContext) {
    const me = await request<{ user: User; session: { id: string } } | null>("api/session");
    if (!me) return signedOut();
    const root = h("div", {});
    const list = h("div", {});
    const count = h("p", { class: "ui-muted", "data-testid": "count" });
    let rows: Session[] = [];

    const paint = () => {
      count.textContent = `${rows.length} live ${rows.length === 1 ? "session" : "sessions"} of yours, newest first. Revoking one signs that browser out at its next request.`;
      replace(list, table<Session>([
        { title: "Signed in", cell: (s) => h("span", { "data-testid": "session" }, when(s.createdAt), s.current ? h("span", { class: "ui-badge ui-ok", "data-testid": "current" }, "this browser") : null) },
        { title: "Device", cell: (s) => h("span", { title: s.userAgent ?? "" }, device(s.userAgent)) },
        { title: "IP address", cell: (s) => h("code", {}, s.ipAddress ?? "unknown") },
        { title: "Expires", cell: (s) => when(s.expiresAt) },
        { title: "Session", cell: (s) => h("code", { class: "ui-muted", "data-testid": "session-id" }, s.id) },
        {
          title: "",
          cell: (s) => button(s.current ? "Sign out" : "Revoke", async () => {
            if (!(await revoke(s))) return;
            toast(s.current ? "Signed out." : "Session revoked.", "ok");
            if (s.current) replace(root, signedOut());
            else await reload();
          }, { variant: "danger", label: `${s.current ? "Sign out" : "Revoke"} session ${s.id}` }),
        },
      ], rows, "No live sessions."));
      others.disabled = !rows.some((s) => !s.current);
    };

    async function reload() {
      const r = await request<{ sessions: Session[] }>("api/sessions");
      rows = r.sessions.slice().sort((a, b) => b.createdAt - a.createdAt);
      paint();
    }

    const others: HTMLButtonElement = button("Revoke all other sessions", async () => {
      const rest = rows.filter((s) => !s.current);
      const choice = await dialog("Revoke every other session?", h("p", {}, `${rest.length} other ${rest.length === 1 ? "browser is" : "browsers are"} signed out at their next request; this one stays signed in.`), [
        { text: "Cancel", value: "cancel" },
        { text: "Revoke all", value: "revoke", variant: "danger" },
      ], {
        async onSubmit() {
          for (const s of rest) await request(`api/sessions/${encodeURIComponent(s.id)}`, { method: "DELETE" });
        },
      });
      if (choice === "revoke") {
        toast("Other sessions revoked.", "ok");
        await reload();
      }
    }, { variant: "danger" });
    const signOut = button("Sign out", async () => {
      await request("api/auth/sign-out", { method: "POST" });
      toast("Signed out.", "ok");
      replace(root, signedOut());
    }, { icon: "log-out" });

    await reload();
    const u = me.user;
    void cx;
    replace(root, h("h1", {}, "Sessions"),
      h("p", { "data-testid": "who" }, "Signed in as ", h("strong", {}, u.name || u.email), u.name ? ` <${u.email}>` : "",
        u.roles.length ? [" · roles ", h("code", {}, u.roles.join(", "))] : " · no roles",
        u.groups.length ? [" · groups ", h("code", {}, u.groups.join(", "))] : ""),
      h("div", { class: "ui-toolbar" }, others, signOut),
      count, list);
    return root;
  },
};
