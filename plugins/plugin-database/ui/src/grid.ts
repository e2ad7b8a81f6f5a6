/**
 * The studio's rows grid with cell editing: an ARIA grid (arrow keys, Home and End move between
 * cells, one cell in the tab order), where double-click, Enter or F2 opens an editor chosen by
 * the column's declared type. Enter (Ctrl+Enter in a multi-line editor) or leaving the editor
 * saves, Escape cancels. A save is one `UPDATE … WHERE <primary key>`; the row is then read
 * again and the stored value shown. Tables without a primary key, and binary columns, are
 * read-only.
 */
import { cellText, h, replace } from "@buntime/ui";
import { editorText, kindOf, parseInput, truthy, unchanged, type Kind } from "./cells.ts";
import { selectRow, updateCell, type Dialect, type Key, type Stmt } from "./sql.ts";

export interface Column { name: string; type: string; nullable: boolean; pk: boolean }
export type Row = Record<string, unknown>;
export interface QueryResult { rows: Row[]; affectedRows: number }

export interface GridOptions {
  table: string;
  dialect: Dialect;
  columns: Column[];
  rows: Row[];
  /** Why the whole grid is read-only (a view), if it is. */
  readOnly?: string;
  /** Runs one statement through `POST api/query`; throws the API's error. */
  run: (stmt: Stmt) => Promise<QueryResult>;
}

const KIND_TEXT: Record<Kind, string> = {
  boolean: "true/false", integer: "whole number", number: "number", json: "JSON", uuid: "UUID", binary: "binary, read-only", text: "text",
};

export function editableGrid(o: GridOptions): HTMLElement {
  const keys = o.columns.filter((c) => c.pk);
  const kinds = o.columns.map((c) => kindOf(c.type));
  const readOnly = o.readOnly
    ?? (!keys.length ? "This table has no primary key, so its rows are read-only here: a row cannot be picked out safely. Change them with the SQL tab."
      : keys.some((c) => kindOf(c.type) === "binary") ? "This table's primary key is binary, so its rows are read-only here. Change them with the SQL tab." : null);
  const status = h("div", { class: "db-grid-status", role: "status", "aria-live": "polite", "data-testid": "grid-status" });
  const gone = h("div", { class: "ui-alert", role: "alert", hidden: true, "data-testid": "grid-alert" });

  const head = h("thead", {}, h("tr", {}, ...o.columns.map((c, i) => h("th", { scope: "col", role: "columnheader" },
    c.name, h("small", { class: "db-type" }, `${c.type || "any"}${c.pk ? " · key" : ""}`, kinds[i] === "binary" ? " · read-only" : "")))));
  const body = h("tbody", {});
  const table = h("table", { class: "ui-table db-grid", role: "grid", "aria-label": `Rows of ${o.table}`, "aria-readonly": readOnly ? "true" : false }, head, body);
  let current: HTMLTableCellElement | null = null;

  function cellReadOnly(td: HTMLTableCellElement): string | null {
    if (readOnly) return readOnly;
    if (td.parentElement!.dataset.gone) return "This row is gone from the table.";
    const c = o.columns[td.cellIndex]!;
    return kinds[td.cellIndex] === "binary" ? `${c.name} is binary (${c.type}): its values are read-only here.` : null;
  }

  function paint(td: HTMLTableCellElement, value: unknown) {
    const span = h("span", { class: value === null || value === undefined ? "ui-null" : "ui-cell" }, cellText(value));
    replace(td, span);
  }

  function renderRow(tr: HTMLTableRowElement, row: Row) {
    o.columns.forEach((c, i) => {
      const td = tr.cells[i]!;
      if (!td.querySelector(".db-editor")) paint(td, row[c.name]);
    });
  }

  const rowData = new WeakMap<HTMLTableRowElement, Row>();
  for (const row of o.rows) {
    const tr = h("tr", {});
    rowData.set(tr, row);
    o.columns.forEach((c, i) => {
      const ro = readOnly ?? (kinds[i] === "binary" ? `${c.name} is binary (${c.type}): its values are read-only here.` : null);
      tr.append(h("td", { role: "gridcell", tabindex: -1, "data-label": c.name, "data-column": c.name, "aria-readonly": ro ? "true" : false, title: ro ?? false }));
    });
    renderRow(tr, row);
    body.append(tr);
  }
  if (!o.rows.length) body.append(h("tr", {}, h("td", { colspan: o.columns.length || 1, class: "ui-empty" }, "No rows.")));

  function focusCell(td: HTMLTableCellElement | null | undefined) {
    if (!td || td.getAttribute("role") !== "gridcell") return;
    if (current) current.tabIndex = -1;
    current = td;
    td.tabIndex = 0;
    td.focus();
  }
  const first = body.querySelector<HTMLTableCellElement>("td[role=gridcell]");
  if (first) {
    first.tabIndex = 0;
    current = first;
  }

  table.addEventListener("click", (ev) => {
    const td = (ev.target as Element).closest<HTMLTableCellElement>("td[role=gridcell]");
    if (td && !td.querySelector(".db-editor")) focusCell(td);
  });
  table.addEventListener("dblclick", (ev) => {
    const td = (ev.target as Element).closest<HTMLTableCellElement>("td[role=gridcell]");
    if (td && !(ev.target as Element).closest(".db-editor")) edit(td);
  });
  table.addEventListener("keydown", (ev) => {
    const td = ev.target as HTMLTableCellElement;
    if (td.tagName !== "TD" || td.getAttribute("role") !== "gridcell") return;
    const tr = td.parentElement as HTMLTableRowElement;
    const rowsEls = Array.from(body.rows);
    const r = rowsEls.indexOf(tr);
    const move: Record<string, () => HTMLTableCellElement | undefined> = {
      ArrowRight: () => tr.cells[td.cellIndex + 1],
      ArrowLeft: () => tr.cells[td.cellIndex - 1],
      ArrowDown: () => rowsEls[r + 1]?.cells[td.cellIndex],
      ArrowUp: () => rowsEls[r - 1]?.cells[td.cellIndex],
      Home: () => (ev.ctrlKey ? rowsEls[0]?.cells[0] : tr.cells[0]),
      End: () => (ev.ctrlKey ? rowsEls.at(-1)?.cells[o.columns.length - 1] : tr.cells[tr.cells.length - 1]),
    };
    if (move[ev.key]) {
      ev.preventDefault();
      focusCell(move[ev.key]!());
    } else if (ev.key === "Enter" || ev.key === "F2") {
      ev.preventDefault();
      edit(td);
    }
  });

  /** Opens the editor of `td`'s column in `td`. */
  function edit(td: HTMLTableCellElement) {
    const why = cellReadOnly(td);
    if (why) {
      status.textContent = why;
      return;
    }
    if (td.querySelector(".db-editor")) return;
    focusCell(td);
    const tr = td.parentElement as HTMLTableRowElement;
    const i = td.cellIndex;
    const column = o.columns[i]!;
    const kind = kinds[i]!;
    const stored = rowData.get(tr)![column.name];
    const name = `New value of ${column.name}`;
    const multiline = kind === "json" || (kind === "text" && typeof stored === "string" && stored.includes("\n"));

    let control: HTMLInputElement | HTMLTextAreaElement;
    if (kind === "boolean") {
      control = h("input", { type: "checkbox", "aria-label": name });
      (control as HTMLInputElement).checked = truthy(stored);
    } else if (multiline) {
      control = h("textarea", { class: "ui-input", rows: kind === "json" ? 5 : 3, spellcheck: "false", "aria-label": name });
      control.value = editorText(kind, stored);
    } else {
      const attrs: Record<string, unknown> = { class: "ui-input", "aria-label": name, autocomplete: "off", spellcheck: "false" };
      if (kind === "integer") Object.assign(attrs, { type: "number", step: "1", inputmode: "numeric" });
      else if (kind === "number") Object.assign(attrs, { type: "number", step: "any", inputmode: "decimal" });
      else Object.assign(attrs, { type: "text" });
      if (kind === "uuid") Object.assign(attrs, { placeholder: "00000000-0000-0000-0000-000000000000", pattern: "[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", maxlength: 36 });
      control = h("input", attrs);
      control.value = editorText(kind, stored);
    }
    const nullBox = column.nullable && !column.pk ? h("input", { type: "checkbox" }) : null;
    if (nullBox) {
      nullBox.checked = stored === null || stored === undefined;
      control.disabled = nullBox.checked;
      nullBox.addEventListener("change", () => {
        control.disabled = nullBox.checked;
        if (!nullBox.checked) control.focus();
      });
    }
    const problem = h("div", { class: "db-cell-error", role: "alert", hidden: true, "data-testid": "cell-error" });
    const save = h("button", { type: "button", class: "ui-btn ui-btn-primary db-small" }, "Save");
    const cancel = h("button", { type: "button", class: "ui-btn db-small" }, "Cancel");
    const editor = h("div", { class: "db-editor", role: "group", "aria-label": `Edit ${column.name}`, "data-kind": kind },
      control,
      nullBox ? h("label", { class: "db-null" }, nullBox, "NULL") : null,
      h("small", { class: "ui-hint" }, `${KIND_TEXT[kind]} · ${multiline ? "Ctrl+Enter" : "Enter"} saves, Escape cancels`),
      h("div", { class: "db-editor-actions" }, save, cancel),
      problem);
    replace(td, editor);
    td.classList.add("db-editing");
    let busy = false;
    let closed = false;

    const say = (message: string | null) => {
      problem.textContent = message ?? "";
      problem.hidden = !message;
    };
    const close = (focus: boolean) => {
      closed = true;
      td.classList.remove("db-editing");
      paint(td, rowData.get(tr)![column.name]);
      if (focus) focusCell(td);
    };
    const lock = (on: boolean) => {
      busy = on;
      for (const el of [control, nullBox, save, cancel]) if (el) el.disabled = on || (el === control && !!nullBox?.checked);
      td.setAttribute("aria-busy", String(on));
      if (!on) td.removeAttribute("aria-busy");
    };

    async function commit(focusAfter: boolean) {
      if (busy || closed) return;
      const parsed = nullBox?.checked ? { ok: true as const, value: null } : parseInput(kind, kind === "boolean" ? (control as HTMLInputElement).checked : control.value);
      if (!parsed.ok) {
        say(parsed.error);
        return;
      }
      const before = rowData.get(tr)!;
      if (unchanged(kind, before[column.name], parsed.value)) {
        close(focusAfter);
        return;
      }
      const key: Key = keys.map((k) => [k.name, before[k.name]] as const);
      // Editing a key column moves the row: it is read again by its new key.
      const newKey: Key = keys.map((k) => [k.name, k.name === column.name ? parsed.value : before[k.name]] as const);
      lock(true);
      say(null);
      status.textContent = `Saving ${column.name}…`;
      try {
        const res = await o.run(updateCell(o.dialect, o.table, column.name, parsed.value, key));
        let found = (await o.run(selectRow(o.dialect, o.table, res.affectedRows === 1 ? newKey : key))).rows;
        if (res.affectedRows !== 1 && !found.length && column.pk) found = (await o.run(selectRow(o.dialect, o.table, newKey))).rows;
        const row = found[0];
        // MySQL counts changed rows: an update to the value already stored reports 0.
        const saved = res.affectedRows === 1 || (res.affectedRows === 0 && found.length === 1 && unchanged(kind, row![column.name], parsed.value));
        if (row) {
          rowData.set(tr, row);
          renderRow(tr, row);
        }
        lock(false);
        if (saved && row) {
          close(focusAfter);
          status.textContent = `Saved ${column.name}: the database now holds ${cellText(row[column.name])}.`;
        } else if (row) {
          const msg = `Not saved: ${res.affectedRows} rows were updated, so the row changed or is gone. It was read again: ${column.name} is now ${cellText(row[column.name])}.`;
          say(msg);
          status.textContent = msg;
        } else {
          close(false);
          tr.dataset.gone = "true";
          tr.classList.add("db-gone");
          for (const cell of Array.from(tr.cells)) cell.setAttribute("aria-readonly", "true");
          gone.textContent = `Not saved: ${res.affectedRows} rows were updated and the row is no longer there (deleted, or its key changed). Reload the page to see the table as it is now.`;
          gone.hidden = false;
          status.textContent = "";
          if (focusAfter) focusCell(td);
        }
      } catch (e) {
        lock(false);
        say((e as Error).message);
        status.textContent = `Not saved: ${(e as Error).message}`;
        if (focusAfter) control.disabled ? nullBox?.focus() : control.focus();
      }
    }

    editor.addEventListener("keydown", (ev) => {
      ev.stopPropagation(); // the grid's own keys (arrows, Enter) are not for the editor
      if (ev.key === "Escape") {
        ev.preventDefault();
        if (!busy) {
          close(true);
          status.textContent = `Edit of ${column.name} cancelled.`;
        }
      } else if (ev.key === "Enter" && (ev.target as Element).tagName !== "BUTTON" && (!(ev.target instanceof HTMLTextAreaElement) || ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        void commit(true);
      }
    });
    editor.addEventListener("dblclick", (ev) => ev.stopPropagation());
    editor.addEventListener("focusout", (ev) => {
      const next = ev.relatedTarget as Node | null;
      if (next && editor.contains(next)) return;
      // Leaving the editor saves, unless it was left by cancelling.
      setTimeout(() => {
        if (!closed && !editor.contains(document.activeElement)) void commit(false);
      }, 0);
    });
    save.addEventListener("click", () => void commit(true));
    cancel.addEventListener("mousedown", (ev) => ev.preventDefault()); // keep focus: no save on the way to Cancel
    cancel.addEventListener("click", () => {
      if (!busy) close(true);
    });
    (control.disabled ? nullBox! : control).focus();
    if (control instanceof HTMLInputElement && control.type !== "checkbox") control.select();
  }

  return h("div", {},
    readOnly ? h("p", { class: "db-note", role: "note", "data-testid": "read-only-note" }, readOnly)
      : h("p", { class: "ui-hint db-note" }, "Double-click a cell, or press Enter on it, to edit it; Escape cancels, Enter or leaving the editor saves. Arrow keys move between cells."),
    gone, status,
    h("div", { class: "ui-table-wrap" }, table));
}
