/**
 * Public types of `@buntime/keyval`: keys, entries, and the options and results of each call.
 */
import type { Duration } from "./duration.ts";

/** One part of a key. Parts order by type (bytes < string < number < bigint < boolean), then value. */
export type KvKeyPart = bigint | boolean | number | string | Uint8Array;

/** A key: 1..20 parts (a prefix may be empty: the whole keyspace). */
export type KvKey = KvKeyPart[];

/** What a read returns; a missing (or expired) key has `value` and `versionstamp` `null`. */
export interface KvEntry<T = unknown> {
  key: KvKey;
  value: T | null;
  /** A UUIDv7 string, new on every write; compared by equality. */
  versionstamp: string | null;
}

/** Options of `set`. */
export interface KvSetOptions {
  /** Time to live (ms or a duration string); must be positive. */
  expiresIn?: Duration;
}

/** A JSON "where" filter over the value (§A.8): `{status: "active", age: {$gte: 18}}`. */
export type KvWhere = Record<string, unknown>;

/** Options of `delete`. */
export interface KvDeleteOptions {
  /** Delete only the key itself, not its descendants (the default deletes the subtree). */
  exact?: boolean;
  /** Delete only entries whose value matches. */
  where?: KvWhere;
}

/** What `delete` returns. */
export interface KvDeleteResult {
  success: true;
  deletedCount: number;
}

/** Options of `list`. */
export interface KvListOptions {
  /** First key (inclusive), within the prefix. */
  start?: KvKey;
  /** Last key (exclusive), within the prefix. */
  end?: KvKey;
  /** Most entries; default 100. Above the server's page (1000) the client fetches several pages. */
  limit?: number;
  reverse?: boolean;
  where?: KvWhere;
}

/** Options of `paginate`. */
export interface KvPaginateOptions {
  cursor?: string;
  limit?: number;
  reverse?: boolean;
}

/** One page of `paginate`. */
export interface KvPaginateResult<T = unknown> {
  entries: KvEntry<T>[];
  /** Pass to the next call; `null` on the last page. */
  cursor: string | null;
  hasMore: boolean;
}

/** A check of an atomic commit: the key's current versionstamp must equal this (`null`: must not exist). */
export interface KvCheck {
  key: KvKey;
  versionstamp: string | null;
}

/** A successful commit. */
export interface KvCommitResult {
  ok: true;
  versionstamp: string;
}

/** A commit refused because a check failed; nothing was written. */
export interface KvCommitError {
  ok: false;
}

/** Options of `transaction`. */
export interface KvTransactionOptions {
  /** Retries after a conflict; default 0. */
  maxRetries?: number;
  /** First retry delay (doubled each retry, with jitter); default 10 ms. */
  retryDelay?: Duration;
}

/** What `transaction` returns. */
export type KvTransactionResult<T> =
  | { ok: true; value: T; versionstamp: string }
  | { ok: false; error: "conflict" }
  | { ok: false; error: "error"; message: string; cause: unknown };

/** FTS5 tokenizers. */
export type KvTokenizer = "ascii" | "porter" | "unicode61";

/** Options of `createIndex`. */
export interface KvCreateIndexOptions {
  /** Dot paths into the value (`title`, `author.name`). */
  fields: string[];
  tokenize?: KvTokenizer;
}

/** One full-text index. */
export interface KvIndex {
  prefix: KvKey;
  fields: string[];
  tokenize: KvTokenizer;
  tableName: string;
}

/** Options of `search`. */
export interface KvSearchOptions {
  limit?: number;
  where?: KvWhere;
}

/** Options of `enqueue`. */
export interface KvEnqueueOptions {
  /** Deliver no sooner than this. */
  delay?: Duration;
  /** Waits before each retry; its length + 1 is the number of attempts. Default 1 s, 5 s, 10 s. */
  backoffSchedule?: Duration[];
  /** Where the value is written when every attempt failed. */
  keysIfUndelivered?: KvKey[];
}

/** A delivered queue message. */
export interface KvQueueMessage<T = unknown> {
  id: string;
  value: T;
  attempts: number;
}

/** Options of `listenQueue`. */
export interface KvListenOptions {
  /** `sse` (default; the server pushes) or `polling`. */
  mode?: "polling" | "sse";
  /** Ack when the handler resolves and nack when it throws (default true). */
  autoAck?: boolean;
  /** Polling: wait between empty polls; default 1 s. */
  pollInterval?: Duration;
  /** Wait before reconnecting after a failure; default 1 s. */
  reconnectDelay?: Duration;
  /** Called with connection and handler errors (the listener keeps going). */
  onError?: (error: unknown) => void;
}

/** A running listener or watcher. */
export interface KvListenHandle {
  /** Stops it; resolves once the message in progress (if any) has been handled. */
  stop(): Promise<void>;
  [Symbol.dispose](): void;
}

/** Queue counts. */
export interface KvQueueStats {
  pending: number;
  processing: number;
  dlq: number;
  total: number;
}

/** A dead-letter message. */
export interface KvDlqMessage<T = unknown> {
  id: string;
  originalId: string;
  value: T;
  errorMessage: string;
  attempts: number;
  originalCreatedAt: number;
  failedAt: number;
}

/** Options of `dlq.list`. */
export interface KvDlqListOptions {
  limit?: number;
  offset?: number;
}

/** What a watch callback receives: the entries that changed (deleted ones with `value: null`). */
export type KvWatchCallback<T = unknown> = (entries: KvEntry<T>[]) => void | Promise<void>;

/** What to drop when a watch buffer is full. */
export type KvWatchOverflowStrategy = "drop-newest" | "drop-oldest";

/** Options of `watch`. */
export interface KvWatchOptions {
  /** Watch these exact keys instead of everything under them (default false: prefixes). */
  exact?: boolean;
  /** `sse` (default) or `polling`. */
  mode?: "polling" | "sse";
  /** Report the current entries first (default true). */
  emitInitial?: boolean;
  /** Prefix watches: most entries compared per prefix; default 100. */
  limit?: number;
  /** Coalesce changes per key while the callback runs, keeping at most this many keys. */
  bufferSize?: number;
  overflowStrategy?: KvWatchOverflowStrategy;
  /** Polling: wait between polls; default 1 s. */
  pollInterval?: Duration;
  /** Wait before reconnecting after a failure; default 1 s. */
  reconnectDelay?: Duration;
  onError?: (error: unknown) => void;
}

/** Metrics of one operation. */
export interface KvOperationMetrics {
  count: number;
  errors: number;
  avgLatencyMs: number;
}

/** What `metrics("json")` returns. */
export interface KvMetrics {
  operations: {
    operations: Record<string, KvOperationMetrics>;
    totals: { errors: number; operations: number };
  };
  queue: KvQueueStats;
  storage: { entries: number; sizeBytes: number };
}
