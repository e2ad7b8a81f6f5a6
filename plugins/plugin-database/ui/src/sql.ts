/**
 * The studio's statements for one row, written per adapter: identifiers quoted the engine's way
 * (`"…"` for sqlite, libsql and postgres, `` `…` `` for mysql, an embedded quote doubled) and
 * placeholders the engine's way (`?` for sqlite, libsql and mysql; `$1, $2, …` for postgres).
 * Values always go as arguments, never into the SQL text.
 */

/** An adapter type of the database plugin; an unknown one is written like sqlite. */
export type Dialect = "sqlite" | "libsql" | "postgres" | "mysql";

/** A statement and its positional arguments, as `POST api/query` takes them. */
export interface Stmt {
  sql: string;
  args: unknown[];
}

/** A primary-key column and the row's value in it. */
export type Key = ReadonlyArray<readonly [column: string, value: unknown]>;

/** The dialect of an adapter type (`sqlite`, `libsql`, `postgres`, `mysql`; anything else: sqlite). */
export function dialectOf(type: string): Dialect {
  const t = type.toLowerCase();
  return t === "postgres" || t === "postgresql" ? "postgres" : t === "mysql" ? "mysql" : t === "libsql" ? "libsql" : "sqlite";
}

/** An identifier quoted for `dialect`, its own quote characters doubled. */
export function quoteIdent(dialect: Dialect, name: string): string {
  return dialect === "mysql" ? `\`${name.replaceAll("`", "``")}\`` : `"${name.replaceAll('"', '""')}"`;
}

/** Numbers the placeholders of one statement: `$1, $2, …` on postgres, `?` elsewhere. */
function placeholders(dialect: Dialect): () => string {
  let n = 0;
  return () => (dialect === "postgres" ? `$${++n}` : "?");
}

/** `WHERE k1 = ? AND k2 = ?`; a NULL key value is matched with `IS NULL` (no argument). */
function where(dialect: Dialect, key: Key, next: () => string, args: unknown[]): string {
  if (!key.length) throw new Error("a row is found by its primary key, and this table has none");
  return key.map(([column, value]) => {
    if (value === null || value === undefined) return `${quoteIdent(dialect, column)} IS NULL`;
    args.push(value);
    return `${quoteIdent(dialect, column)} = ${next()}`;
  }).join(" AND ");
}

/** `UPDATE t SET col = ? WHERE pk1 = ? [AND pk2 = ?]`: one cell of the row `key` names. */
export function updateCell(dialect: Dialect, table: string, column: string, value: unknown, key: Key): Stmt {
  const next = placeholders(dialect);
  const args: unknown[] = [value === undefined ? null : value];
  const set = `${quoteIdent(dialect, column)} = ${next()}`;
  const cond = where(dialect, key, next, args);
  return { sql: `UPDATE ${quoteIdent(dialect, table)} SET ${set} WHERE ${cond}`, args };
}

/** `SELECT * FROM t WHERE pk1 = ? [AND pk2 = ?]`: the row `key` names, as stored now. */
export function selectRow(dialect: Dialect, table: string, key: Key): Stmt {
  const args: unknown[] = [];
  const cond = where(dialect, key, placeholders(dialect), args);
  return { sql: `SELECT * FROM ${quoteIdent(dialect, table)} WHERE ${cond}`, args };
}
