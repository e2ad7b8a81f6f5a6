/** A tiny element builder: `h("button", { class: "ui-btn", onclick }, "Save")`. */

type Child = Node | string | number | false | null | undefined | Child[];
type Attrs = Record<string, unknown>;

/** Creates an element; `on*` function attributes become listeners, `false`/`null` attributes are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value as EventListener);
    } else if (key === "dataset" && typeof value === "object") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends children (strings become text nodes, never markup). */
export function append(el: Element, children: Child[]): void {
  for (const child of children) {
    if (child === false || child === null || child === undefined) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces every child of `el`. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/**
 * Turns a menu title into a label: an i18n key (`keyval:nav.queueStats`) becomes its last part in
 * words (`Queue stats`); a plain title is kept as authored.
 */
export function label(title: string): string {
  if (!title.includes(":")) return title;
  const last = title.split(/[:.]/).filter(Boolean).pop() ?? title;
  const words = last.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/[-_]+/g, " ").trim().toLowerCase();
  return words ? words[0]!.toUpperCase() + words.slice(1) : title;
}
