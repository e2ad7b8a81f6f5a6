/**
 * Atomic commits (§A.7) and optimistic transactions (§A.9): the builder, the mutations it sends
 * to `POST /atomic`, and a transaction whose reads become the commit's checks.
 */
import { checkKey, keyId, type KvMutationKey } from "./codec.ts";
import { type Duration, parseDurationOptional } from "./duration.ts";
import type { KvCheck, KvCommitError, KvCommitResult, KvEntry, KvKey, KvSetOptions } from "./types.ts";

/** The mutation types the server applies. */
export type KvMutationType = "append" | "delete" | "max" | "min" | "prepend" | "set" | "sum";

/** One mutation as `POST /atomic` reads it (`expiresIn` in ms). */
export interface KvMutation {
  type: KvMutationType;
  key: KvMutationKey;
  value?: unknown;
  expiresIn?: number;
}

/** What commits a list of checks and mutations (the `Kv` client). */
export interface AtomicCommitter {
  commitAtomic(checks: KvCheck[], mutations: KvMutation[]): Promise<KvCommitError | KvCommitResult>;
}

function integerOperand(value: bigint | number, type: string): bigint | number {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  throw new TypeError(`${type} needs a bigint or a safe integer (got ${String(value)})`);
}

/** Collects mutations; shared by the atomic builder and transactions. */
class MutationList {
  readonly mutations: KvMutation[] = [];

  push(type: KvMutationType, key: KvMutationKey, value?: unknown, expiresIn?: Duration): void {
    checkKey(key, `${type} key`, { placeholders: true });
    const m: KvMutation = { type, key };
    if (value !== undefined) m.value = value;
    const ms = parseDurationOptional(expiresIn, "expiresIn");
    if (ms !== undefined) m.expiresIn = ms;
    this.mutations.push(m);
  }
}

/**
 * `kv.atomic()`: checks and mutations committed all together or not at all. Every written key
 * gets the commit's one versionstamp; `kv.uuidv7()` in a key is replaced by it.
 */
export class KvAtomicOperation {
  private readonly checks: KvCheck[] = [];
  private readonly list = new MutationList();

  constructor(private readonly committer: AtomicCommitter) {}

  /** Requires each key's versionstamp to still be the given one (`null`: the key must not exist). */
  check(...checks: KvCheck[]): this {
    for (const c of checks) {
      checkKey(c?.key, "check key");
      if (c.versionstamp !== null && typeof c.versionstamp !== "string") throw new TypeError("check versionstamp must be a string or null");
      this.checks.push({ key: c.key, versionstamp: c.versionstamp });
    }
    return this;
  }

  /** Writes a value. */
  set(key: KvMutationKey, value: unknown, options?: KvSetOptions): this {
    if (value === undefined) throw new TypeError("set value must not be undefined");
    this.list.push("set", key, value, options?.expiresIn);
    return this;
  }

  /** Deletes exactly this key (not its descendants). */
  delete(key: KvMutationKey): this {
    this.list.push("delete", key);
    return this;
  }

  /** Adds to a number (a missing key counts as 0). */
  sum(key: KvMutationKey, value: bigint | number): this {
    this.list.push("sum", key, integerOperand(value, "sum"));
    return this;
  }

  /** Keeps the larger of the stored number and `value` (a missing key takes `value`). */
  max(key: KvMutationKey, value: bigint | number): this {
    this.list.push("max", key, integerOperand(value, "max"));
    return this;
  }

  /** Keeps the smaller of the stored number and `value` (a missing key takes `value`). */
  min(key: KvMutationKey, value: bigint | number): this {
    this.list.push("min", key, integerOperand(value, "min"));
    return this;
  }

  /** Appends items to a stored array (a missing key counts as `[]`). */
  append(key: KvMutationKey, values: unknown[]): this {
    if (!Array.isArray(values)) throw new TypeError("append needs an array of values");
    this.list.push("append", key, values);
    return this;
  }

  /** Prepends items to a stored array (a missing key counts as `[]`). */
  prepend(key: KvMutationKey, values: unknown[]): this {
    if (!Array.isArray(values)) throw new TypeError("prepend needs an array of values");
    this.list.push("prepend", key, values);
    return this;
  }

  /** Commits: `{ok: true, versionstamp}`, or `{ok: false}` when a check failed (nothing written). */
  commit(): Promise<KvCommitError | KvCommitResult> {
    return this.committer.commitAtomic(this.checks, this.list.mutations);
  }
}

/** What a transaction reads through. */
export interface TransactionReader extends AtomicCommitter {
  get<T>(keys: KvKey[]): Promise<KvEntry<T>[]>;
}

/**
 * The `tx` of `kv.transaction(fn)`: reads go to the server once per key and are remembered (the
 * versionstamp read becomes a check at commit); writes are kept until the commit.
 */
export class KvTransaction {
  private readonly reads = new Map<string, KvEntry<unknown>>();
  private readonly list = new MutationList();

  constructor(private readonly kv: TransactionReader) {}

  /** Reads one key, or several (`[[…], […]]`), each at most once per transaction. */
  async get<T = unknown>(key: KvKey): Promise<KvEntry<T>>;
  async get<T = unknown>(keys: KvKey[]): Promise<KvEntry<T>[]>;
  async get<T = unknown>(keys: KvKey | KvKey[]): Promise<KvEntry<T> | KvEntry<T>[]> {
    const many = Array.isArray(keys) && keys.length > 0 && Array.isArray(keys[0]);
    const list = (many ? keys : [keys]) as KvKey[];
    list.forEach((k, i) => checkKey(k, many ? `keys[${i}]` : "key"));
    const missing = list.filter((k) => !this.reads.has(keyId(k)));
    if (missing.length > 0) {
      const entries = await this.kv.get<unknown>(missing);
      missing.forEach((k, i) => {
        const entry = entries[i];
        // Keyed by the key asked for: that is the key the commit's check must name.
        if (entry) this.reads.set(keyId(k), { ...entry, key: k });
      });
    }
    const out = list.map((k) => this.reads.get(keyId(k)) as KvEntry<T>);
    return many ? out : (out[0] as KvEntry<T>);
  }

  /** Writes a value at commit. */
  set(key: KvKey, value: unknown, options?: KvSetOptions): this {
    if (value === undefined) throw new TypeError("set value must not be undefined");
    this.list.push("set", key, value, options?.expiresIn);
    return this;
  }

  /** Deletes exactly this key at commit. */
  delete(key: KvKey): this {
    this.list.push("delete", key);
    return this;
  }

  /** Adds to a number at commit. */
  sum(key: KvKey, value: bigint | number): this {
    this.list.push("sum", key, integerOperand(value, "sum"));
    return this;
  }

  /** Keeps the larger number at commit. */
  max(key: KvKey, value: bigint | number): this {
    this.list.push("max", key, integerOperand(value, "max"));
    return this;
  }

  /** Keeps the smaller number at commit. */
  min(key: KvKey, value: bigint | number): this {
    this.list.push("min", key, integerOperand(value, "min"));
    return this;
  }

  /** Appends to an array at commit. */
  append(key: KvKey, values: unknown[]): this {
    if (!Array.isArray(values)) throw new TypeError("append needs an array of values");
    this.list.push("append", key, values);
    return this;
  }

  /** Prepends to an array at commit. */
  prepend(key: KvKey, values: unknown[]): this {
    if (!Array.isArray(values)) throw new TypeError("prepend needs an array of values");
    this.list.push("prepend", key, values);
    return this;
  }

  /** Commits with one check per key read. */
  commit(): Promise<KvCommitError | KvCommitResult> {
    const checks = [...this.reads.values()].map((e) => ({ key: e.key, versionstamp: e.versionstamp }));
    return this.kv.commitAtomic(checks, this.list.mutations);
  }
}
