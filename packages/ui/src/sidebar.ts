/** The navigation sidebar: a nested list of links, the active one marked from the URL, collapsible below 768 px. */
import { h, replace } from "./dom.ts";
import { icon } from "./icons.ts";

export interface NavItem {
  text: string;
  href: string;
  icon?: string;
  items?: NavItem[];
  /** A heading above this item's group. */
  group?: string;
}

/** Returns whether `path` is `href` or below it (`/a/b` is inside `/a`, `/ab` is not). */
function inside(path: string, href: string): boolean {
  const base = href.replace(/\/+$/, "");
  return path === base || path === `${base}/` || path.startsWith(`${base}/`);
}

/** Returns the href of the item that best matches `path`: the longest one containing it. */
function best(items: NavItem[], path: string): string | null {
  let found: string | null = null;
  const walk = (list: NavItem[]) => {
    for (const item of list) {
      if (inside(path, item.href) && (!found || item.href.length > found.length)) found = item.href;
      if (item.items) walk(item.items);
    }
  };
  walk(items);
  return found;
}

/**
 * Builds the sidebar. Links are ordinary `<a href>` (so they work with the keyboard, middle click
 * and without script); `onNavigate` gets plain left clicks so the shell can route without a reload.
 */
export function sidebar(title: Node | string, onNavigate: (href: string) => void) {
  const list = h("ul", { class: "ui-nav" });
  const toggle = h("button", { type: "button", class: "ui-btn ui-btn-ghost ui-nav-toggle", "aria-expanded": "false", "aria-controls": "ui-sidebar", "aria-label": "Menu" }, icon("menu"));
  const nav = h("nav", { id: "ui-sidebar", class: "ui-sidebar", "aria-label": "Main" }, h("div", { class: "ui-brand" }, title), list);
  let items: NavItem[] = [];
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("ui-open", open);
  });
  nav.addEventListener("click", (ev) => {
    const a = (ev.target as Element).closest("a");
    if (!a || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    toggle.setAttribute("aria-expanded", "false");
    nav.classList.remove("ui-open");
    onNavigate(a.getAttribute("href")!);
  });
  const render = (list: NavItem[]): HTMLLIElement[] => list.flatMap((item) => {
    const li = h("li", {}, h("a", { href: item.href }, icon(item.icon), h("span", {}, item.text)),
      item.items?.length ? h("ul", {}, ...render(item.items)) : null);
    return item.group ? [h("li", { class: "ui-nav-group", role: "presentation" }, item.group), li] : [li];
  });
  return {
    nav,
    toggle,
    /** Replaces the items. */
    set(next: NavItem[]) {
      items = next;
      replace(list, ...render(items));
    },
    /** Marks the item for `path` (`aria-current="page"`) and its parents (`ui-trail`). */
    activate(path: string) {
      const href = best(items, path);
      for (const a of Array.from(list.querySelectorAll("a"))) {
        const own = a.getAttribute("href")!;
        a.toggleAttribute("aria-current", own === href);
        if (own === href) a.setAttribute("aria-current", "page");
        a.classList.toggle("ui-trail", own !== href && href !== null && inside(href, own));
      }
    },
  };
}
