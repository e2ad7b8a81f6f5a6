/**
 * The frame of a plugin UI served at the plugin's base: a page bar, client-side routing with the
 * History API (which the admin shell mirrors in its own URL), the shared theme, and a page's
 * cleanup when the reader leaves it.
 */
import { h, replace } from "./dom.ts";
import { applyTheme } from "./components.ts";

export interface PageContext {
  /** The path below the base, without slashes at the ends (`apps/todo` for a `*` page). */
  path: string;
  /** The page's query string (`?table=users`). */
  params: URLSearchParams;
  /** Aborted when the reader leaves the page: close streams and timers on it. */
  signal: AbortSignal;
  /** Goes to another page of this UI (`entries?prefix=users`), adding a history entry. */
  navigate(path: string): void;
  /** Rewrites this page's query without a new history entry (a deep link to what is shown). */
  setParams(params: Record<string, string | undefined>): void;
}

export interface PluginPage {
  /** Below the base: `""` for the first page, `entries`, `studio`; `*` for every other path. */
  path: string;
  title: string;
  render(cx: PageContext): Node | Promise<Node>;
}

/** The base the page was served at (`/keyval/`), from the `<base href>` the runtime injects. */
export function basePath(): string {
  return new URL(document.baseURI).pathname.replace(/\/?$/, "/");
}

/** Mounts a plugin UI into `document.body` and renders the page the URL names. */
export function pluginApp(opts: { name: string; pages: PluginPage[] }): void {
  applyTheme();
  // The shell and the plugin UIs are same-origin: a theme picked in one repaints the others.
  addEventListener("storage", (ev: StorageEvent) => {
    if (ev.key === "buntime-theme") applyTheme();
  });
  const base = basePath();
  const links = opts.pages.filter((p) => p.path !== "*").map((p) => h("a", { href: base + p.path, "data-path": p.path }, p.title));
  const bar = h("header", { class: "ui-plugin-bar" },
    h("strong", {}, opts.name),
    h("nav", { "aria-label": `${opts.name} pages`, class: "ui-plugin-nav" }, ...links));
  const content = h("main", { class: "ui-content", id: "content", tabindex: -1 });
  document.body.replaceChildren(bar, content);
  let current: AbortController | null = null;

  const rel = () => {
    const raw = (location.pathname.startsWith(base) ? location.pathname.slice(base.length) : "").replace(/\/+$/, "");
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw; // a malformed escape: the page gets the path as typed
    }
  };

  async function render() {
    current?.abort();
    const controller = new AbortController();
    current = controller;
    const path = rel();
    const page = opts.pages.find((p) => p.path === path) ?? opts.pages.find((p) => p.path === "*");
    for (const a of links) {
      if (a.dataset.path === path) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    document.title = `${page?.title ?? "Not found"} · ${opts.name}`;
    if (!page) {
      replace(content, h("h1", {}, "Not found"), h("p", {}, `This UI has no page at ${location.pathname}.`));
      return;
    }
    content.setAttribute("aria-busy", "true");
    const cx: PageContext = {
      path,
      params: new URLSearchParams(location.search),
      signal: controller.signal,
      navigate,
      setParams(params) {
        const q = new URLSearchParams(location.search);
        for (const [k, v] of Object.entries(params)) if (v === undefined || v === "") q.delete(k); else q.set(k, v);
        const s = q.toString();
        history.replaceState(null, "", location.pathname + (s ? `?${s}` : ""));
      },
    };
    try {
      const node = await page.render(cx);
      if (!controller.signal.aborted) replace(content, node);
    } catch (e) {
      if (!controller.signal.aborted) replace(content, h("h1", {}, page.title), h("div", { class: "ui-alert", role: "alert" }, (e as Error).message));
    } finally {
      if (current === controller) content.removeAttribute("aria-busy");
    }
  }

  function navigate(path: string) {
    const target = new URL(path, location.origin + base).toString();
    if (target !== location.href) history.pushState(null, "", target);
    void render();
  }

  document.addEventListener("click", (ev) => {
    const a = (ev.target as Element | null)?.closest?.("a[href]") as HTMLAnchorElement | null;
    if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey || a.target || a.hasAttribute("download")) return;
    const to = new URL(a.href);
    if (to.origin !== location.origin || !(to.pathname + "/").startsWith(base)) return;
    ev.preventDefault();
    navigate(to.pathname + to.search);
  });
  addEventListener("popstate", () => void render());
  void render();
}
