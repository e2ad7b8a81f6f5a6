/**
 * A `@libsql/client`-shaped client over the same HRANA streams, for libraries that expect one
 * (drizzle's libsql driver, say): array rows with column-name access, `rowsAffected`, and real
 * interactive transactions.
 */
import { DatabaseError } from "./errors.ts";
import { Stream, TransactionCore, type Transport, atomicBatch, executeResult, okResponse } from "./stream.ts";
import type { HranaStmt, HranaStmtResult, InArgs, OutValue, TransactionMode } from "./types.ts";
import { fromHranaValue, toHranaStmt } from "./values.ts";

/** A statement as libSQL takes it. */
export type LibSqlStatement = string | { sql: string; args?: InArgs };

/** libSQL's transaction modes; `read` runs as `deferred` here. */
export type LibSqlTransactionMode = "deferred" | "read" | "write";

/** A row: an array of values that also answers by column name (`row[0]`, `row.name`). */
export type LibSqlRow = OutValue[] & Record<string, OutValue>;

/** libSQL's result set. */
export interface LibSqlResultSet {
  columns: string[];
  columnTypes: string[];
  rows: LibSqlRow[];
  rowsAffected: number;
  lastInsertRowid: bigint | undefined;
  toJSON(): unknown;
}

/** libSQL's interactive transaction. */
export interface LibSqlTransaction {
  execute(stmt: LibSqlStatement, args?: InArgs): Promise<LibSqlResultSet>;
  batch(stmts: LibSqlStatement[]): Promise<LibSqlResultSet[]>;
  executeMultiple(sql: string): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  close(): void;
  readonly closed: boolean;
}

function toStmt(stmt: LibSqlStatement, args?: InArgs): HranaStmt {
  if (typeof stmt === "string") return toHranaStmt(stmt, args);
  if (!stmt || typeof stmt.sql !== "string") throw new TypeError("a statement is a string or {sql, args?}");
  return toHranaStmt(stmt.sql, stmt.args ?? args);
}

function mode(m: LibSqlTransactionMode | undefined): TransactionMode {
  return m === "read" || m === "deferred" ? "deferred" : "write";
}

/** Converts a wire result into libSQL's shape. */
export function toLibSqlResultSet(result: HranaStmtResult): LibSqlResultSet {
  const columns = result.cols.map((c) => c.name ?? "");
  const columnTypes = result.cols.map((c) => c.decltype ?? "");
  const rows = result.rows.map((values) => {
    const row = values.map(fromHranaValue) as LibSqlRow;
    columns.forEach((name, i) => {
      // Non-enumerable, so the row still serialises (and spreads) as a plain array.
      if (name !== "" && !(name in row)) Object.defineProperty(row, name, { value: row[i], enumerable: false, configurable: true, writable: true });
    });
    return row;
  });
  const rowsAffected = result.affected_row_count;
  const lastInsertRowid = result.last_insert_rowid === null || result.last_insert_rowid === undefined ? undefined : BigInt(result.last_insert_rowid);
  return {
    columns,
    columnTypes,
    rows,
    rowsAffected,
    lastInsertRowid,
    toJSON: () => ({ columns, columnTypes, rows: rows.map((r) => [...r]), rowsAffected, lastInsertRowid: lastInsertRowid?.toString() ?? null }),
  };
}

/** The client `DatabaseClient.getRawClient()` returns. */
export class LibSqlCompatibleClient {
  /** Always `http`: every call is a HRANA pipeline over HTTP. */
  readonly protocol = "http";
  private ended = false;

  constructor(private readonly transport: Transport) {}

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.ended;
  }

  private assertOpen(): void {
    if (this.ended) throw new DatabaseError("the client is closed");
  }

  /** Runs one statement. */
  async execute(stmt: LibSqlStatement, args?: InArgs): Promise<LibSqlResultSet> {
    this.assertOpen();
    const [result] = await new Stream(this.transport).send([{ type: "execute", stmt: toStmt(stmt, args) }], true);
    return toLibSqlResultSet(executeResult(result));
  }

  /** Runs statements atomically (all or none), in one request. */
  async batch(stmts: LibSqlStatement[], m?: LibSqlTransactionMode): Promise<LibSqlResultSet[]> {
    this.assertOpen();
    return (await atomicBatch(this.transport, stmts.map((s) => toStmt(s)), mode(m))).map(toLibSqlResultSet);
  }

  /** Runs a script of several statements (no results), outside any transaction. */
  async executeMultiple(sql: string): Promise<void> {
    this.assertOpen();
    const [result] = await new Stream(this.transport).send([{ type: "sequence", sql }], true);
    okResponse(result);
  }

  /** Starts an interactive transaction on its own stream (one pinned server connection). */
  async transaction(m?: LibSqlTransactionMode): Promise<LibSqlTransaction> {
    this.assertOpen();
    const core = await TransactionCore.begin(this.transport, mode(m));
    return {
      execute: async (stmt, args) => toLibSqlResultSet(await core.execute(toStmt(stmt, args))),
      batch: async (stmts) => (await core.batch(stmts.map((s) => toStmt(s)))).map(toLibSqlResultSet),
      executeMultiple: (sql) => core.sequence(sql),
      commit: () => core.commit(),
      rollback: () => core.rollback(),
      close: () => {
        // libSQL's close() rolls back an uncommitted transaction.
        core.rollback().catch(() => {});
      },
      get closed() {
        return core.closed;
      },
    };
  }

  /** Nothing to sync over HTTP; present for libSQL compatibility. */
  async sync(): Promise<undefined> {
    return undefined;
  }

  /** Marks the client closed; later calls throw. Open transactions keep their own streams. */
  close(): void {
    this.ended = true;
  }
}
