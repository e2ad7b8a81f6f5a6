// A worker app that keeps notes in plugin-database through @buntime/database: GET / lists them,
// POST / {text} adds one. Its own tenant database (`notes`) keeps its tables apart from others'.
import { DatabaseClient } from "@buntime/database";

// No baseUrl: the pool sets RUNTIME_API_URL, so this posts to ${RUNTIME_API_URL}/database/api.
const db = new DatabaseClient({ adapter: "sqlite", namespace: "notes" });
const ready = db.batch([
  { sql: "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL, created_at INTEGER NOT NULL)" },
  { sql: "CREATE TABLE IF NOT EXISTS stats (name TEXT PRIMARY KEY, value INTEGER NOT NULL)" },
]);

export default {
  async fetch(req: Request): Promise<Response> {
    await ready;
    if (req.method === "GET") {
      const { rows } = await db.execute("SELECT id, text FROM notes ORDER BY id");
      const stats = await db.execute("SELECT value FROM stats WHERE name = 'added'");
      return Response.json({ notes: rows, added: stats.rows[0]?.value ?? 0 });
    }
    if (req.method === "POST") {
      const body = (await req.json().catch(() => null)) as { text?: unknown } | null;
      if (typeof body?.text !== "string" || body.text.trim() === "") {
        return Response.json({ error: "`text` must be a non-empty string" }, { status: 400 });
      }
      const text = body.text;
      // The note and the counter change together or not at all.
      const id = await db.transaction(async (tx) => {
        const res = await tx.execute("INSERT INTO notes (text, created_at) VALUES (?, ?)", [text, Date.now()]);
        await tx.execute("INSERT INTO stats (name, value) VALUES ('added', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1");
        return Number(res.lastInsertRowid);
      });
      return Response.json({ id, text }, { status: 201 });
    }
    return Response.json({ error: "use GET or POST" }, { status: 405 });
  },
};
