/**
 * Studio: the tables of an adapter's root database (or a tenant's), a table's schema and its rows
 * page by page, and a SQL console whose results show in a grid with their timing.
 */
import { button, field, grid, h, replace, request, select, table, tabs, query, type PageContext, type PluginPage } from "@buntime/ui";
import { editableGrid, type Column, type QueryResult } from "../grid.ts";
import { dialectOf, type Stmt } from "../sql.ts";

interface Adapters { adapters: string[]; default: string }
interface Tables { tables: Array<{ name: string; type: string }> }
interface Rows { rows: Array<Record<string, unknown>>; total: number; limit: number; offset: number }
interface Result { duration: number; rowCount: number; rows: Array<Record<string, unknown>>; affectedRows: number; lastInsertRowid: number | null }

const PAGE = 50;

function schemaView(columns: Column[]): HTMLElement {
  return table([
    { title: "Column", cell: (c: Column) => h("code", {}, c.name) },
    { title: "Type", cell: (c: Column) => c.type || "—" },
    { title: "Null", cell: (c: Column) => (c.nullable ? "yes" : "no") },
    { title: "Key", cell: (c: Column) => (c.pk ? "primary" : "") },
  ], columns, "No columns.");
}

/** Runs one statement with arguments on the studio's adapter and tenant. */
function runner(base: Record<string, string | undefined>): (stmt: Stmt) => Promise<QueryResult> {
  return (stmt) => request<QueryResult>("api/query", { method: "POST", json: { sql: stmt.sql, args: stmt.args, ...(base.type ? { type: base.type } : {}), ...(base.tenant ? { tenant: base.tenant } : {}) } });
}

/** The rows of `name`, `PAGE` at a time, with Previous/Next, in a grid whose cells can be edited. */
function rowsView(base: Record<string, string | undefined>, name: string, columns: Column[], start: number, view: boolean): HTMLElement {
  const box = h("div", {}, h("p", { class: "ui-muted" }, "Loading…"));
  async function show(offset: number) {
    const r = await request<Rows>(`api/tables/${encodeURIComponent(name)}/rows${query({ ...base, limit: PAGE, offset })}`);
    const last = Math.min(r.offset + r.rows.length, r.total);
    const prev = button("Previous", () => void show(Math.max(0, offset - PAGE)));
    const next = button("Next", () => void show(offset + PAGE));
    prev.disabled = offset === 0;
    next.disabled = last >= r.total;
    replace(box,
      h("div", { class: "ui-toolbar" }, h("span", { "data-testid": "row-range" }, r.total ? `Rows ${r.offset + 1}–${last} of ${r.total}` : "No rows"), prev, next),
      editableGrid({
        table: name, dialect: dialectOf(base.type ?? ""), columns, rows: r.rows, run: runner(base),
        readOnly: view ? "This is a view, so its rows are read-only here." : undefined,
      }));
  }
  show(start).catch((e) => replace(box, h("div", { class: "ui-alert", role: "alert" }, (e as Error).message)));
  return box;
}

/** The SQL console: Run (or Ctrl+Enter) sends the statement; the grid and timing show below. */
function consoleView(base: Record<string, string | undefined>, initial: string, onRun: (sql: string) => void): HTMLElement {
  const sql = h("textarea", { name: "sql", rows: 6, spellcheck: "false", "aria-describedby": "sql-hint" });
  sql.value = initial;
  const out = h("div", { "aria-live": "polite" });
  async function run() {
    if (!sql.value.trim()) return;
    onRun(sql.value);
    replace(out, h("p", { class: "ui-muted" }, "Running…"));
    const started = performance.now();
    try {
      const r = await request<Result>("api/query", { method: "POST", json: { sql: sql.value, ...(base.type ? { type: base.type } : {}), ...(base.tenant ? { tenant: base.tenant } : {}) } });
      const total = performance.now() - started;
      replace(out,
        h("p", { "data-testid": "timing" }, `${r.rowCount} row${r.rowCount === 1 ? "" : "s"}`,
          r.affectedRows ? `, ${r.affectedRows} affected` : "",
          ` · ${r.duration.toFixed(1)} ms in the database, ${total.toFixed(0)} ms round trip`),
        r.rows.length ? grid(r.rows) : h("p", { class: "ui-muted" }, "The statement returned no rows."));
    } catch (e) {
      replace(out, h("div", { class: "ui-alert", role: "alert", "data-testid": "sql-error" }, (e as Error).message));
    }
  }
  sql.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      void run();
    }
  });
  return h("div", {},
    field("SQL", sql),
    h("div", { class: "ui-toolbar" }, button("Run", () => void run(), { variant: "primary", icon: "play" }), h("small", { id: "sql-hint", class: "ui-hint" }, "Ctrl+Enter runs it. Statements run as written, in one call; writes are not undone.")),
    out);
}

export const studio: PluginPage = {
  path: "studio",
  title: "Studio",
  async render(cx: PageContext) {
    const adapters = await request<Adapters>("api/adapters");
    const type = cx.params.get("type") || adapters.default;
    const tenant = cx.params.get("tenant") ?? "";
    const current = cx.params.get("table") ?? "";
    const base = { type, tenant: tenant || undefined };
    const { tables } = await request<Tables>(`api/tables${query(base)}`);

    const pick = select("type", adapters.adapters.map((a) => [a, a]), type);
    const tenantInput = h("input", { name: "tenant", value: tenant, placeholder: "root database", autocomplete: "off" });
    const go = () => cx.navigate(`studio${query({ type: pick.value, tenant: tenantInput.value.trim() })}`);
    pick.addEventListener("change", go);
    const picker = h("form", { class: "ui-toolbar", onsubmit: (ev: Event) => { ev.preventDefault(); go(); } },
      field("Adapter", pick), field("Tenant", tenantInput), button("Open", () => {}, { type: "submit" }));

    const list = h("ul", { class: "ui-list", "aria-label": "Tables" }, ...(tables.length
      ? tables.map((t) => h("li", {}, h("a", {
        href: `studio${query({ ...base, table: t.name })}`,
        "aria-current": t.name === current ? "true" : false,
      }, t.name, t.type === "view" ? h("span", { class: "ui-muted" }, " (view)") : null)))
      : [h("li", { class: "ui-muted" }, "No tables yet.")]));

    const detail = h("div", { class: "ui-card" });
    let lastSql = cx.params.get("sql") ?? "";
    const sqlConsole = () => consoleView(base, lastSql || (current ? `SELECT * FROM "${current.replaceAll('"', '""')}" LIMIT 10` : "SELECT 1 AS one"), (s) => { lastSql = s; });
    if (current && tables.some((t) => t.name === current)) {
      const schema = await request<{ columns: Column[] }>(`api/tables/${encodeURIComponent(current)}/schema${query(base)}`);
      replace(detail, h("h2", {}, current), tabs([
        { id: "rows", text: "Rows", render: () => rowsView(base, current, schema.columns, 0, tables.find((t) => t.name === current)?.type === "view") },
        { id: "schema", text: "Schema", render: () => schemaView(schema.columns) },
        { id: "sql", text: "SQL", render: sqlConsole },
      ], cx.params.get("tab") ?? "rows"));
    } else {
      replace(detail, h("h2", {}, "SQL console"), current ? h("div", { class: "ui-alert", role: "alert" }, `There is no table ${current} here.`) : null, sqlConsole());
    }
    return h("div", {}, h("h1", {}, "Studio"), picker, h("div", { class: "ui-split" }, h("nav", { "aria-label": "Tables" }, list), detail));
  },
};
