// Drives a running Buntime's plugin-database with the stock @libsql/client over HTTP (HRANA,
// JSON): execute, batch (atomic), interactive transactions and a migration. Prints one JSON line
// on success; throws (exit code 1) on the first mismatch. Run by crates/buntime-cli/tests/database.rs
// with DATABASE_URL=http://127.0.0.1:<port>/database/api (or ws://…, HRANA over WebSocket), and DATABASE_DIALECT=postgres or mysql
// when the default adapter is one of those (PostgreSQL has no rowids and says `bytea`; MySQL
// commits DDL implicitly, so its migration is data only).
import { createClient, LibsqlError } from "@libsql/client";

const url = process.env.DATABASE_URL;
if (!url) throw new Error("DATABASE_URL is not set");
const client = createClient({ url });
const dialect = process.env.DATABASE_DIALECT ?? "sqlite";
const pg = dialect === "postgres";
const mysql = dialect === "mysql";

function check(cond: boolean, what: string, got?: unknown): void {
  if (!cond) throw new Error(`${what}${got === undefined ? "" : `: got ${JSON.stringify(got, (_, v) => (typeof v === "bigint" ? `${v}n` : v))}`}`);
}
async function count(): Promise<number> {
  const rs = await client.execute("SELECT count(*) AS n FROM notes");
  return Number(rs.rows[0]!.n);
}

await client.execute(
  pg
    ? "CREATE TABLE notes (id SERIAL PRIMARY KEY, body TEXT NOT NULL, data BYTEA)"
    : `CREATE TABLE notes (id INTEGER PRIMARY KEY${mysql ? " AUTO_INCREMENT" : ""}, body TEXT NOT NULL, data BLOB)`,
);
const ins = await client.execute({ sql: "INSERT INTO notes (body, data) VALUES (?, ?)", args: ["first", new Uint8Array([1, 2, 3])] });
check(ins.rowsAffected === 1, "execute reports affected rows", ins.rowsAffected);
check(ins.lastInsertRowid === (pg ? undefined : 1n), "execute reports the rowid (none on PostgreSQL)", ins.lastInsertRowid);

const batch = await client.batch(
  [
    { sql: "INSERT INTO notes (body) VALUES (?)", args: ["b1"] },
    { sql: "INSERT INTO notes (body) VALUES (:body)", args: { body: "b2" } },
  ],
  "write",
);
check(
  batch.length === 2 && batch.every((r) => r.rowsAffected === 1) && batch[1]!.lastInsertRowid === (pg ? undefined : 3n),
  "batch results",
  batch.map((r) => [r.rowsAffected, r.lastInsertRowid]),
);

let batchError = "";
try {
  await client.batch(["INSERT INTO notes (body) VALUES ('lost')", "INSERT INTO notes (body) VALUES (NULL)"], "write");
} catch (e) {
  batchError = e instanceof LibsqlError ? e.code : String(e);
}
check(batchError.startsWith("SQLITE_CONSTRAINT"), "a failing batch raises the constraint error", batchError);
check((await count()) === 3, "a failing batch keeps nothing", await count());

const tx = await client.transaction("write");
await tx.execute({ sql: "INSERT INTO notes (body) VALUES (?)", args: ["in-tx"] });
const inside = await tx.execute("SELECT count(*) AS n FROM notes");
check(Number(inside.rows[0]!.n) === 4, "the transaction sees its own row", inside.rows[0]);
check((await count()) === 3, "other connections do not see uncommitted rows", await count());
await tx.commit();
check((await count()) === 4, "commit keeps the row", await count());

const tx2 = await client.transaction("write");
await tx2.execute("DELETE FROM notes");
await tx2.rollback();
check((await count()) === 4, "rollback undoes the delete", await count());

const row = await client.execute("SELECT data FROM notes WHERE id = 1");
const data = new Uint8Array(row.rows[0]!.data as ArrayBuffer);
check(data.length === 3 && data[2] === 3, "blobs round-trip", Array.from(data));

// `migrate` wraps its batch in `PRAGMA foreign_keys=off/on` (ignored on PostgreSQL and MySQL).
const tagsTable = "CREATE TABLE tags (id INTEGER PRIMARY KEY, note INTEGER REFERENCES notes (id), name TEXT NOT NULL)";
if (mysql) await client.execute(tagsTable);
await client.migrate([...(mysql ? [] : [tagsTable]), "INSERT INTO tags (id, note, name) VALUES (1, 1, 'first')"]);
const tags = await client.execute("SELECT t.name, n.body FROM tags t JOIN notes n ON n.id = t.note");
check(tags.rows.length === 1 && tags.rows[0]!.body === "first", "the migration ran", tags.rows);

client.close();
console.log(JSON.stringify({ ok: true, rows: 4, dialect, transport: new URL(url).protocol }));
