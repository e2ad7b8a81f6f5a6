/**
 * `DatabaseClient`: plugin-database's HRANA API for worker apps (execute, atomic batch, real
 * interactive transactions, and a libSQL-shaped raw client).
 */
import { DatabaseError } from "./errors.ts";
import { LibSqlCompatibleClient } from "./raw.ts";
import { Stream, TransactionCore, type Transport, atomicBatch, executeResult } from "./stream.ts";
import type { AdapterType, DatabaseClientConfig, InArgs, ResultSet, Statement, Transaction, TransactionMode } from "./types.ts";
import { resolveBaseUrl } from "./url.ts";
import { toHranaStmt, toResultSet } from "./values.ts";

const ADAPTERS: readonly AdapterType[] = ["libsql", "mysql", "postgres", "sqlite"];

/** Options of {@link DatabaseClient.transaction}. */
export interface TransactionOptions {
  /** `write` (default; `BEGIN IMMEDIATE` on SQLite engines) or `deferred`. */
  mode?: TransactionMode;
}

/** A client of one adapter (and optionally one tenant) of plugin-database. */
export class DatabaseClient {
  /** The adapter every request names (`x-database-adapter`). */
  readonly adapter: AdapterType;
  /** The base URL pipelines are posted under (`<baseUrl>/pipeline`). */
  readonly baseUrl: string;
  /** The tenant (`x-database-namespace`), if any. */
  readonly namespace: string | undefined;
  private readonly transport: Transport;

  constructor(config: DatabaseClientConfig) {
    if (!ADAPTERS.includes(config?.adapter)) {
      throw new TypeError(`adapter must be one of ${ADAPTERS.join(", ")} (got ${JSON.stringify(config?.adapter)})`);
    }
    this.adapter = config.adapter;
    this.baseUrl = resolveBaseUrl(config.baseUrl);
    this.namespace = config.namespace || undefined;
    this.transport = { adapter: this.adapter, baseUrl: this.baseUrl, namespace: this.namespace, fetch: config.fetch ?? fetch };
  }

  /** Returns a client of the same adapter and base URL for another tenant. */
  withNamespace(namespace: string | undefined): DatabaseClient {
    return new DatabaseClient({ adapter: this.adapter, baseUrl: this.baseUrl, namespace, fetch: this.transport.fetch });
  }

  /** Runs one statement (in its own short stream, closed in the same request). */
  async execute(sql: string, args?: InArgs): Promise<ResultSet> {
    const stmt = toHranaStmt(sql, args);
    const [result] = await new Stream(this.transport).send([{ type: "execute", stmt }], true);
    return toResultSet(executeResult(result));
  }

  /**
   * Runs statements atomically, in one request: all of them or, if one fails, none (its error
   * is thrown, prefixed with its index: `statement 2: UNIQUE constraint failed: …`).
   */
  async batch(statements: Statement[]): Promise<ResultSet[]> {
    const stmts = statements.map((s, i) => {
      if (!s || typeof s.sql !== "string") throw new TypeError(`statements[${i}] must be {sql, args?}`);
      return toHranaStmt(s.sql, s.args);
    });
    return (await atomicBatch(this.transport, stmts)).map(toResultSet);
  }

  /**
   * Runs `fn` in one real transaction: every statement `tx` runs goes to the same server
   * connection (the stream's baton pins it). Commits when `fn` resolves (unless it already
   * committed or rolled back), rolls back and rethrows when it throws. Other clients do not see
   * the transaction's writes before the commit. The server ends a stream idle for 30 s.
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options: TransactionOptions = {}): Promise<T> {
    const core = await TransactionCore.begin(this.transport, options.mode ?? "write");
    const tx: Transaction = {
      execute: async (sql, args) => toResultSet(await core.execute(toHranaStmt(sql, args))),
      batch: async (statements) => (await core.batch(statements.map((s) => toHranaStmt(s.sql, s.args)))).map(toResultSet),
      commit: () => core.commit(),
      rollback: () => core.rollback(),
      get closed() {
        return core.closed;
      },
    };
    let value: T;
    try {
      value = await fn(tx);
    } catch (error) {
      await core.rollback().catch(() => {
        // The original error matters more; the server rolls back a closed or expired stream anyway.
      });
      throw error;
    }
    if (core.lost) throw new DatabaseError("the transaction's stream ended before it was committed (an earlier request was refused); nothing was committed");
    if (!core.closed) await core.commit();
    return value;
  }

  /** Returns a `@libsql/client`-shaped client (execute, batch, transaction, executeMultiple). */
  getRawClient(): LibSqlCompatibleClient {
    return new LibSqlCompatibleClient(this.transport);
  }
}

/** Creates a {@link DatabaseClient}. */
export function createClient(config: DatabaseClientConfig): DatabaseClient {
  return new DatabaseClient(config);
}

export { DatabaseError };
