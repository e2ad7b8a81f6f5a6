/** The navigation sidebar: a nested list of links, the active one marked from the URL, collapsible below 768 px. */
import { h, replace } from "./dom.ts";
import { icon } from "./icons.ts";
import { bestMatch as best, inside } from "./match.ts";

export interface NavItem {
  text: string;
  href: string;
  icon?: string;
  items?: NavItem[];
  /** A heading above this item's group. */
  group?: string;
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
