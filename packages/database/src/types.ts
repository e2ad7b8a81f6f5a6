/**
 * Public types of `@buntime/database` and the HRANA-over-HTTP JSON wire types it speaks
 * (what plugins/plugin-database/src/hrana.rs reads and writes).
 */

/** The engines plugin-database knows (this build serves `sqlite`; the others are refused there). */
export type AdapterType = "libsql" | "mysql" | "postgres" | "sqlite";

/** A value bound to a `?`/`:name` parameter. `boolean` binds as 0/1, `Date` as epoch milliseconds. */
export type InValue = ArrayBuffer | bigint | boolean | Date | null | number | string | Uint8Array | undefined;

/** Positional (`?`, `?1`) or named (`:a`, `@a`, `$a`) arguments. */
export type InArgs = InValue[] | Record<string, InValue>;

/**
 * A value read back: integers are `number` when safe, else `bigint`; blobs are `Uint8Array`.
 */
export type OutValue = bigint | null | number | string | Uint8Array;

/** One row, keyed by column name. */
export type Row = Record<string, OutValue>;

/** What `execute` returns. */
export interface ResultSet {
  /** Rows inserted, updated or deleted by the statement (0 for queries and DDL). */
  affectedRows: number;
  /** The column names, in order. */
  columns: string[];
  /** The declared column types (`INTEGER`, `TEXT`, …; `""` for expressions), in order. */
  columnTypes: string[];
  /** The rowid of the last insert, for writes; `null` otherwise. */
  lastInsertRowid: bigint | null;
  /** The rows. */
  rows: Row[];
}

/** One statement of a batch. */
export interface Statement {
  sql: string;
  args?: InArgs;
}

/** How a transaction starts. SQLite engines: `write` is `BEGIN IMMEDIATE` (takes the write lock
 * at once, so it cannot fail later with `SQLITE_BUSY` on upgrade), `deferred` is `BEGIN DEFERRED`.
 * Other engines: plain `BEGIN` for both. */
export type TransactionMode = "deferred" | "write";

/** The handle `transaction(fn)` passes to `fn`. */
export interface Transaction {
  /** Runs a statement inside the transaction. */
  execute(sql: string, args?: InArgs): Promise<ResultSet>;
  /** Runs statements inside the transaction; stops at the first error and throws it. */
  batch(statements: Statement[]): Promise<ResultSet[]>;
  /** Commits now (otherwise `transaction` commits when `fn` resolves). */
  commit(): Promise<void>;
  /** Rolls back now (otherwise `transaction` rolls back when `fn` throws). */
  rollback(): Promise<void>;
  /** Whether the transaction has been committed or rolled back. */
  readonly closed: boolean;
}

/** Options of `new DatabaseClient(…)`. */
export interface DatabaseClientConfig {
  /** Sent as `x-database-adapter`. */
  adapter: AdapterType;
  /** Where the HRANA API lives; see `resolveBaseUrl` for the fallbacks. */
  baseUrl?: string;
  /** The tenant, sent as `x-database-namespace`; omitted means the root database. */
  namespace?: string;
  /** The fetch to use; default the global one. */
  fetch?: typeof fetch;
}

// ---- HRANA wire types (JSON encoding, protocol versions 2 and 3) ----

/** A SQL value on the wire. */
export type HranaValue =
  | { type: "null" }
  | { type: "integer"; value: string }
  | { type: "float"; value: number }
  | { type: "text"; value: string }
  | { type: "blob"; base64: string };

/** A statement on the wire. */
export interface HranaStmt {
  sql: string;
  args?: HranaValue[];
  named_args?: { name: string; value: HranaValue }[];
  want_rows?: boolean;
}

/** A batch step's condition. */
export type HranaCondition =
  | { type: "ok"; step: number }
  | { type: "error"; step: number }
  | { type: "not"; cond: HranaCondition }
  | { type: "and"; conds: HranaCondition[] }
  | { type: "or"; conds: HranaCondition[] }
  | { type: "is_autocommit" };

/** One step of a batch: a statement, run only when its condition (if any) holds. */
export interface HranaStep {
  condition?: HranaCondition | null;
  stmt: HranaStmt;
}

/** A stream request. */
export type HranaRequest =
  | { type: "execute"; stmt: HranaStmt }
  | { type: "batch"; batch: { steps: HranaStep[] } }
  | { type: "sequence"; sql: string }
  | { type: "close" }
  | { type: "get_autocommit" };

/** A statement's result on the wire. */
export interface HranaStmtResult {
  cols: { name: string | null; decltype?: string | null }[];
  rows: HranaValue[][];
  affected_row_count: number;
  last_insert_rowid: string | null;
  rows_read?: number;
  rows_written?: number;
}

/** An error on the wire. */
export interface HranaError {
  message: string;
  code?: string | null;
}

/** The response of one stream request. */
export type HranaResponse =
  | { type: "execute"; result: HranaStmtResult }
  | { type: "batch"; result: { step_results: (HranaStmtResult | null)[]; step_errors: (HranaError | null)[] } }
  | { type: "sequence" }
  | { type: "close" }
  | { type: "get_autocommit"; is_autocommit: boolean };

/** One entry of a pipeline's `results`. */
export type HranaResult = { type: "ok"; response: HranaResponse } | { type: "error"; error: HranaError };

/** The body of `POST …/pipeline`. */
export interface HranaPipelineRequest {
  baton: string | null;
  requests: HranaRequest[];
}

/** The answer of `POST …/pipeline`. */
export interface HranaPipelineResponse {
  baton: string | null;
  base_url: string | null;
  results: HranaResult[];
}
