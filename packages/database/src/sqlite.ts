/**
 * `@buntime/database/sqlite`: a ready client of the `sqlite` adapter (root database, base URL from
 * the environment), plus everything `@buntime/database` exports.
 *
 * ```ts
 * import db from "@buntime/database/sqlite";
 * const { rows } = await db.execute("SELECT 1 AS one");
 * ```
 */
import { DatabaseClient } from "./client.ts";

const db: DatabaseClient = new DatabaseClient({ adapter: "sqlite" });

export default db;
export * from "./index.ts";
