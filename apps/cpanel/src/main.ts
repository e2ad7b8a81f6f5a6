/** The admin shell: sidebar from the plugins' menus, the runtime's pages, plugin UIs in a frame. */
import "@buntime/ui/ui.css";
import "./cpanel.css";
import { applyTheme, button, h, icon, replace, sidebar, themeToggle, type NavItem } from "@buntime/ui";
import { ApiError, discover, session } from "./api.ts";
import { authnLoaded, configureAuthn, currentSession, learnLoginPath, loginUrl, logoutUrl, noteLoginPath, signInAgainIfExpired, userLabel, type AuthSession } from "./authn.ts";
import { PluginFrame, type Failure } from "./frame.ts";
import { loadedPlugins, menuItems, type LoadedPlugin } from "./plugins.ts";
import { accessDenied } from "./signin.ts";
import type { Page } from "./pages/common.ts";
import { health } from "./pages/health.ts";
import { plugins } from "./pages/plugins.ts";
import { apps } from "./pages/apps.ts";
import { keys } from "./pages/keys.ts";

applyTheme();

/** The shell's own base (`/cpanel/`), from the `<base href>` the runtime injects. */
const BASE = new URL(document.baseURI).pathname.replace(/\/?$/, "/");
/** Runtime pages live under `~/`: `~` cannot start a plugin base, so they never shadow a plugin. */
const PAGES: Record<string, Page> = { "~/health": health, "~/plugins": plugins, "~/apps": apps, "~/keys": keys };
const RUNTIME_ITEMS: NavItem[] = [
  { text: "Overview", href: `${BASE}~/health`, icon: "heart-pulse", group: "Runtime" },
  { text: "Plugins", href: `${BASE}~/plugins`, icon: "puzzle" },
  { text: "Apps", href: `${BASE}~/apps`, icon: "package" },
  { text: "API keys", href: `${BASE}~/keys`, icon: "key-round" },
];

/** The deployments plugin: its file manager is the shell's landing page when it is loaded. */
const DEPLOYMENTS = "@buntime/plugin-deployments";

const content = h("main", { class: "ui-content", id: "content", tabindex: -1 });
const nav = sidebar(h("span", {}, "Buntime"), (href) => go(href));
// The API key of this tab (the REST API needs one even with an authn session): shown apart from it.
const forgetKey = button("Forget key", () => {
  session.signOut();
  paintKey();
  void render();
}, { variant: "ghost", icon: "key-round", title: "Stop sending this API key from this tab" });
const who = h("span", { class: "ui-muted cp-who", "data-testid": "key-who" });
// The authn session (when authn is loaded): the user and Sign out, or Sign in.
const account = h("span", { class: "cp-account", "data-testid": "account", hidden: true });
let authSession: AuthSession | null = null;

// A plugin UI is not an API route: an API key does not open it (it never skips plugin hooks), so
// the frame's denial points at the plugin's own sign-in instead of the key form. A 401 while authn
// is loaded is first checked against the session: gone, the tab goes to the login page instead.
const frame = new PluginFrame(onFrameNavigate, (box, failure) => {
  if (failure.status === 401) {
    replace(box, h("p", { class: "ui-muted", "aria-busy": "true" }, "Checking your session…"));
    void (async () => {
      await pluginList?.catch(() => {}); // whether authn is loaded
      if (!(await signInAgainIfExpired(shellUrlOf(failure)))) frameDenied(box, failure);
    })();
    return;
  }
  frameDenied(box, failure);
}, {
  // authn's gate sends a signed-out page load to `<loginPath>?redirect=<the page>`.
  // (authn's own login page refuses framing, so the frame usually just cannot be read.)
  isLoginRedirect: (url) => url.searchParams.has("redirect") && !url.pathname.startsWith(BASE),
  async signInNeeded(wanted, login) {
    await pluginList?.catch(() => {});
    if (!authnLoaded()) return false;
    if (login) noteLoginPath(login.pathname);
    return signInAgainIfExpired(wanted.startsWith("/") ? BASE + wanted.slice(1).replace(/#.*$/, "") : undefined);
  },
});

function frameDenied(box: HTMLElement, failure: Failure) {
  replace(box,
    h("h2", {}, "Access denied"),
    h("p", {}, failure.detail),
    h("p", { class: "ui-muted" }, "The plugin refused this page. If a sign-in guards it (an authentication plugin), sign in there, then try again."),
    button("Try again", () => frame.reload(), { icon: "refresh-cw" }));
}

/** The shell URL showing a frame path (`/keyval/x` → `/cpanel/keyval/x`), else the current one. */
function shellUrlOf(failure: Failure): string | undefined {
  return failure.path ? BASE + failure.path.replace(/^\//, "").replace(/#.*$/, "") : undefined;
}

function paintKey() {
  who.textContent = session.key ? `API key ${session.key.slice(0, 8)}…` : "No API key";
  forgetKey.hidden = !session.key;
}

/** Paints the authn part of the top bar; its links come back to the page shown now. */
function paintAccount() {
  account.hidden = !authnLoaded();
  if (account.hidden) return;
  if (authSession) {
    const s = authSession;
    replace(account,
      h("span", { class: "cp-user", "data-testid": "session-user", title: s.user.email ? `Signed in as ${s.user.email}` : "Signed in" }, userLabel(s)),
      h("a", { class: "ui-btn ui-btn-ghost", href: logoutUrl(), title: "Sign out (ends the session)", "data-testid": "session-sign-out" }, icon("log-out"), h("span", {}, "Sign out")));
  } else {
    replace(account,
      h("span", { class: "ui-muted cp-signed-out" }, "Not signed in"),
      h("a", { class: "ui-btn", href: loginUrl(), title: "Sign in, then come back to this page", "data-testid": "session-sign-in" }, icon("log-in"), h("span", {}, "Sign in")));
  }
}

/** Points the top bar's Sign in / Sign out back at the page shown now (the frame moved). */
function relinkAccount() {
  account.querySelector("[data-testid=session-sign-out]")?.setAttribute("href", logoutUrl());
  account.querySelector("[data-testid=session-sign-in]")?.setAttribute("href", loginUrl());
}

let asking: Promise<void> | null = null;

/** Asks authn who is signed in (each shell navigation: a session can end in another tab); one question at a time. */
function refreshAccount(): Promise<void> {
  if (!authnLoaded()) {
    paintAccount();
    return Promise.resolve();
  }
  asking ??= (async () => {
    try {
      authSession = await currentSession();
      if (!authSession) await learnLoginPath();
    } catch {
      // authn could not tell (its store is down): keep what the bar shows.
    }
    paintAccount();
  })().finally(() => {
    asking = null;
  });
  return asking;
}

/** The path below the shell's base: `/cpanel/hello/x` → `hello/x`. */
function relPath(): string {
  const p = location.pathname;
  return p.startsWith(BASE) ? p.slice(BASE.length) : "";
}

function go(href: string) {
  if (href !== location.pathname + location.search + location.hash) history.pushState(null, "", href);
  void render();
}

/** A plugin UI changed its own URL: mirror it in the shell's without a new history entry. */
function onFrameNavigate(path: string) {
  const shellPath = BASE + path.replace(/^\//, "");
  if (shellPath !== location.pathname + location.search + location.hash) history.replaceState(null, "", shellPath);
  nav.activate(location.pathname);
  relinkAccount();
}

let renderCount = 0;
/** `GET /api/plugins/loaded`, asked once at start and again when the plugins change. */
let pluginList: Promise<LoadedPlugin[]> | null = null;

function refreshPlugins(): Promise<LoadedPlugin[]> {
  pluginList = loadedPlugins();
  pluginList.then(configureAuthn, () => {});
  return pluginList;
}

/** The landing page: the deployments file manager when that plugin is loaded, else the overview. */
async function landing(): Promise<string> {
  const list = await (pluginList ?? refreshPlugins()).catch(() => [] as LoadedPlugin[]);
  const base = list.find((p) => p.name === DEPLOYMENTS)?.base;
  return base ? BASE + base.replace(/^\/+/, "") : `${BASE}~/health`;
}

async function render() {
  const rel = relPath();
  if (rel === "") {
    // The shell's root: replaced (not pushed), so Back leaves the shell instead of landing again.
    const at = location.href;
    const to = await landing();
    if (location.href !== at) return; // the user went elsewhere meanwhile
    history.replaceState(null, "", to + location.search + location.hash);
    return render();
  }
  if (rel === "~" || rel === "~/") {
    history.replaceState(null, "", `${BASE}~/health`);
    return render();
  }
  nav.activate(location.pathname);
  void refreshAccount();
  const page = PAGES[rel.replace(/\/+$/, "")];
  if (!page) {
    ++renderCount; // a runtime page still loading must not replace the frame
    document.title = `${rel.split("/")[0]} · Buntime`;
    if (frame.el.parentElement !== content) replace(content, frame.el);
    frame.show(`/${rel}${location.search}${location.hash}`);
    return;
  }
  const mine = ++renderCount;
  frame.reset();
  document.title = `${page.title} · Buntime`;
  content.setAttribute("aria-busy", "true");
  let view: Node;
  try {
    view = await page.render();
  } catch (e) {
    const err = e instanceof ApiError ? e : new ApiError(0, "NETWORK", e instanceof Error ? e.message : String(e));
    // A 401 with authn loaded may be the session that ended: then sign in again and come back.
    if (err.status === 401) {
      await pluginList?.catch(() => {}); // whether authn is loaded
      if (mine === renderCount && (await signInAgainIfExpired())) return;
    }
    view = err.denied
      ? accessDenied(err.message, () => {
          paintKey();
          void render();
        })
      : h("div", { class: "ui-alert", role: "alert" }, h("strong", {}, `${page.title}: `), `${err.message} (${err.code})`);
  }
  if (mine !== renderCount) return; // a later navigation won
  content.removeAttribute("aria-busy");
  replace(content, view);
}

async function loadMenus() {
  try {
    nav.set([...RUNTIME_ITEMS, ...withGroup(menuItems(await (pluginList ?? refreshPlugins()), BASE))]);
  } catch (e) {
    nav.set(RUNTIME_ITEMS);
    content.prepend(h("div", { class: "ui-alert", role: "alert" }, `The plugins' menus could not be loaded: ${e instanceof Error ? e.message : String(e)}`));
  }
  nav.activate(location.pathname);
}

function withGroup(items: NavItem[]): NavItem[] {
  return items.length ? [{ ...items[0]!, group: "Plugins" }, ...items.slice(1)] : items;
}

async function start() {
  const root = h("div", { class: "ui-layout" }, nav.nav,
    h("div", { class: "ui-main" }, h("header", { class: "ui-topbar" }, nav.toggle, h("span", { class: "ui-spacer" }), account, h("span", { class: "cp-key" }, who, forgetKey), themeToggle()), content));
  replace(document.body, h("a", { href: "#content", class: "cp-skip" }, "Skip to content"), root);
  paintKey();
  nav.set(RUNTIME_ITEMS);
  window.addEventListener("popstate", () => void render());
  document.addEventListener("cpanel:plugins-changed", () => {
    refreshPlugins();
    void loadMenus().then(refreshAccount);
  });
  try {
    await discover();
  } catch (e) {
    content.prepend(h("div", { class: "ui-alert", role: "alert" }, `The runtime did not answer /.well-known/buntime: ${e instanceof Error ? e.message : String(e)}`));
  }
  refreshPlugins();
  await Promise.all([loadMenus(), (pluginList ?? Promise.resolve()).catch(() => {}).then(refreshAccount), render()]);
}

void start();
