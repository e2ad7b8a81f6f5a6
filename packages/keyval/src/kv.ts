/**
 * `Kv`: the client of plugin-keyval's HTTP API (§2, §A.14), sending exactly what the server's
 * routes read. Keys travel as JSON arrays (POST routes) unless every part survives the path form.
 */
import { type AtomicCommitter, KvAtomicOperation, type KvMutation, KvTransaction } from "./atomic.ts";
import { checkKey, decodeJson, keyId, KvNow, KvUuidv7Placeholder, pathSafe, toPath } from "./codec.ts";
import { parseDuration, parseDurationOptional } from "./duration.ts";
import { Http, KvError, resolveBaseUrl } from "./http.ts";
import { readSse } from "./sse.ts";
import { allHandles, Deliverer, loop, sleep } from "./streams.ts";
import type {
  KvCheck,
  KvCommitError,
  KvCommitResult,
  KvCreateIndexOptions,
  KvDeleteOptions,
  KvDeleteResult,
  KvDlqListOptions,
  KvDlqMessage,
  KvEnqueueOptions,
  KvEntry,
  KvIndex,
  KvKey,
  KvListenHandle,
  KvListenOptions,
  KvListOptions,
  KvMetrics,
  KvPaginateOptions,
  KvPaginateResult,
  KvQueueMessage,
  KvQueueStats,
  KvSearchOptions,
  KvSetOptions,
  KvTransactionOptions,
  KvTransactionResult,
  KvWatchCallback,
  KvWatchOptions,
} from "./types.ts";

/** The most keys or entries one request carries (the server's batch and page limit). */
export const PAGE = 1000;

/** Options of `new Kv(…)`. */
export interface KvOptions {
  /** The fetch to use; default the global one. */
  fetch?: typeof fetch;
  /** Headers added to every request (e.g. `Authorization`). */
  headers?: Record<string, string>;
}

function isKeyList(keys: KvKey | KvKey[]): keys is KvKey[] {
  return keys.length > 0 && Array.isArray(keys[0]);
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function positiveLimit(limit: number | undefined, what: string): number | undefined {
  if (limit === undefined) return undefined;
  if (!(limit > 0) || (!Number.isInteger(limit) && limit !== Number.POSITIVE_INFINITY)) throw new RangeError(`${what} must be a positive integer (got ${limit})`);
  return limit;
}

function absolute(base: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(base)) return base;
  const origin = (globalThis as { location?: { origin?: string } }).location?.origin;
  if (origin && origin !== "null") return new URL(base, origin).toString().replace(/\/+$/, "");
  throw new TypeError(`Kv needs an absolute base URL outside a browser (got ${JSON.stringify(base)}); workers get one from RUNTIME_API_URL`);
}

/**
 * A KeyVal client.
 *
 * ```ts
 * const kv = new Kv(); // in a worker: ${RUNTIME_API_URL}/keyval/api
 * await kv.set(["users", 1], { name: "Ada" });
 * const { value } = await kv.get(["users", 1]);
 * ```
 */
export class Kv implements AtomicCommitter {
  private readonly http: Http;

  /** `baseUrl` is the API root, e.g. `http://127.0.0.1:8000/keyval/api` (see {@link resolveBaseUrl}). */
  constructor(baseUrl?: string, options: KvOptions = {}) {
    this.http = new Http(absolute(resolveBaseUrl(baseUrl)), options.fetch ?? fetch, { ...options.headers });
  }

  /** The API root every path is under. */
  get baseUrl(): string {
    return this.http.baseUrl;
  }

  /** The server's current time (plus an offset via `.add`/`.sub`), for values and `where` filters. */
  now(): KvNow {
    return new KvNow();
  }

  /** A key part an atomic commit replaces by its versionstamp (a fresh UUIDv7). */
  uuidv7(): KvUuidv7Placeholder {
    return new KvUuidv7Placeholder();
  }

  // ---- keys ----

  /** Reads one key (a missing one has `value: null`), or several keys in request order. */
  async get<T = unknown>(key: KvKey): Promise<KvEntry<T>>;
  async get<T = unknown>(keys: KvKey[]): Promise<KvEntry<T>[]>;
  async get<T = unknown>(keys: KvKey | KvKey[]): Promise<KvEntry<T> | KvEntry<T>[]> {
    if (!Array.isArray(keys)) throw new TypeError("get needs a key (an array of parts) or an array of keys");
    if (keys.length === 0) return [];
    if (isKeyList(keys)) return this.getMany<T>(keys);
    checkKey(keys);
    if (!pathSafe(keys)) return (await this.getMany<T>([keys]))[0] as KvEntry<T>;
    const entry = await this.http.json<KvEntry<T>>({ path: `/keys/${toPath(keys)}`, allow: [404] });
    return entry ?? { key: keys, value: null, versionstamp: null };
  }

  private async getMany<T>(keys: KvKey[]): Promise<KvEntry<T>[]> {
    keys.forEach((k, i) => checkKey(k, `keys[${i}]`));
    const out: KvEntry<T>[] = [];
    for (const chunk of chunks(keys, PAGE)) {
      out.push(...(await this.http.must<KvEntry<T>[]>({ method: "POST", path: "/keys/batch", body: { keys: chunk } })));
    }
    return out;
  }

  /** Writes a value; `expiresIn` in ms or a duration string. */
  async set(key: KvKey, value: unknown, options: KvSetOptions = {}): Promise<KvCommitResult> {
    checkKey(key);
    if (value === undefined) throw new TypeError("set value must not be undefined");
    const expiresIn = parseDurationOptional(options.expiresIn, "expiresIn");
    if (!pathSafe(key)) {
      // The path form would change this key's parts; an atomic commit carries the real array.
      const res = await this.atomic().set(key, value, options).commit();
      if (!res.ok) throw new Error("an unconditional set was refused");
      return res;
    }
    return this.http.must<KvCommitResult>({ method: "PUT", path: `/keys/${toPath(key)}`, query: { expiresIn }, body: value });
  }

  /**
   * Deletes a key and its descendants (only the key with `exact`), optionally only entries whose
   * value matches `where`; or several keys (`[[…], […]]`).
   */
  async delete(keys: KvKey | KvKey[], options: KvDeleteOptions = {}): Promise<KvDeleteResult> {
    if (!Array.isArray(keys) || keys.length === 0) throw new TypeError("delete needs a key or a non-empty array of keys");
    const filter: { exact?: boolean; where?: unknown } = {};
    if (options.exact !== undefined) filter.exact = options.exact;
    if (options.where !== undefined) filter.where = options.where;
    const list = isKeyList(keys) ? keys : [keys];
    list.forEach((k, i) => checkKey(k, isKeyList(keys) ? `keys[${i}]` : "key"));
    const single = list[0] as KvKey;
    if (list.length === 1 && pathSafe(single)) {
      const body = Object.keys(filter).length > 0 ? filter : undefined;
      const res = await this.http.must<{ deletedCount: number }>({ method: "DELETE", path: `/keys/${toPath(single)}`, body });
      return { success: true, deletedCount: res.deletedCount };
    }
    let deletedCount = 0;
    for (const chunk of chunks(list, PAGE)) {
      deletedCount += (await this.http.must<{ deletedCount: number }>({ method: "POST", path: "/keys/delete-batch", body: { keys: chunk, ...filter } })).deletedCount;
    }
    return { success: true, deletedCount };
  }

  /**
   * Lists the entries under `prefix` (its strict descendants), in key order. `limit` defaults to
   * 100; larger limits (even `Infinity`) are fetched 1000 at a time.
   */
  async *list<T = unknown>(prefix: KvKey, options: KvListOptions = {}): AsyncGenerator<KvEntry<T>> {
    checkKey(prefix, "prefix", { prefix: true });
    if (options.start) checkKey(options.start, "start");
    if (options.end) checkKey(options.end, "end");
    const limit = positiveLimit(options.limit, "limit") ?? 100;
    const simple = options.where === undefined && limit <= PAGE && pathSafe(prefix) && (!options.start || pathSafe(options.start)) && (!options.end || pathSafe(options.end));
    if (simple) {
      const query = {
        prefix: prefix.length > 0 ? toPath(prefix) : undefined,
        start: options.start ? toPath(options.start) : undefined,
        end: options.end ? toPath(options.end) : undefined,
        limit,
        reverse: options.reverse ? "true" : undefined,
      };
      yield* await this.http.must<KvEntry<T>[]>({ path: "/keys", query });
      return;
    }
    yield* this.listPages<T>(prefix, options, limit);
  }

  /** `POST /keys/list`, page after page, continuing after the last key seen. */
  private async *listPages<T>(prefix: KvKey, options: KvListOptions, limit: number): AsyncGenerator<KvEntry<T>> {
    let { start, end } = options;
    let skip: string | null = null;
    let remaining = limit;
    while (remaining > 0) {
      // Going forward, `start` is inclusive: ask one more to make up for the key seen already.
      const ask = Math.min(remaining + (skip ? 1 : 0), PAGE);
      const body = { prefix, start, end, limit: ask, reverse: options.reverse ?? false, where: options.where };
      const page = await this.http.must<KvEntry<T>[]>({ method: "POST", path: "/keys/list", body });
      const fresh = skip !== null && page[0] && keyId(page[0].key) === skip ? page.slice(1) : page;
      const taken = fresh.slice(0, remaining);
      yield* taken;
      remaining -= taken.length;
      const last = taken.at(-1);
      if (page.length < ask || !last) return;
      if (options.reverse) {
        end = last.key;
        skip = null;
      } else {
        start = last.key;
        skip = keyId(last.key);
      }
    }
  }

  /** Counts the entries under `prefix`. */
  async count(prefix: KvKey): Promise<number> {
    checkKey(prefix, "prefix", { prefix: true });
    return (await this.http.must<{ count: number }>({ method: "POST", path: "/keys/count", body: { prefix } })).count;
  }

  /** One page of the entries under `prefix`; pass the returned `cursor` for the next one. */
  async paginate<T = unknown>(prefix: KvKey, options: KvPaginateOptions = {}): Promise<KvPaginateResult<T>> {
    checkKey(prefix, "prefix", { prefix: true });
    const limit = positiveLimit(options.limit, "limit") ?? 100;
    const body = { prefix, cursor: options.cursor, limit, reverse: options.reverse ?? false };
    return this.http.must<KvPaginateResult<T>>({ method: "POST", path: "/keys/paginate", body });
  }

  // ---- atomic commits and transactions ----

  /** Starts an atomic commit (checks + mutations, all or nothing). */
  atomic(): KvAtomicOperation {
    return new KvAtomicOperation(this);
  }

  /** @internal `POST /atomic`. */
  async commitAtomic(checks: KvCheck[], mutations: KvMutation[]): Promise<KvCommitError | KvCommitResult> {
    return this.http.must<KvCommitError | KvCommitResult>({ method: "POST", path: "/atomic", body: { checks, mutations } });
  }

  /**
   * Runs `fn` optimistically: its reads are remembered and checked at commit, its writes are sent
   * in one atomic commit. A conflict (someone wrote a key `fn` read) reruns `fn`, up to
   * `maxRetries` times, with exponential backoff (capped at 1 s) and jitter.
   */
  async transaction<T>(fn: (tx: KvTransaction) => Promise<T> | T, options: KvTransactionOptions = {}): Promise<KvTransactionResult<T>> {
    const maxRetries = options.maxRetries ?? 0;
    if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new RangeError("maxRetries must be a non-negative integer");
    const delay = parseDuration(options.retryDelay ?? 10, "retryDelay");
    for (let attempt = 0; ; attempt++) {
      const tx = new KvTransaction(this);
      let value: T;
      try {
        value = await fn(tx);
      } catch (cause) {
        return { ok: false, error: "error", message: cause instanceof Error ? cause.message : String(cause), cause };
      }
      const res = await tx.commit();
      if (res.ok) return { ok: true, value, versionstamp: res.versionstamp };
      if (attempt >= maxRetries) return { ok: false, error: "conflict" };
      // Doubling, capped at 1 s (or retryDelay if larger), with ±50% jitter so retriers spread out.
      await sleep(Math.min(delay * 2 ** attempt, Math.max(delay, 1000)) * (0.5 + Math.random()));
    }
  }

  // ---- full-text search ----

  /** Creates a full-text index over `fields` of the values under `prefix` (new writes are indexed). */
  async createIndex(prefix: KvKey, options: KvCreateIndexOptions): Promise<void> {
    checkKey(prefix, "prefix", { prefix: true });
    if (!Array.isArray(options?.fields) || options.fields.length === 0) throw new TypeError("createIndex needs options.fields, a non-empty array");
    const opts: { fields: string[]; tokenize?: string } = { fields: options.fields };
    if (options.tokenize) opts.tokenize = options.tokenize;
    await this.http.must({ method: "POST", path: "/indexes", body: { prefix, options: opts } });
  }

  /** Lists the full-text indexes. */
  async listIndexes(): Promise<KvIndex[]> {
    return this.http.must<KvIndex[]>({ path: "/indexes" });
  }

  /** Removes the full-text index of exactly `prefix`. */
  async removeIndex(prefix: KvKey): Promise<void> {
    checkKey(prefix, "prefix", { prefix: true });
    await this.http.must({ method: "DELETE", path: "/indexes", body: { prefix } });
  }

  /** Searches the index of exactly `prefix`; `where` filters the matches' values. */
  async *search<T = unknown>(prefix: KvKey, query: string, options: KvSearchOptions = {}): AsyncGenerator<KvEntry<T>> {
    checkKey(prefix, "prefix", { prefix: true });
    if (typeof query !== "string" || query.trim() === "") throw new TypeError("search needs a non-empty query");
    const opts: { limit?: number; where?: unknown } = {};
    if (options.limit !== undefined) opts.limit = positiveLimit(options.limit, "limit");
    if (options.where !== undefined) opts.where = options.where;
    yield* await this.http.must<KvEntry<T>[]>({ method: "POST", path: "/search", body: { prefix, query, options: opts } });
  }

  // ---- queue ----

  /** Adds a message to the queue. */
  async enqueue(value: unknown, options: KvEnqueueOptions = {}): Promise<{ ok: true; id: string }> {
    if (value === undefined) throw new TypeError("enqueue value must not be undefined");
    const opts: { delay?: number; backoffSchedule?: number[]; keysIfUndelivered?: KvKey[] } = {};
    if (options.delay !== undefined) opts.delay = parseDuration(options.delay, "delay");
    if (options.backoffSchedule) opts.backoffSchedule = options.backoffSchedule.map((d, i) => parseDuration(d, `backoffSchedule[${i}]`));
    if (options.keysIfUndelivered) {
      options.keysIfUndelivered.forEach((k, i) => checkKey(k, `keysIfUndelivered[${i}]`));
      opts.keysIfUndelivered = options.keysIfUndelivered;
    }
    return this.http.must({ method: "POST", path: "/queue/enqueue", body: { value, options: opts } });
  }

  /** Takes the next ready message (locking it until acked, nacked or its lock expires), or `null`. */
  async dequeue<T = unknown>(): Promise<KvQueueMessage<T> | null> {
    return (await this.http.must<{ message: KvQueueMessage<T> | null }>({ path: "/queue/poll" })).message;
  }

  /** Marks a message done (deleted). */
  async ack(id: string): Promise<void> {
    await this.http.must({ method: "POST", path: "/queue/ack", body: { id } });
  }

  /** Marks a message failed: retried after its backoff, or dead-lettered after the last attempt. */
  async nack(id: string): Promise<void> {
    await this.http.must({ method: "POST", path: "/queue/nack", body: { id } });
  }

  /** Same as {@link ack}. */
  ackMessage(id: string): Promise<void> {
    return this.ack(id);
  }

  /** Same as {@link nack}. */
  nackMessage(id: string): Promise<void> {
    return this.nack(id);
  }

  /**
   * Calls `handler` for each message, one at a time, over SSE (default) or polling. With
   * `autoAck` (default) a message is acked when the handler resolves and nacked when it throws.
   */
  listenQueue<T = unknown>(handler: (value: T, message: KvQueueMessage<T>) => Promise<void> | void, options: KvListenOptions = {}): KvListenHandle {
    const autoAck = options.autoAck ?? true;
    const onError = options.onError ?? (() => {});
    const pollInterval = parseDuration(options.pollInterval ?? 1000, "pollInterval");
    const handle = async (msg: KvQueueMessage<T>) => {
      try {
        await handler(msg.value, msg);
      } catch (e) {
        onError(e);
        if (autoAck) await this.nack(msg.id).catch(onError);
        return;
      }
      if (autoAck) await this.ack(msg.id).catch(onError);
    };
    const connect = async (signal: AbortSignal) => {
      if (options.mode === "polling") {
        while (!signal.aborted) {
          const res = await this.http.must<{ message: KvQueueMessage<T> | null }>({ path: "/queue/poll", signal });
          if (res.message) await handle(res.message);
          else await sleep(pollInterval, signal);
        }
        return;
      }
      const res = await this.http.send({ path: "/queue/listen", accept: "text/event-stream", signal });
      if (!res?.body) throw new Error("the queue stream has no body");
      for await (const ev of readSse(res.body)) {
        if (ev.event === "message") await handle(decodeJson<KvQueueMessage<T>>(ev.data));
        if (signal.aborted) break;
      }
    };
    return loop(connect, parseDuration(options.reconnectDelay ?? 1000, "reconnectDelay"), onError);
  }

  /** Counts pending, processing and dead-lettered messages. */
  async queueStats(): Promise<KvQueueStats> {
    return this.http.must<KvQueueStats>({ path: "/queue/stats" });
  }

  /** The dead-letter queue. */
  get dlq() {
    return {
      /** Newest first. */
      list: <T = unknown>(options: KvDlqListOptions = {}): Promise<KvDlqMessage<T>[]> => this.http.must({ path: "/queue/dlq", query: { limit: options.limit, offset: options.offset } }),
      /** One message, or `null`. */
      get: <T = unknown>(id: string): Promise<KvDlqMessage<T> | null> => this.http.json({ path: `/queue/dlq/${encodeURIComponent(id)}`, allow: [404] }),
      /** Enqueues a copy again (default options); returns the new message's id. */
      requeue: (id: string): Promise<{ ok: true; newId: string }> => this.http.must({ method: "POST", path: `/queue/dlq/${encodeURIComponent(id)}/requeue` }),
      /** Deletes one message (idempotent). */
      delete: async (id: string): Promise<void> => {
        await this.http.must({ method: "DELETE", path: `/queue/dlq/${encodeURIComponent(id)}` });
      },
      /** Deletes every message. */
      purge: (): Promise<{ deletedCount: number }> => this.http.must({ method: "DELETE", path: "/queue/dlq" }),
    };
  }

  // ---- watch ----

  /**
   * Calls `callback` with the entries that change under `keys` (prefixes by default; exact keys
   * with `exact`), deletions as `value: null`. SSE uses the server's `/watch` and `/watch/prefix`
   * streams; exact-key polling uses `/watch/poll`. Prefix polling, and prefixes the path form
   * cannot carry, use `POST /watch/prefix/poll`; exact keys the path form cannot carry poll
   * `POST /keys/batch` and diff in the client.
   */
  watch<T = unknown>(keys: KvKey | KvKey[], callback: KvWatchCallback<T>, options: KvWatchOptions = {}): KvListenHandle {
    const list = Array.isArray(keys) && isKeyList(keys) ? keys : [keys as KvKey];
    list.forEach((k, i) => checkKey(k, `watch key ${i}`, { prefix: !options.exact }));
    const onError = options.onError ?? (() => {});
    const out = new Deliverer<T>(callback, onError, options.bufferSize ?? null, options.overflowStrategy ?? "drop-oldest");
    const reconnect = parseDuration(options.reconnectDelay ?? 1000, "reconnectDelay");
    const pollInterval = parseDuration(options.pollInterval ?? 1000, "pollInterval");
    const initial = options.emitInitial ?? true;
    const limit = positiveLimit(options.limit, "limit") ?? 100;
    const polling = options.mode === "polling";
    const idle = () => out.idle();

    if (options.exact) {
      if (!list.every(pathSafe)) return loop((signal) => this.watchByReads<T>(list, initial, pollInterval, out, signal), reconnect, onError, idle);
      const keysParam = list.map(toPath).join(",");
      if (!polling) {
        return loop((signal) => this.sse<T>("/watch", { keys: keysParam, initial: String(initial) }, out, signal), reconnect, onError, idle);
      }
      let stamps: string[] | null = null;
      return loop(
        async (signal) => {
          while (!signal.aborted) {
            const res = await this.http.must<{ entries: KvEntry<T>[]; versionstamps: string[] }>({ path: "/watch/poll", query: { keys: keysParam, versionstamps: stamps?.join(",") }, signal });
            if (stamps !== null || initial) out.push(res.entries);
            stamps = res.versionstamps;
            await sleep(pollInterval, signal);
          }
        },
        reconnect,
        onError,
        idle,
      );
    }

    // The SSE route takes the path form; the JSON poll carries any prefix, with typed keys both ways.
    const sse = !polling && list.every(pathSafe);
    const handles = list.map((prefix) =>
      loop(
        (signal) => (sse ? this.sse<T>("/watch/prefix", { prefix: toPath(prefix), initial: String(initial), limit }, out, signal) : this.pollPrefix<T>(prefix, limit, initial, pollInterval, out, signal)),
        reconnect,
        onError,
      ),
    );
    return allHandles(handles, idle);
  }

  /** Reads one SSE watch stream, handing each `change` event to `out`. */
  private async sse<T>(path: string, query: Record<string, string | number>, out: Deliverer<T>, signal: AbortSignal): Promise<void> {
    const res = await this.http.send({ path, query, accept: "text/event-stream", signal });
    if (!res?.body) throw new Error(`the ${path} stream has no body`);
    for await (const ev of readSse(res.body)) {
      if (signal.aborted) break;
      if (ev.event === "change") out.push(decodeJson<KvEntry<T>[]>(ev.data));
    }
  }

  /** Polls `POST /watch/prefix/poll`, sending back the versionstamps of the previous answer. */
  private async pollPrefix<T>(prefix: KvKey, limit: number, initial: boolean, pollInterval: number, out: Deliverer<T>, signal: AbortSignal): Promise<void> {
    type Stamp = { key: KvKey; versionstamp: string };
    let stamps: Stamp[] | null = null;
    while (!signal.aborted) {
      const body = { prefix, limit, versionstamps: stamps ?? [] };
      const res: { entries: KvEntry<T>[]; versionstamps: Stamp[] } = await this.http.must({ method: "POST", path: "/watch/prefix/poll", body, signal });
      if (stamps !== null || initial) out.push(res.entries);
      stamps = res.versionstamps;
      await sleep(pollInterval, signal);
    }
  }

  /** Watches exact keys the path form cannot carry: polls `POST /keys/batch` and diffs. */
  private async watchByReads<T>(list: KvKey[], initial: boolean, pollInterval: number, out: Deliverer<T>, signal: AbortSignal): Promise<void> {
    let seen: Map<string, KvEntry<T>> | null = null;
    while (!signal.aborted) {
      const now = new Map<string, KvEntry<T>>();
      for (const e of await this.get<T>(list)) if (e.versionstamp !== null) now.set(keyId(e.key), e);
      const changed: KvEntry<T>[] = [];
      for (const [id, e] of now) if (seen?.get(id)?.versionstamp !== e.versionstamp) changed.push(e);
      if (seen) for (const [id, e] of seen) if (!now.has(id)) changed.push({ key: e.key, value: null, versionstamp: null });
      if (seen !== null || initial) out.push(changed);
      seen = now;
      await sleep(pollInterval, signal);
    }
  }

  // ---- metrics ----

  /** Operation, queue and storage metrics, as JSON or as Prometheus text. */
  async metrics(format?: "json"): Promise<KvMetrics>;
  async metrics(format: "prometheus"): Promise<string>;
  async metrics(format: "json" | "prometheus" = "json"): Promise<KvMetrics | string> {
    if (format === "prometheus") {
      const res = await this.http.send({ path: "/metrics/prometheus" });
      return (res as Response).text();
    }
    return this.http.must<KvMetrics>({ path: "/metrics" });
  }
}

export { KvError };
