/**
 * `@buntime/database` against the real runtime: `target/debug/buntime` serving the repository's
 * `plugins/` (plugin-database with SQLite) and `apps/` (the `notes` example) on a free port. No
 * fetch is mocked.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { REPO_ROOT, type RunningRuntime, startRuntime } from "@buntime/shared/testing/runtime";
import { DatabaseClient, DatabaseError, resolveBaseUrl } from "./index.ts";

let runtime: RunningRuntime;
let base: string;
let db: DatabaseClient;

beforeAll(async () => {
  runtime = await startRuntime({ workerDirs: [join(REPO_ROOT, "apps")] });
  base = `${runtime.url}/database/api`;
  db = new DatabaseClient({ adapter: "sqlite", baseUrl: base });
});

afterAll(async () => {
  await runtime?.stop();
});

/** A fresh table name per test, so tests do not depend on each other's rows. */
let tables = 0;
async function freshTable(client = db, columns = "id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE"): Promise<string> {
  const name = `t${++tables}_${Date.now()}`;
  await client.execute(`CREATE TABLE ${name} (${columns})`);
  return name;
}

async function count(client: DatabaseClient, table: string): Promise<number> {
  const { rows } = await client.execute(`SELECT COUNT(*) AS n FROM ${table}`);
  return rows[0]?.n as number;
}

describe("execute", () => {
  test("writes report affected rows and the last rowid; reads return typed rows", async () => {
    const t = await freshTable(db, "id INTEGER PRIMARY KEY, i INTEGER, f REAL, s TEXT, b BLOB, n TEXT, big INTEGER, flag INTEGER");
    const bytes = new Uint8Array([0, 1, 254, 255]);
    const ins = await db.execute(`INSERT INTO ${t} (i, f, s, b, n, big, flag) VALUES (?, ?, ?, ?, ?, ?, ?)`, [42, 1.5, "héllo", bytes, null, 2n ** 62n, true]);
    expect(ins.affectedRows).toBe(1);
    expect(ins.lastInsertRowid).toBe(1n);

    const res = await db.execute(`SELECT id, i, f, s, b, n, big, flag FROM ${t}`);
    expect(res.columns).toEqual(["id", "i", "f", "s", "b", "n", "big", "flag"]);
    expect(res.columnTypes).toEqual(["INTEGER", "INTEGER", "REAL", "TEXT", "BLOB", "TEXT", "INTEGER", "INTEGER"]);
    expect(res.affectedRows).toBe(0);
    expect(res.rows).toHaveLength(1);
    const row = res.rows[0] ?? {};
    expect(row).toMatchObject({ id: 1, i: 42, f: 1.5, s: "héllo", n: null, flag: 1 });
    // Beyond 2^53 an integer comes back as a bigint, exactly.
    expect(row.big).toBe(2n ** 62n);
    expect(row.b).toEqual(bytes);
  });

  test("named arguments bind by name", async () => {
    const t = await freshTable();
    await db.execute(`INSERT INTO ${t} (id, name) VALUES (:id, :name)`, { id: 7, name: "seven" });
    const { rows } = await db.execute(`SELECT name FROM ${t} WHERE id = $id`, { id: 7 });
    expect(rows).toEqual([{ name: "seven" }]);
  });

  test("a SQL error is a DatabaseError with the engine's code and no HTTP status", async () => {
    const err = await db.execute("SELEC 1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseError);
    expect((err as DatabaseError).code).toBe("SQLITE_ERROR");
    expect((err as DatabaseError).status).toBeUndefined();
    expect((err as DatabaseError).message).toContain("syntax error");

    const t = await freshTable();
    await db.execute(`INSERT INTO ${t} (id, name) VALUES (1, 'a')`);
    const dup = await db.execute(`INSERT INTO ${t} (id, name) VALUES (1, 'b')`).catch((e: unknown) => e);
    expect((dup as DatabaseError).code).toBe("SQLITE_CONSTRAINT_PRIMARYKEY");
  });

  test("a non-2xx answer is a DatabaseError with the status and the body", async () => {
    const wrong = new DatabaseClient({ adapter: "sqlite", baseUrl: `${runtime.url}/database/nope` });
    const err = (await wrong.execute("SELECT 1").catch((e: unknown) => e)) as DatabaseError;
    expect(err).toBeInstanceOf(DatabaseError);
    expect(err.status).toBe(404);
    expect(typeof err.body).toBe("string");
    expect(err.message).toStartWith("Database request failed: 404");
  });

  test("arguments SQL cannot hold are refused before anything is sent", async () => {
    await expect(db.execute("SELECT ?", [Number.NaN])).rejects.toThrow("args[0]: NaN cannot be stored");
    await expect(db.execute("SELECT ?", [{ a: 1 } as never])).rejects.toThrow("args[0]: unsupported value");
    await expect(db.execute("SELECT ?", [2n ** 64n])).rejects.toThrow("does not fit in a 64-bit integer");
  });

  test("one-shot calls close their stream in the same request; transactions carry one baton", async () => {
    // The real fetch, watched: each pipeline's request and answer are recorded.
    const seen: { sent: { baton: string | null; requests: { type: string }[] }; answer: { baton: string | null } }[] = [];
    const watching: typeof fetch = Object.assign(
      async (input: RequestInfo | URL, init?: RequestInit) => {
        const res = await fetch(input, init);
        seen.push({ sent: JSON.parse(String(init?.body)), answer: await res.clone().json() });
        return res;
      },
      { preconnect: fetch.preconnect },
    );
    const watched = new DatabaseClient({ adapter: "sqlite", baseUrl: base, fetch: watching });
    await watched.execute("SELECT 1");
    await watched.batch([{ sql: "SELECT 1" }]);
    // A stream left open per call would pile up on the server (it caps them at 4096).
    expect(seen.map((s) => s.sent.requests.at(-1)?.type)).toEqual(["close", "close"]);
    expect(seen.map((s) => s.answer.baton)).toEqual([null, null]);

    seen.length = 0;
    await watched.transaction(async (tx) => {
      await tx.execute("SELECT 1");
      await tx.execute("SELECT 2");
    });
    const baton = seen[0]?.answer.baton;
    expect(typeof baton).toBe("string");
    expect(seen.map((s) => s.sent.baton)).toEqual([null, baton, baton, baton]);
    expect(seen.at(-1)?.sent.requests.map((r) => r.type)).toEqual(["execute", "close"]);
    expect(seen.at(-1)?.answer.baton).toBeNull();
  });
});

describe("batch", () => {
  test("runs every statement and returns one result each", async () => {
    const t = await freshTable();
    const results = await db.batch([
      { sql: `INSERT INTO ${t} (name) VALUES (?)`, args: ["a"] },
      { sql: `INSERT INTO ${t} (name) VALUES (?)`, args: ["b"] },
      { sql: `SELECT name FROM ${t} ORDER BY name` },
    ]);
    expect(results.map((r) => r.affectedRows)).toEqual([1, 1, 0]);
    expect(results[2]?.rows).toEqual([{ name: "a" }, { name: "b" }]);
  });

  test("is atomic: when one statement fails, none of them stays written", async () => {
    const t = await freshTable();
    const err = (await db
      .batch([
        { sql: `INSERT INTO ${t} (name) VALUES ('a')` },
        { sql: `INSERT INTO ${t} (name) VALUES ('b')` },
        { sql: `INSERT INTO ${t} (name) VALUES ('a')` },
      ])
      .catch((e: unknown) => e)) as DatabaseError;
    expect(err).toBeInstanceOf(DatabaseError);
    expect(err.code).toBe("SQLITE_CONSTRAINT_UNIQUE");
    expect(err.message).toStartWith("statement 2:");
    expect(await count(db, t)).toBe(0);
  });
});

describe("transaction", () => {
  test("commits when fn resolves; another client sees nothing before the commit", async () => {
    const t = await freshTable();
    const other = new DatabaseClient({ adapter: "sqlite", baseUrl: base });
    let seenInside = -1;
    let seenByOther = -1;
    const value = await db.transaction(async (tx) => {
      await tx.execute(`INSERT INTO ${t} (name) VALUES (?)`, ["inside"]);
      // The same transaction reads its own write (one pinned connection across requests) ...
      const { rows } = await tx.execute(`SELECT COUNT(*) AS n FROM ${t}`);
      seenInside = rows[0]?.n as number;
      // ... while another client does not see it yet.
      seenByOther = await count(other, t);
      return "done";
    });
    expect(value).toBe("done");
    expect(seenInside).toBe(1);
    expect(seenByOther).toBe(0);
    expect(await count(other, t)).toBe(1);
  });

  test("rolls back and rethrows when fn throws", async () => {
    const t = await freshTable();
    const err = await db
      .transaction(async (tx) => {
        await tx.execute(`INSERT INTO ${t} (name) VALUES ('doomed')`);
        throw new Error("boom");
      })
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe("boom");
    expect(await count(db, t)).toBe(0);
  });

  test("a failing statement inside, not caught, rolls back the earlier ones", async () => {
    const t = await freshTable();
    const err = (await db
      .transaction(async (tx) => {
        await tx.execute(`INSERT INTO ${t} (id, name) VALUES (1, 'a')`);
        await tx.execute(`INSERT INTO ${t} (id, name) VALUES (1, 'again')`);
      })
      .catch((e: unknown) => e)) as DatabaseError;
    expect(err.code).toBe("SQLITE_CONSTRAINT_PRIMARYKEY");
    expect(await count(db, t)).toBe(0);
  });

  test("tx.rollback() ends it early; later statements on it are refused", async () => {
    const t = await freshTable();
    let late: unknown;
    await db.transaction(async (tx) => {
      await tx.execute(`INSERT INTO ${t} (name) VALUES ('x')`);
      await tx.rollback();
      expect(tx.closed).toBe(true);
      late = await tx.execute("SELECT 1").catch((e: unknown) => e);
    });
    expect((late as Error).message).toContain("already committed or rolled back");
    expect(await count(db, t)).toBe(0);
  });

  test("tx.batch and statements sent without awaiting each other all land in the transaction", async () => {
    const t = await freshTable();
    await db.transaction(async (tx) => {
      await Promise.all([1, 2, 3, 4, 5].map((i) => tx.execute(`INSERT INTO ${t} (id, name) VALUES (?, ?)`, [i, `n${i}`])));
      const [ins, sel] = await tx.batch([{ sql: `INSERT INTO ${t} (id, name) VALUES (6, 'n6')` }, { sql: `SELECT COUNT(*) AS n FROM ${t}` }]);
      expect(ins?.affectedRows).toBe(1);
      expect(sel?.rows).toEqual([{ n: 6 }]);
    });
    expect(await count(db, t)).toBe(6);
  });

  test("a second writer waits for the first transaction's commit instead of interleaving", async () => {
    const t = await freshTable(db, "id INTEGER PRIMARY KEY, v INTEGER NOT NULL");
    await db.execute(`INSERT INTO ${t} (id, v) VALUES (1, 0)`);
    // Two read-modify-write transactions at once: with real transactions the second one starts
    // after the first commits (BEGIN IMMEDIATE waits on the lock), so no increment is lost.
    const bump = () =>
      db.transaction(async (tx) => {
        const { rows } = await tx.execute(`SELECT v FROM ${t} WHERE id = 1`);
        await Bun.sleep(50);
        await tx.execute(`UPDATE ${t} SET v = ? WHERE id = 1`, [(rows[0]?.v as number) + 1]);
      });
    await Promise.all([bump(), bump(), bump()]);
    const { rows } = await db.execute(`SELECT v FROM ${t} WHERE id = 1`);
    expect(rows).toEqual([{ v: 3 }]);
  });
});

describe("namespaces (tenants)", () => {
  test("each namespace is its own database, apart from the root", async () => {
    const acme = new DatabaseClient({ adapter: "sqlite", baseUrl: base, namespace: "acme" });
    const globex = acme.withNamespace("globex");
    await acme.execute("CREATE TABLE IF NOT EXISTS only_acme (v TEXT)");
    await acme.execute("INSERT INTO only_acme VALUES ('a')");
    expect(await count(acme, "only_acme")).toBe(1);
    for (const client of [globex, db]) {
      const err = (await client.execute("SELECT * FROM only_acme").catch((e: unknown) => e)) as DatabaseError;
      expect(err.message).toContain("no such table: only_acme");
    }
    const res = await fetch(`${base}/tenants`);
    expect(((await res.json()) as { tenants: string[] }).tenants).toEqual(expect.arrayContaining(["acme", "globex"]));
  });

  test("a transaction stays in its namespace", async () => {
    const acme = new DatabaseClient({ adapter: "sqlite", baseUrl: base, namespace: "acme" });
    await acme.execute("CREATE TABLE IF NOT EXISTS acme_tx (v TEXT)");
    await acme.transaction(async (tx) => {
      await tx.execute("INSERT INTO acme_tx VALUES ('in tx')");
    });
    expect(await count(acme, "acme_tx")).toBe(1);
  });

  test("an invalid tenant id is refused with INVALID_TENANT", async () => {
    const bad = new DatabaseClient({ adapter: "sqlite", baseUrl: base, namespace: "../escape" });
    const err = (await bad.execute("SELECT 1").catch((e: unknown) => e)) as DatabaseError;
    expect(err).toBeInstanceOf(DatabaseError);
    expect(err.code).toBe("INVALID_TENANT");
  });
});

describe("getRawClient (libSQL-shaped)", () => {
  test("execute returns array rows that also answer by column name", async () => {
    const raw = db.getRawClient();
    const t = await freshTable();
    const ins = await raw.execute({ sql: `INSERT INTO ${t} (name) VALUES (?)`, args: ["r"] });
    expect(ins.rowsAffected).toBe(1);
    expect(typeof ins.lastInsertRowid).toBe("bigint");
    const res = await raw.execute(`SELECT id, name FROM ${t}`);
    expect(res.columns).toEqual(["id", "name"]);
    const row = res.rows[0];
    expect([...(row ?? [])]).toEqual([1, "r"]);
    expect(row?.name).toBe("r");
    expect(JSON.parse(JSON.stringify(res.rows))).toEqual([[1, "r"]]);
  });

  test("batch is atomic and transaction() is a real interactive transaction", async () => {
    const raw = db.getRawClient();
    const t = await freshTable();
    await expect(raw.batch([`INSERT INTO ${t} (name) VALUES ('a')`, `INSERT INTO ${t} (name) VALUES ('a')`], "write")).rejects.toThrow("UNIQUE");
    expect(await count(db, t)).toBe(0);

    const tx = await raw.transaction("write");
    await tx.execute({ sql: `INSERT INTO ${t} (name) VALUES (?)`, args: ["kept"] });
    expect(await count(db, t)).toBe(0);
    await tx.commit();
    expect(tx.closed).toBe(true);
    expect(await count(db, t)).toBe(1);

    const tx2 = await raw.transaction();
    await tx2.execute(`INSERT INTO ${t} (name) VALUES ('dropped')`);
    await tx2.rollback();
    expect(await count(db, t)).toBe(1);
  });

  test("executeMultiple runs a script", async () => {
    const raw = db.getRawClient();
    const name = `script_${Date.now()}`;
    await raw.executeMultiple(`CREATE TABLE ${name} (v TEXT); INSERT INTO ${name} VALUES ('a;b'); INSERT INTO ${name} VALUES ('c');`);
    const { rows } = await db.execute(`SELECT v FROM ${name} ORDER BY v`);
    expect(rows).toEqual([{ v: "a;b" }, { v: "c" }]);
  });
});

describe("configuration", () => {
  test("base URL order: explicit, DATABASE_API_URL, RUNTIME_API_URL/database/api, /database/api", () => {
    const env = { DATABASE_API_URL: "http://db.test/api/", RUNTIME_API_URL: "http://127.0.0.1:9" };
    expect(resolveBaseUrl("http://x.test/db/", env)).toBe("http://x.test/db");
    expect(resolveBaseUrl(undefined, env)).toBe("http://db.test/api");
    expect(resolveBaseUrl(undefined, { RUNTIME_API_URL: "http://127.0.0.1:9" })).toBe("http://127.0.0.1:9/database/api");
    expect(resolveBaseUrl(undefined, {})).toBe("/database/api");
  });

  test("an unknown adapter is refused at construction", () => {
    expect(() => new DatabaseClient({ adapter: "oracle" as never })).toThrow("adapter must be one of");
  });

  test("the per-engine default export is a ready client of that adapter, reading the environment", async () => {
    const saved = process.env.DATABASE_API_URL;
    process.env.DATABASE_API_URL = base;
    try {
      const { default: sqlite } = await import("./sqlite.ts");
      expect(sqlite.adapter).toBe("sqlite");
      expect(sqlite.baseUrl).toBe(base);
      expect((await sqlite.execute("SELECT 2 AS two")).rows).toEqual([{ two: 2 }]);
      const { default: postgres } = await import("./postgres.ts");
      expect(postgres.adapter).toBe("postgres");
      // This build serves SQLite only: the server names the adapter it does not have.
      const err = (await postgres.execute("SELECT 1").catch((e: unknown) => e)) as DatabaseError;
      expect(err).toBeInstanceOf(DatabaseError);
      expect(err.code).toBe("UNKNOWN_ADAPTER");
    } finally {
      if (saved === undefined) delete process.env.DATABASE_API_URL;
      else process.env.DATABASE_API_URL = saved;
    }
  });
});

describe("a worker app (apps/notes)", () => {
  test("reaches the database through RUNTIME_API_URL, which the pool sets", async () => {
    const added = await fetch(`${runtime.url}/notes`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text: "from the test" }) });
    expect(added.status).toBe(201);
    const { id } = (await added.json()) as { id: number };
    const list = (await (await fetch(`${runtime.url}/notes`)).json()) as { notes: { id: number; text: string }[]; added: number };
    expect(list.notes).toContainEqual({ id, text: "from the test" });
    expect(list.added).toBe(list.notes.length);
    // It wrote to its own tenant database, not the root one.
    const notes = new DatabaseClient({ adapter: "sqlite", baseUrl: base, namespace: "notes" });
    expect((await notes.execute("SELECT text FROM notes WHERE id = ?", [id])).rows).toEqual([{ text: "from the test" }]);
    const bad = await fetch(`${runtime.url}/notes`, { method: "POST", body: "{}" });
    expect(bad.status).toBe(400);
  });
});
