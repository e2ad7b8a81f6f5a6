/**
 * The wire forms: JSON with tagged bigints and bytes, `$now` and UUIDv7 placeholders, key checks,
 * and the `/`-joined path form of keys (only for keys whose parts survive it).
 */
import { type Duration, parseDuration } from "./duration.ts";
import type { KvKey, KvKeyPart } from "./types.ts";

/**
 * The server's time at write (or query) time, plus an offset: `{"$now": true, "$offset": ms}`.
 * Use it in values and `where` filters; `.add("1h")`/`.sub("5m")` return shifted copies.
 */
export class KvNow {
  constructor(readonly offset = 0) {}

  /** Returns the placeholder `duration` later. */
  add(duration: Duration): KvNow {
    return new KvNow(this.offset + parseDuration(duration, "now().add"));
  }

  /** Returns the placeholder `duration` earlier. */
  sub(duration: Duration): KvNow {
    return new KvNow(this.offset - parseDuration(duration, "now().sub"));
  }

  toJSON(): { $now: true; $offset?: number } {
    return this.offset === 0 ? { $now: true } : { $now: true, $offset: this.offset };
  }
}

/**
 * A key part that an atomic commit replaces by its own versionstamp (a UUIDv7), so related
 * entries written together can share a fresh id: `{"__type": "uuidv7"}` on the wire.
 */
export class KvUuidv7Placeholder {
  toJSON(): { __type: "uuidv7" } {
    return { __type: "uuidv7" };
  }
}

/** A key that may hold UUIDv7 placeholders (atomic mutations only). */
export type KvMutationKey = (KvKeyPart | KvUuidv7Placeholder)[];

/** Encodes bytes as standard base64. */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** Decodes base64, standard or URL-safe, padded or not. */
export function fromBase64(text: string): Uint8Array {
  const std = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(std + "=".repeat((4 - (std.length % 4)) % 4));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function replacer(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value === "bigint") return { __type: "bigint", value: value.toString() };
  if (value instanceof Uint8Array) return { __type: "bytes", value: toBase64(value) };
  return value;
}

/** Serialises a body: bigints and bytes tagged, placeholders in their wire form. */
export function encodeJson(value: unknown): string {
  const text = JSON.stringify(value, replacer);
  if (text === undefined) throw new TypeError("the value is not JSON-serialisable (undefined, a function or a symbol)");
  return text;
}

function isTagged(v: Record<string, unknown>, type: string): v is { __type: string; value: string } {
  return v.__type === type && typeof v.value === "string" && Object.keys(v).length === 2;
}

function reviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    if (isTagged(v, "bigint")) return BigInt(v.value);
    if (isTagged(v, "bytes")) return fromBase64(v.value);
  }
  return value;
}

/** Parses a response body, reviving tagged bigints and bytes. */
export function decodeJson<T>(text: string): T {
  return JSON.parse(text, reviver) as T;
}

/** Throws a `TypeError` naming the bad part unless `key` is a valid key (or, with `prefix`, a prefix). */
export function checkKey(key: unknown, what = "key", { prefix = false, placeholders = false } = {}): asserts key is KvKey {
  if (!Array.isArray(key)) throw new TypeError(`${what} must be an array of key parts`);
  if (!prefix && key.length === 0) throw new TypeError(`${what} must have at least one part`);
  key.forEach((part: unknown, i) => {
    if (typeof part === "string" || typeof part === "bigint" || typeof part === "boolean" || part instanceof Uint8Array) return;
    if (typeof part === "number") {
      if (!Number.isFinite(part)) throw new TypeError(`${what}[${i}] must be a finite number (got ${part})`);
      return;
    }
    if (part instanceof KvUuidv7Placeholder) {
      if (placeholders) return;
      throw new TypeError(`${what}[${i}]: UUIDv7 placeholders are only allowed in atomic mutations`);
    }
    throw new TypeError(`${what}[${i}] must be a string, number, bigint, boolean or Uint8Array`);
  });
}

/**
 * Whether `part` reads back unchanged from the path form. The server parses each `/` segment as a
 * number when it is `^-?\d+$` (safe range) and as a percent-decoded string otherwise, so booleans,
 * bigints, bytes, non-integer numbers, digit-only strings, and strings holding `/`, `%`, `,`
 * (the watch routes' key separator), empty or dot segments do not.
 */
export function pathSafePart(part: KvKeyPart): boolean {
  if (typeof part === "number") return Number.isSafeInteger(part) && !Object.is(part, -0);
  if (typeof part !== "string") return false;
  return part !== "" && part !== "." && part !== ".." && !/^-?\d+$/.test(part) && !/[/%,]/.test(part);
}

/** Whether every part of `key` survives the path form. */
export function pathSafe(key: KvKey): boolean {
  return key.every(pathSafePart);
}

/** The path form of `key` (`users/42/profile`); only for {@link pathSafe} keys. */
export function toPath(key: KvKey): string {
  return key.map((p) => encodeURIComponent(String(p))).join("/");
}

/** A string that identifies a key exactly (types included), for maps and caches. */
export function keyId(key: KvKey): string {
  return encodeJson(key);
}
