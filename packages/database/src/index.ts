/**
 * `@buntime/database`: the worker-app client of plugin-database (HRANA over HTTP).
 *
 * ```ts
 * import { DatabaseClient } from "@buntime/database";
 * const db = new DatabaseClient({ adapter: "sqlite" });
 * ```
 */
export { createClient, DatabaseClient, type TransactionOptions } from "./client.ts";
export { DatabaseError } from "./errors.ts";
export {
  LibSqlCompatibleClient,
  type LibSqlResultSet,
  type LibSqlRow,
  type LibSqlStatement,
  type LibSqlTransaction,
  type LibSqlTransactionMode,
} from "./raw.ts";
export type * from "./types.ts";
export { resolveBaseUrl } from "./url.ts";
