/**
 * A plugin's UI embedded same-origin at its base, with its route kept in step with the shell's
 * URL both ways, and its failures shown in the frame's place instead of a blank page.
 */
import { h, replace } from "@buntime/ui";

/** How long a plugin UI may take to load before the frame says so. */
const LOAD_TIMEOUT_MS = 15_000;

/** Reason phrases for the statuses a plugin UI most often answers with. */
const REASONS: Record<number, string> = { 404: "Not Found", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout" };

/** Why the frame shows no plugin page; `path` is the frame's own (`/keyval/x?y`) when it loaded one. */
export type Failure = { status: number; title: string; detail: string; path?: string };

/**
 * Hooks of the shell's sign-in. An auth gate answers a signed-out page load with a redirect to its
 * login page, which either refuses to be framed (the frame then holds an unreadable error page) or
 * shows, signed out, inside the shell. `isLoginRedirect` tells whether a page the frame was
 * redirected to is such a login page; `signInNeeded` then decides (asynchronously: is the session
 * gone?) and answers `true` when it took the whole tab to sign in, to come back to `wanted` (the
 * frame's path) after it.
 */
export interface SignInHooks {
  isLoginRedirect(url: URL): boolean;
  signInNeeded(wanted: string, login: URL | null): Promise<boolean>;
}

/** Reads an error page's message: a JSON `message`/`error`, else the first lines of its text. */
function messageOf(doc: Document): string {
  const text = (doc.body?.innerText ?? "").trim();
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (typeof o.message === "string") return o.message;
    if (typeof o.error === "string") return o.error;
  } catch {
    // An HTML or text error page.
  }
  return text.slice(0, 400);
}

export class PluginFrame {
  readonly el = h("div", { class: "cp-frame" });
  private iframe: HTMLIFrameElement | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The path the shell last asked the frame to show. */
  private requested: string | null = null;

  /**
   * `onNavigate` gets the frame's own path (`/keyval/entries?x=1`) whenever it changes inside the
   * frame (a link, `pushState`, the back button); `onDenied` renders a 401/403 in the frame's place.
   */
  constructor(
    private readonly onNavigate: (path: string) => void,
    private readonly onDenied: (into: HTMLElement, failure: Failure) => void,
    private readonly signIn?: SignInHooks,
  ) {}

  /** Drops the frame when the shell shows one of its own pages (a re-attached iframe would reload). */
  reset() {
    clearTimeout(this.timer);
    this.requested = null;
    this.iframe = null;
    this.el.replaceChildren();
  }

  /** Loads the frame's page again (after signing in elsewhere, say). */
  reload() {
    try {
      this.iframe?.contentWindow?.location.reload();
    } catch {
      // The browser's own error page: start over with a fresh frame.
      const src = this.iframe?.src;
      this.reset();
      if (src) this.show(new URL(src).pathname);
    }
  }

  /** Shows `target` (`/hello/x`): reuses the loaded frame without adding a history entry. */
  show(target: string) {
    const current = this.currentPath();
    this.requested = target;
    if (this.iframe && current === target) return;
    if (this.iframe && current !== null) {
      // `replace`: the shell already pushed this entry; a second one would make Back need two presses.
      this.iframe.contentWindow!.location.replace(target);
      this.arm(target);
      return;
    }
    this.iframe = h("iframe", {
      class: "cp-iframe",
      title: `Plugin UI ${target}`,
      src: target,
      // No allow-top-navigation: a plugin UI cannot take the shell's place.
      sandbox: "allow-scripts allow-same-origin allow-forms allow-popups allow-modals allow-downloads",
    });
    this.iframe.addEventListener("load", () => this.loaded(target));
    replace(this.el, this.iframe);
    this.arm(target);
  }

  private arm(target: string) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fail({ status: 0, title: "The plugin's UI did not load", detail: `${target} did not finish loading within ${LOAD_TIMEOUT_MS / 1000} s.` }), LOAD_TIMEOUT_MS);
  }

  /** The frame's path, or `null` when there is no frame or it shows a page we cannot read. */
  private currentPath(): string | null {
    try {
      const loc = this.iframe?.contentWindow?.location;
      return loc && loc.href !== "about:blank" ? loc.pathname + loc.search + loc.hash : null;
    } catch {
      return null;
    }
  }

  private loaded(target: string) {
    clearTimeout(this.timer);
    const frame = this.iframe;
    let win: Window;
    try {
      win = frame!.contentWindow!;
      void win.document.body; // throws when the frame holds the browser's own error page (not same-origin)
    } catch {
      const failure = { status: 0, title: "The plugin's UI could not be loaded", detail: `${this.requested ?? target} could not be reached.` };
      if (!this.signIn) return this.fail(failure);
      // Maybe a login page that refuses framing (`frame-ancestors 'none'`): ask before saying so.
      void this.signIn.signInNeeded(this.requested ?? target, null).then((left) => {
        if (!left && this.iframe === frame) this.fail(failure);
      });
      return;
    }
    const nav = win.performance.getEntriesByType("navigation")[0] as (PerformanceNavigationTiming & { responseStatus?: number }) | undefined;
    const status = nav?.responseStatus ?? 200;
    const path = win.location.pathname + win.location.search + win.location.hash;
    if (status >= 400) {
      const detail = messageOf(win.document);
      const title = status === 401 || status === 403 ? "Access denied" : `The plugin's UI answered ${status}`;
      this.fail({ path, status, title, detail: detail || `${win.location.pathname} answered ${status}${REASONS[status] ? ` ${REASONS[status]}` : ""}.${status === 404 ? " The plugin lists this page in its menus but serves nothing there." : ""}` });
      return;
    }
    // An auth gate answers a signed-out page load with a redirect to its login page (which would
    // otherwise show, signed out, inside the shell): the shell may send the whole tab there.
    const landed = new URL(win.location.href);
    if ((nav?.redirectCount ?? 0) > 0 && this.signIn?.isLoginRedirect(landed)) {
      const doc = win.document;
      const wanted = landed.searchParams.get("redirect") ?? this.requested ?? target;
      void this.signIn.signInNeeded(wanted, landed).then((left) => {
        // Still this page in this frame: treat it as any other page after all.
        if (!left && this.iframe === frame && win.document === doc) this.watch(win);
      });
      return;
    }
    this.watch(win);
  }

  /** Hears the loaded page's own navigation and reports its path to the shell. */
  private watch(win: Window) {
    this.el.querySelector(".cp-frame-error")?.remove();
    const report = () => {
      const path = this.currentPath();
      if (path !== null) this.onNavigate(path);
    };
    // Single-page plugin UIs change their URL with the History API: hear every change.
    for (const method of ["pushState", "replaceState"] as const) {
      const original = win.history[method].bind(win.history);
      win.history[method] = (...args: Parameters<History["pushState"]>) => {
        original(...args);
        report();
      };
    }
    win.addEventListener("popstate", report);
    win.addEventListener("hashchange", report);
    report();
  }

  private fail(failure: Failure) {
    clearTimeout(this.timer);
    const box = h("div", { class: "cp-frame-error", role: "alert" });
    if (failure.status === 401 || failure.status === 403) this.onDenied(box, failure);
    else replace(box, h("h2", {}, failure.title), h("p", {}, failure.detail));
    // Keep the iframe (its history entries stay valid) but cover it with the explanation.
    this.el.querySelector(".cp-frame-error")?.remove();
    this.el.append(box);
  }
}
