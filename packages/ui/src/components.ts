/** Keyboard-accessible components on native elements: button, field, table, dialog, toast, tabs, theme toggle. */
import { h, replace } from "./dom.ts";
import { icon } from "./icons.ts";

export type Variant = "primary" | "danger" | "ghost" | "default";

/** A `<button type="button">` with an optional icon. */
export function button(text: string, onClick: (ev: MouseEvent) => void, opts: { variant?: Variant; icon?: string; type?: "button" | "submit"; title?: string; label?: string } = {}): HTMLButtonElement {
  const cls = `ui-btn${opts.variant && opts.variant !== "default" ? ` ui-btn-${opts.variant}` : ""}`;
  // `label`: the accessible name when the text alone is ambiguous (one "Edit" per table row).
  return h("button", { type: opts.type ?? "button", class: cls, title: opts.title, "aria-label": opts.label, onclick: onClick }, opts.icon ? icon(opts.icon) : null, h("span", {}, text));
}

/** A labelled form control; `control` gets an id so the label points at it. */
export function field(text: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLElement {
  control.id ||= `f-${Math.random().toString(36).slice(2, 9)}`;
  control.classList.add("ui-input");
  return h("div", { class: "ui-field" }, h("label", { for: control.id }, text), control, hint ? h("small", { class: "ui-hint" }, hint) : null);
}

/** A `<select>` of `[value, text]` pairs. */
export function select(name: string, options: Array<[string, string]>, value?: string): HTMLSelectElement {
  return h("select", { name }, ...options.map(([v, t]) => h("option", { value: v, selected: v === value }, t)));
}

export interface Column<T> {
  title: string;
  cell: (row: T) => Node | string;
}

/** A table in a horizontally scrolling wrapper (usable at 375 px), with a row for "nothing here". */
export function table<T>(columns: Column<T>[], rows: T[], empty = "Nothing here yet."): HTMLElement {
  const head = h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { scope: "col" }, c.title))));
  const body = h("tbody", {}, ...(rows.length
    ? rows.map((r) => h("tr", {}, ...columns.map((c) => h("td", { "data-label": c.title }, c.cell(r)))))
    : [h("tr", {}, h("td", { colspan: columns.length, class: "ui-empty" }, empty))]));
  return h("div", { class: "ui-table-wrap", tabindex: 0 }, h("table", { class: "ui-table" }, head, body));
}

let dialogCount = 0;

/**
 * Shows a modal `<dialog>` (focus is trapped and Escape closes it, natively) and resolves with the
 * value of the action chosen, or `null` when dismissed. With `onSubmit`, an action other than
 * `cancel` runs it first: a message it returns is shown in the dialog, which stays open.
 */
export function dialog(title: string, body: Node, actions: Array<{ text: string; value: string; variant?: Variant }>, opts: { onSubmit?: (value: string) => Promise<string | null | void> | string | null | void } = {}): Promise<string | null> {
  return new Promise((resolve) => {
    const titleId = `ui-dialog-${++dialogCount}`;
    const problem = h("div", { class: "ui-alert", role: "alert", hidden: true });
    const choose = async (value: string, btn: HTMLButtonElement) => {
      if (opts.onSubmit && value !== "cancel") {
        btn.disabled = true;
        try {
          const message = await opts.onSubmit(value);
          if (message) {
            problem.textContent = message;
            problem.hidden = false;
            return;
          }
        } catch (e) {
          problem.textContent = (e as Error).message;
          problem.hidden = false;
          return;
        } finally {
          btn.disabled = false;
        }
      }
      d.close(value);
    };
    const d = h("dialog", { class: "ui-dialog", "aria-labelledby": titleId },
      h("h2", { id: titleId }, title), body, problem,
      h("div", { class: "ui-actions" }, ...actions.map((a) => {
        const btn: HTMLButtonElement = button(a.text, () => void choose(a.value, btn), { variant: a.variant });
        return btn;
      })));
    d.addEventListener("close", () => {
      d.remove();
      resolve(d.returnValue || null);
    });
    document.body.append(d);
    d.showModal();
  });
}

/** Shows a message in the page's live region for a few seconds (errors stay until dismissed). */
export function toast(message: string, kind: "info" | "error" | "ok" = "info"): HTMLElement {
  let region = document.getElementById("ui-toasts");
  if (!region) {
    region = h("div", { id: "ui-toasts", class: "ui-toasts", role: "status", "aria-live": "polite" });
    document.body.append(region);
  }
  const item = h("div", { class: `ui-toast ui-toast-${kind}` }, h("span", {}, message),
    h("button", { type: "button", class: "ui-btn ui-btn-ghost", "aria-label": "Dismiss", onclick: () => item.remove() }, icon("x")));
  region.append(item);
  if (kind !== "error") setTimeout(() => item.remove(), 5000);
  return item;
}

let tabsCount = 0;

/**
 * Tabs with the WAI-ARIA pattern: arrow keys, Home and End move between tabs; only the selected
 * tab is in the tab order.
 */
export function tabs(items: Array<{ id: string; text: string; render: () => Node }>, selected = items[0]?.id): HTMLElement {
  const prefix = `ui-tabs-${++tabsCount}`; // ids stay unique with several tab sets on a page
  const list = h("div", { role: "tablist", class: "ui-tabs" });
  const panel = h("div", { role: "tabpanel", class: "ui-tabpanel", tabindex: 0, id: `${prefix}-panel` });
  const buttons = items.map((item) => h("button", {
    type: "button", role: "tab", id: `${prefix}-${item.id}`, "aria-controls": `${prefix}-panel`,
    onclick: () => choose(item.id, false),
  }, item.text));
  function choose(id: string, focus: boolean) {
    items.forEach((item, i) => {
      const on = item.id === id;
      buttons[i]!.setAttribute("aria-selected", String(on));
      buttons[i]!.tabIndex = on ? 0 : -1;
      if (on) {
        panel.setAttribute("aria-labelledby", `${prefix}-${id}`);
        replace(panel, item.render());
        if (focus) buttons[i]!.focus();
      }
    });
  }
  list.addEventListener("keydown", (ev) => {
    const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (i < 0) return;
    const next = ev.key === "ArrowRight" ? i + 1 : ev.key === "ArrowLeft" ? i - 1 : ev.key === "Home" ? 0 : ev.key === "End" ? buttons.length - 1 : null;
    if (next === null) return;
    ev.preventDefault();
    choose(items[(next + buttons.length) % buttons.length]!.id, true);
  });
  list.append(...buttons);
  if (selected) choose(selected, false);
  return h("div", {}, list, panel);
}

type Theme = "system" | "light" | "dark";
const THEME_KEY = "buntime-theme";

/** Applies the saved theme (`system` follows `prefers-color-scheme`). Call before first paint. */
export function applyTheme(theme: Theme = (localStorage.getItem(THEME_KEY) as Theme | null) ?? "system"): Theme {
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  return theme;
}

/** A button cycling system → light → dark, remembered in localStorage. */
export function themeToggle(): HTMLButtonElement {
  const order: Theme[] = ["system", "light", "dark"];
  const names = { system: "System theme", light: "Light theme", dark: "Dark theme" };
  const glyph = { system: "sun-moon", light: "sun", dark: "moon" };
  let current = applyTheme();
  const btn = h("button", { type: "button", class: "ui-btn ui-btn-ghost ui-theme" });
  const paint = () => {
    btn.title = btn.ariaLabel = `${names[current]} (change)`;
    replace(btn, icon(glyph[current]));
  };
  btn.addEventListener("click", () => {
    current = order[(order.indexOf(current) + 1) % order.length]!;
    localStorage.setItem(THEME_KEY, current);
    applyTheme(current);
    paint();
  });
  paint();
  return btn;
}

/** A cell's text: `NULL` for null, JSON for objects and arrays, the value itself otherwise. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/**
 * A results grid for rows of any shape (SQL results, JSON lists): one column per key, in the
 * order `columns` gives or the first row's; nulls are marked, long values wrap inside their cell.
 */
export function grid(rows: Array<Record<string, unknown>>, columns: string[] = Object.keys(rows[0] ?? {}), empty = "No rows."): HTMLElement {
  return table(columns.map((c) => ({
    title: c,
    cell: (r: Record<string, unknown>) => {
      const v = r[c];
      return h("span", { class: v === null || v === undefined ? "ui-null" : "ui-cell" }, cellText(v));
    },
  })), rows, empty);
}

/** Pretty JSON in a `<pre>`. */
export function json(value: unknown, attrs: Record<string, unknown> = {}): HTMLPreElement {
  return h("pre", { class: "ui-json", ...attrs }, JSON.stringify(value, null, 2));
}
