/**
 * `@buntime/keyval`: the client of plugin-keyval's HTTP API.
 *
 * ```ts
 * import { Kv } from "@buntime/keyval";
 * const kv = new Kv("http://127.0.0.1:8000/keyval/api");
 * ```
 */
export { KvAtomicOperation, type KvMutation, type KvMutationType, KvTransaction } from "./atomic.ts";
export { type KvMutationKey, KvNow, KvUuidv7Placeholder, pathSafe } from "./codec.ts";
export { type Duration, parseDuration } from "./duration.ts";
export { KvError, resolveBaseUrl } from "./http.ts";
export { Kv, type KvOptions } from "./kv.ts";
export { type SseEvent, SseParser } from "./sse.ts";
export type * from "./types.ts";
