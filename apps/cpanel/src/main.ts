/** The admin shell: sidebar from the plugins' menus, the runtime's pages, plugin UIs in a frame. */
import "@buntime/ui/ui.css";
import "./cpanel.css";
import { applyTheme, button, h, replace, sidebar, themeToggle, type NavItem } from "@buntime/ui";
import { ApiError, discover, session } from "./api.ts";
import { PluginFrame } from "./frame.ts";
import { loadedPlugins, menuItems } from "./plugins.ts";
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

const content = h("main", { class: "ui-content", id: "content", tabindex: -1 });
const nav = sidebar(h("span", {}, "Buntime"), (href) => go(href));
const signOut = button("Sign out", () => {
  session.signOut();
  paintSession();
  void render();
}, { variant: "ghost", icon: "log-out" });
const who = h("span", { class: "ui-muted cp-who" });
// A plugin UI is not an API route: an API key does not open it (it never skips plugin hooks), so
// the frame's denial points at the plugin's own sign-in instead of the key form.
const frame = new PluginFrame(onFrameNavigate, (box, failure) => replace(box,
  h("h2", {}, "Access denied"),
  h("p", {}, failure.detail),
  h("p", { class: "ui-muted" }, "The plugin refused this page. If a sign-in guards it (an authentication plugin), sign in there, then try again."),
  button("Try again", () => frame.reload(), { icon: "refresh-cw" })));

function paintSession() {
  who.textContent = session.key ? `Signed in with ${session.key.slice(0, 8)}…` : "Not signed in";
  signOut.hidden = !session.key;
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
}

let renderCount = 0;

async function render() {
  const rel = relPath();
  if (rel === "" || rel === "~" || rel === "~/") {
    history.replaceState(null, "", `${BASE}~/health`);
    return render();
  }
  nav.activate(location.pathname);
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
    view = err.denied
      ? accessDenied(err.message, () => {
          paintSession();
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
    nav.set([...RUNTIME_ITEMS, ...withGroup(menuItems(await loadedPlugins(), BASE))]);
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
    h("div", { class: "ui-main" }, h("header", { class: "ui-topbar" }, nav.toggle, h("span", { class: "ui-spacer" }), who, signOut, themeToggle()), content));
  replace(document.body, h("a", { href: "#content", class: "cp-skip" }, "Skip to content"), root);
  paintSession();
  nav.set(RUNTIME_ITEMS);
  window.addEventListener("popstate", () => void render());
  document.addEventListener("cpanel:plugins-changed", () => void loadMenus());
  try {
    await discover();
  } catch (e) {
    content.prepend(h("div", { class: "ui-alert", role: "alert" }, `The runtime did not answer /.well-known/buntime: ${e instanceof Error ? e.message : String(e)}`));
  }
  await Promise.all([loadMenus(), render()]);
}

void start();
