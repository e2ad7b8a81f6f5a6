/**
 * HRANA streams over HTTP: the pipeline request, a stream that carries its baton from one
 * pipeline to the next (one after another), and the interactive transaction built on it.
 */
import { DatabaseError } from "./errors.ts";
import type {
  AdapterType,
  HranaError,
  HranaPipelineRequest,
  HranaPipelineResponse,
  HranaRequest,
  HranaResponse,
  HranaResult,
  HranaStep,
  HranaStmt,
  HranaStmtResult,
  TransactionMode,
} from "./types.ts";

/** Where and how pipelines are posted. */
export interface Transport {
  adapter: AdapterType;
  baseUrl: string;
  namespace?: string;
  fetch: typeof fetch;
}

/** Posts one pipeline; a non-2xx answer throws {@link DatabaseError} with its status and body. */
export async function postPipeline(t: Transport, body: HranaPipelineRequest): Promise<HranaPipelineResponse> {
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    // Marks a worker-to-runtime call; the worker wrapper adds the token that proves it.
    "x-buntime-internal": "true",
    "x-database-adapter": t.adapter,
  };
  if (t.namespace) headers["x-database-namespace"] = t.namespace;
  const res = await t.fetch(`${t.baseUrl}/pipeline`, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw DatabaseError.fromResponse(res.status, text);
  try {
    return JSON.parse(text) as HranaPipelineResponse;
  } catch {
    throw new DatabaseError(`Database answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`, { status: res.status, body: text });
  }
}

/** Throws an error result as a {@link DatabaseError}. */
export function sqlError(error: HranaError, context?: string): DatabaseError {
  return new DatabaseError(context ? `${context}: ${error.message}` : error.message, { code: error.code });
}

/** Returns the response of an ok result, or throws its error. */
export function okResponse(result: HranaResult | undefined): HranaResponse {
  if (!result) throw new DatabaseError("the server answered fewer results than requests were sent");
  if (result.type === "error") throw sqlError(result.error);
  return result.response;
}

/** Returns the statement result of an `execute` response. */
export function executeResult(result: HranaResult | undefined): HranaStmtResult {
  const response = okResponse(result);
  if (response.type !== "execute") throw new DatabaseError(`expected an execute response, got ${response.type}`);
  return response.result;
}

/**
 * One HRANA stream. Each pipeline sends the baton of the previous answer; pipelines are sent one
 * at a time even when callers do not await each other, as a baton is only valid once.
 */
export class Stream {
  private baton: string | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private ended = false;

  constructor(private readonly transport: Transport) {}

  /** Whether the stream has been closed (by `close: true` or a failed pipeline). */
  get closed(): boolean {
    return this.ended;
  }

  /** Sends `requests` (followed by `close` when asked) and returns their results. */
  send(requests: HranaRequest[], close = false): Promise<HranaResult[]> {
    const run = async () => {
      if (this.ended) throw new DatabaseError("the stream is closed");
      const body = { baton: this.baton, requests: close ? [...requests, { type: "close" } as const] : requests };
      try {
        const res = await postPipeline(this.transport, body);
        this.baton = res.baton;
        if (close || res.baton === null) this.ended = true;
        return res.results.slice(0, requests.length);
      } catch (e) {
        // The server keeps nothing of a stream whose pipeline it refused (bad or expired baton).
        this.ended = true;
        throw e;
      }
    };
    const next = this.tail.then(run, run);
    this.tail = next.catch(() => {});
    return next;
  }
}

/** The SQL that opens a transaction on `adapter` in `mode`. */
export function beginSql(adapter: AdapterType, mode: TransactionMode): string {
  if (adapter === "sqlite" || adapter === "libsql") return mode === "write" ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED";
  return "BEGIN";
}

/** Batch steps that run `stmts` in order, each only if the one before succeeded. */
export function chainedSteps(stmts: HranaStmt[]): HranaStep[] {
  return stmts.map((stmt, i) => ({ condition: i === 0 ? null : { type: "ok", step: i - 1 }, stmt }));
}

/** Runs `stmts` as one HRANA batch on `stream`, stopping at (and throwing) the first error. */
export async function runChained(stream: Stream, stmts: HranaStmt[], close = false): Promise<HranaStmtResult[]> {
  if (stmts.length === 0) return [];
  const [result] = await stream.send([{ type: "batch", batch: { steps: chainedSteps(stmts) } }], close);
  const response = okResponse(result);
  if (response.type !== "batch") throw new DatabaseError(`expected a batch response, got ${response.type}`);
  return collectSteps(response.result.step_results, response.result.step_errors, 0, stmts.length);
}

/** Returns the results of steps `from..from+count`, or throws the first step error among them. */
export function collectSteps(results: (HranaStmtResult | null)[], errors: (HranaError | null)[], from: number, count: number): HranaStmtResult[] {
  const out: HranaStmtResult[] = [];
  for (let i = from; i < from + count; i++) {
    const err = errors[i];
    if (err) throw sqlError(err, `statement ${i - from}`);
    const res = results[i];
    if (!res) throw new DatabaseError(`statement ${i - from} did not run`);
    out.push(res);
  }
  return out;
}

/**
 * Runs `stmts` atomically in one pipeline: `BEGIN`, the statements (each only after the previous
 * one succeeded), `COMMIT`, and `ROLLBACK` when anything failed; then closes the stream.
 */
export async function atomicBatch(transport: Transport, stmts: HranaStmt[], mode: TransactionMode = "write"): Promise<HranaStmtResult[]> {
  if (stmts.length === 0) return [];
  const n = stmts.length;
  const steps: HranaStep[] = [
    ...chainedSteps([{ sql: beginSql(transport.adapter, mode) }, ...stmts, { sql: "COMMIT" }]),
    { condition: { type: "not", cond: { type: "ok", step: n + 1 } }, stmt: { sql: "ROLLBACK" } },
  ];
  const [result] = await new Stream(transport).send([{ type: "batch", batch: { steps } }], true);
  const response = okResponse(result);
  if (response.type !== "batch") throw new DatabaseError(`expected a batch response, got ${response.type}`);
  const { step_results: results, step_errors: errors } = response.result;
  if (errors[0]) throw sqlError(errors[0], "BEGIN");
  const out = collectSteps(results, errors, 1, n);
  if (errors[n + 1]) throw sqlError(errors[n + 1] as HranaError, "COMMIT");
  return out;
}

/**
 * An interactive transaction: `BEGIN` on a fresh stream, then every statement on its baton (the
 * server pins one connection to it), and `COMMIT` or `ROLLBACK` with `close` at the end.
 */
export class TransactionCore {
  private done = false;

  private constructor(private readonly stream: Stream) {}

  /** Opens the stream and starts the transaction. */
  static async begin(transport: Transport, mode: TransactionMode): Promise<TransactionCore> {
    const stream = new Stream(transport);
    const [result] = await stream.send([{ type: "execute", stmt: { sql: beginSql(transport.adapter, mode), want_rows: false } }]);
    if (result?.type === "error") {
      // Nothing to roll back; just free the server's stream.
      await stream.send([], true).catch(() => {});
      throw sqlError(result.error, "BEGIN");
    }
    okResponse(result);
    return new TransactionCore(stream);
  }

  /** Whether the transaction has ended (committed, rolled back, or lost with its stream). */
  get closed(): boolean {
    return this.done || this.stream.closed;
  }

  /** Whether the stream ended (a refused pipeline, e.g. an expired baton) before commit or rollback. */
  get lost(): boolean {
    return !this.done && this.stream.closed;
  }

  private assertOpen(): void {
    if (this.closed) throw new DatabaseError("the transaction is already committed or rolled back");
  }

  /** Runs one statement in the transaction. */
  async execute(stmt: HranaStmt): Promise<HranaStmtResult> {
    this.assertOpen();
    const [result] = await this.stream.send([{ type: "execute", stmt }]);
    return executeResult(result);
  }

  /** Runs statements in the transaction, stopping at the first error (which is thrown). */
  async batch(stmts: HranaStmt[]): Promise<HranaStmtResult[]> {
    this.assertOpen();
    return runChained(this.stream, stmts);
  }

  /** Runs a script of several statements (HRANA `sequence`) in the transaction. */
  async sequence(sql: string): Promise<void> {
    this.assertOpen();
    const [result] = await this.stream.send([{ type: "sequence", sql }]);
    okResponse(result);
  }

  /** Commits and closes the stream. If `COMMIT` fails the server rolls back as it closes. */
  async commit(): Promise<void> {
    this.assertOpen();
    this.done = true;
    const [result] = await this.stream.send([{ type: "execute", stmt: { sql: "COMMIT", want_rows: false } }], true);
    if (result?.type === "error") throw sqlError(result.error, "COMMIT");
    okResponse(result);
  }

  /** Rolls back and closes the stream; a no-op once the transaction has ended. */
  async rollback(): Promise<void> {
    if (this.closed) return;
    this.done = true;
    const [result] = await this.stream.send([{ type: "execute", stmt: { sql: "ROLLBACK", want_rows: false } }], true);
    if (result?.type === "error") throw sqlError(result.error, "ROLLBACK");
  }
}
