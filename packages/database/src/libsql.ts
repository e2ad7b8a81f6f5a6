/**
 * `@buntime/database/libsql`: a ready client of the `libsql` adapter (root database, base URL from
 * the environment), plus everything `@buntime/database` exports.
 *
 * ```ts
 * import db from "@buntime/database/libsql";
 * const { rows } = await db.execute("SELECT 1 AS one");
 * ```
 */
import { DatabaseClient } from "./client.ts";

const db: DatabaseClient = new DatabaseClient({ adapter: "libsql" });

export default db;
export * from "./index.ts";
