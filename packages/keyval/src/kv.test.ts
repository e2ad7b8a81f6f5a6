/**
 * `@buntime/keyval` against the real runtime: `target/debug/buntime` serving the repository's
 * `plugins/` (plugin-keyval on plugin-database) on a free port. No fetch is mocked: these tests
 * are what keeps the SDK and the server's routes in agreement (the original's S-2).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { type RunningRuntime, startRuntime } from "@buntime/shared/testing/runtime";
import { Kv, KvError, type KvEntry, type KvKey } from "./index.ts";

const runtime: RunningRuntime = await startRuntime();
const loaded = (await runtime.loadedPlugins()).includes("@buntime/plugin-keyval");
if (!loaded) console.warn("skipped: keyval plugin not loaded (plugins/plugin-keyval is absent from /api/plugins/loaded)");
const kv = new Kv(`${runtime.url}/keyval/api`);

afterAll(async () => {
  await runtime.stop();
});

/** Polls `check` until it is true or `ms` pass. */
async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out waiting for a condition");
    await Bun.sleep(25);
  }
}

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Empties the (global) queue and the DLQ, so each queue test starts clean. */
async function drainQueue(): Promise<void> {
  for (let m = await kv.dequeue(); m; m = await kv.dequeue()) await kv.ack(m.id);
  await kv.dlq.purge();
}

describe.skipIf(!loaded)("keys", () => {
  test("set then get returns the value and the versionstamp; a missing key reads as null", async () => {
    const { ok, versionstamp } = await kv.set(["crud", "ada"], { name: "Ada", born: 1815 });
    expect(ok).toBe(true);
    expect(versionstamp).toMatch(/^[0-9a-f-]{36}$/);
    expect(await kv.get(["crud", "ada"])).toEqual({ key: ["crud", "ada"], value: { name: "Ada", born: 1815 }, versionstamp });
    expect(await kv.get(["crud", "nobody"])).toEqual({ key: ["crud", "nobody"], value: null, versionstamp: null });
  });

  test("keys keep their part types: digit strings, booleans, bigints, bytes, slashes, fractions", async () => {
    const keys: KvKey[] = [
      ["typed", "123"],
      ["typed", 123],
      ["typed", true],
      ["typed", "true"],
      ["typed", 2n ** 80n],
      ["typed", new Uint8Array([0, 1, 255])],
      ["typed", "a/b"],
      ["typed", "50%"],
      ["typed", 1.5],
    ];
    for (const [i, key] of keys.entries()) await kv.set(key, i);
    for (const [i, key] of keys.entries()) {
      const entry = await kv.get(key);
      expect(entry.value).toBe(i);
      expect(entry.key).toEqual(key);
    }
    // Nine distinct entries: "123" and 123, true and "true" are different keys.
    const listed = await all(kv.list(["typed"]));
    expect(listed).toHaveLength(keys.length);
    expect(listed.map((e) => e.value).sort()).toEqual(keys.map((_, i) => i));
    const batch = await kv.get(keys);
    expect(batch.map((e) => e.value)).toEqual(keys.map((_, i) => i));
  });

  test("values keep bigints and bytes; $now placeholders become the server's time", async () => {
    const before = Date.now();
    await kv.set(["values", 1], { big: 2n ** 70n, at: kv.now(), later: kv.now().add("1h"), nested: [{ t: kv.now().sub(1000) }] });
    const { value } = await kv.get<{ big: bigint; at: number; later: number; nested: { t: number }[] }>(["values", 1]);
    expect(value?.big).toBe(2n ** 70n);
    expect(value?.at).toBeGreaterThanOrEqual(before - 1000);
    expect(value?.at).toBeLessThanOrEqual(Date.now() + 1000);
    expect((value?.later ?? 0) - (value?.at ?? 0)).toBe(3_600_000);
    expect((value?.at ?? 0) - (value?.nested[0]?.t ?? 0)).toBe(1000);
  });

  test("expiresIn hides the entry once it has passed", async () => {
    await kv.set(["ttl", "short"], "soon gone", { expiresIn: "400ms" });
    expect((await kv.get(["ttl", "short"])).value).toBe("soon gone");
    await Bun.sleep(700);
    expect((await kv.get(["ttl", "short"])).versionstamp).toBeNull();
  });

  test("a value the server refuses is a KvError with the status and the server's message", async () => {
    const err = (await kv.set(["bad"], 1, { expiresIn: 0 }).catch((e: unknown) => e)) as KvError;
    expect(err).toBeInstanceOf(KvError);
    expect(err.status).toBe(400);
    expect(err.message).toContain("expiresIn");
  });

  test("delete removes the subtree by default, the key alone with exact, matches only with where", async () => {
    await kv.set(["del", "u"], "root");
    await kv.set(["del", "u", "a"], { role: "admin" });
    await kv.set(["del", "u", "b"], { role: "user" });
    expect((await kv.delete(["del", "u"], { exact: true })).deletedCount).toBe(1);
    expect(await kv.count(["del", "u"])).toBe(2);
    expect((await kv.delete(["del", "u"], { where: { role: "admin" } })).deletedCount).toBe(1);
    expect((await all(kv.list(["del", "u"]))).map((e) => e.key)).toEqual([["del", "u", "b"]]);
    expect((await kv.delete(["del"])).deletedCount).toBe(1);
    expect(await kv.count(["del"])).toBe(0);
  });

  test("delete of typed keys and of several keys at once", async () => {
    await kv.set(["deltyped", false], 1);
    await kv.set(["deltyped", "false"], 2);
    await kv.set(["deltyped", 9n], 3);
    expect((await kv.delete(["deltyped", false])).deletedCount).toBe(1);
    expect((await kv.get(["deltyped", "false"])).value).toBe(2);
    expect((await kv.delete([["deltyped", "false"], ["deltyped", 9n]])).deletedCount).toBe(2);
    expect(await kv.count(["deltyped"])).toBe(0);
  });
});

describe.skipIf(!loaded)("list, count, paginate", () => {
  const n = 1100;
  const prefix = ["many"];

  test("setup: 1100 entries written in atomic commits", async () => {
    for (let i = 0; i < n; i += 100) {
      const op = kv.atomic();
      for (let j = i; j < i + 100; j++) op.set([...prefix, j], { i: j, even: j % 2 === 0 });
      expect((await op.commit()).ok).toBe(true);
    }
    expect(await kv.count(prefix)).toBe(n);
  });

  test("list orders by key, honours limit, reverse, start and end", async () => {
    expect((await all(kv.list(prefix, { limit: 3 }))).map((e) => e.key)).toEqual([
      ["many", 0],
      ["many", 1],
      ["many", 2],
    ]);
    expect((await all(kv.list(prefix, { limit: 2, reverse: true }))).map((e) => e.value)).toEqual([{ i: 1099, even: false }, { i: 1098, even: true }]);
    expect((await all(kv.list(prefix, { start: ["many", 10], end: ["many", 13] }))).map((e) => (e.value as { i: number }).i)).toEqual([10, 11, 12]);
    // The default page is 100.
    expect(await all(kv.list(prefix))).toHaveLength(100);
  });

  test("limits above the server's page of 1000 are fetched in pages, in order, without repeats", async () => {
    const forward = await all(kv.list<{ i: number }>(prefix, { limit: 1050 }));
    expect(forward.map((e) => e.value?.i)).toEqual(Array.from({ length: 1050 }, (_, i) => i));
    const back = await all(kv.list<{ i: number }>(prefix, { limit: Number.POSITIVE_INFINITY, reverse: true }));
    expect(back.map((e) => e.value?.i)).toEqual(Array.from({ length: n }, (_, i) => n - 1 - i));
  });

  test("where filters (POST /keys/list)", async () => {
    const evensBelow10 = await all(kv.list<{ i: number }>(prefix, { where: { even: true, i: { $lt: 10 } } }));
    expect(evensBelow10.map((e) => e.value?.i)).toEqual([0, 2, 4, 6, 8]);
    const some = await all(kv.list<{ i: number }>(prefix, { where: { $or: [{ i: 3 }, { i: { $in: [5, 7] } }] } }));
    expect(some.map((e) => e.value?.i)).toEqual([3, 5, 7]);
  });

  test("paginate walks every entry once through the server's cursors", async () => {
    const seen: number[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await kv.paginate<{ i: number }>(prefix, { limit: 400, cursor });
      seen.push(...page.entries.map((e) => e.value?.i as number));
      cursor = page.cursor ?? undefined;
      pages++;
      expect(page.hasMore).toBe(cursor !== undefined);
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  test("count and paginate under a prefix the path form cannot carry", async () => {
    const typed: KvKey = ["pages", true, "7"];
    for (let i = 0; i < 5; i++) await kv.set([...typed, i], i);
    await kv.set(["pages", "true", "7", 0], "other");
    expect(await kv.count(typed)).toBe(5);
    const first = await kv.paginate(typed, { limit: 2 });
    expect(first.entries.map((e) => e.value)).toEqual([0, 1]);
    expect(first.hasMore).toBe(true);
    const second = await kv.paginate(typed, { limit: 2, cursor: first.cursor ?? undefined });
    expect(second.entries.map((e) => e.value)).toEqual([2, 3]);
    const third = await kv.paginate(typed, { limit: 2, cursor: second.cursor ?? undefined });
    expect(third).toEqual({ entries: [{ key: [...typed, 4], value: 4, versionstamp: expect.any(String) }], cursor: null, hasMore: false });
  });

  test("teardown", async () => {
    expect((await kv.delete(prefix)).deletedCount).toBe(n);
  });
});

describe.skipIf(!loaded)("atomic", () => {
  test("a null check means must-not-exist; a stale check refuses the whole commit", async () => {
    const first = await kv.atomic().check({ key: ["acct", "a"], versionstamp: null }).set(["acct", "a"], 100).set(["acct", "b"], 0).commit();
    expect(first.ok).toBe(true);
    const again = await kv.atomic().check({ key: ["acct", "a"], versionstamp: null }).set(["acct", "a"], 1).commit();
    expect(again).toEqual({ ok: false });
    const a = await kv.get(["acct", "a"]);
    expect(a.value).toBe(100);
    // One commit, one versionstamp for every key it wrote.
    expect(a.versionstamp).toBe(first.ok ? first.versionstamp : "");
    expect((await kv.get(["acct", "b"])).versionstamp).toBe(a.versionstamp);
  });

  test("sum, max, min, append and prepend", async () => {
    await kv.atomic().set(["ops", "n"], 10).set(["ops", "list"], [2]).commit();
    const res = await kv
      .atomic()
      .sum(["ops", "n"], 5n)
      .sum(["ops", "fresh"], 3)
      .max(["ops", "hi"], 7n)
      .min(["ops", "lo"], -4n)
      .append(["ops", "list"], [3, 4])
      .prepend(["ops", "list"], [1])
      .commit();
    expect(res.ok).toBe(true);
    const values = (await kv.get([["ops", "n"], ["ops", "fresh"], ["ops", "hi"], ["ops", "lo"], ["ops", "list"]])).map((e) => e.value);
    expect(values).toEqual([15, 3, 7, -4, [1, 2, 3, 4]]);
    await kv.atomic().max(["ops", "hi"], 5).min(["ops", "lo"], 0).commit();
    expect((await kv.get([["ops", "hi"], ["ops", "lo"]])).map((e) => e.value)).toEqual([7, -4]);
  });

  test("a UUIDv7 placeholder in a key becomes the commit's versionstamp", async () => {
    const id = kv.uuidv7();
    const res = await kv.atomic().set(["posts", id], { title: "hello" }).set(["posts_by_title", "hello", id], true).commit();
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    expect((await kv.get(["posts", res.versionstamp])).value).toEqual({ title: "hello" });
    expect((await kv.get(["posts_by_title", "hello", res.versionstamp])).value).toBe(true);
  });

  test("typed keys in checks and mutations", async () => {
    const key: KvKey = ["atomic-typed", 5n, new Uint8Array([9])];
    const res = await kv.atomic().check({ key, versionstamp: null }).set(key, "x").commit();
    expect(res.ok).toBe(true);
    expect((await kv.get(key)).value).toBe("x");
  });
});

describe.skipIf(!loaded)("transaction", () => {
  test("reads become checks: a write by someone else in between is a conflict", async () => {
    await kv.set(["tx", "counter"], 0);
    const res = await kv.transaction(async (tx) => {
      const { value } = await tx.get<number>(["tx", "counter"]);
      await kv.set(["tx", "counter"], 100); // a concurrent writer
      tx.set(["tx", "counter"], (value ?? 0) + 1);
    });
    expect(res).toEqual({ ok: false, error: "conflict" });
    expect((await kv.get(["tx", "counter"])).value).toBe(100);
  });

  test("with retries, fn runs again on fresh reads and commits", async () => {
    await kv.set(["tx", "retry"], 0);
    let runs = 0;
    const res = await kv.transaction(
      async (tx) => {
        runs++;
        const { value } = await tx.get<number>(["tx", "retry"]);
        if (runs === 1) await kv.set(["tx", "retry"], 10);
        tx.set(["tx", "retry"], (value ?? 0) + 1);
        return value;
      },
      { maxRetries: 3, retryDelay: 5 },
    );
    expect(runs).toBe(2);
    expect(res).toEqual({ ok: true, value: 10, versionstamp: expect.any(String) });
    expect((await kv.get(["tx", "retry"])).value).toBe(11);
  });

  test("a throwing fn writes nothing and reports its message", async () => {
    const res = await kv.transaction(async (tx) => {
      tx.set(["tx", "never"], 1);
      throw new Error("insufficient funds");
    });
    expect(res).toMatchObject({ ok: false, error: "error", message: "insufficient funds" });
    expect((await kv.get(["tx", "never"])).versionstamp).toBeNull();
  });

  test("concurrent transfers with retries keep the total", async () => {
    await kv.atomic().set(["bank", "a"], 500).set(["bank", "b"], 500).commit();
    const transfer = (from: string, to: string, amount: number) =>
      kv.transaction(
        async (tx) => {
          const [f, t] = await tx.get<number>([
            ["bank", from],
            ["bank", to],
          ]);
          tx.set(["bank", from], (f?.value ?? 0) - amount);
          tx.set(["bank", to], (t?.value ?? 0) + amount);
        },
        { maxRetries: 50, retryDelay: 2 },
      );
    const results = await Promise.all([transfer("a", "b", 10), transfer("b", "a", 20), transfer("a", "b", 30), transfer("b", "a", 5)]);
    expect(results.every((r) => r.ok)).toBe(true);
    const [a, b] = await kv.get<number>([
      ["bank", "a"],
      ["bank", "b"],
    ]);
    expect((a?.value ?? 0) + (b?.value ?? 0)).toBe(1000);
    expect(a?.value).toBe(500 - 10 + 20 - 30 + 5);
  });
});

describe.skipIf(!loaded)("full-text search", () => {
  test("createIndex, search with limit and where, listIndexes, removeIndex", async () => {
    await kv.createIndex(["docs"], { fields: ["title", "body"], tokenize: "porter" });
    const indexes = await kv.listIndexes();
    const mine = indexes.find((ix) => JSON.stringify(ix.prefix) === JSON.stringify(["docs"]));
    expect(mine?.fields).toEqual(["title", "body"]);
    expect(mine?.tokenize).toBe("porter");

    await kv.set(["docs", 1], { title: "Running fast", body: "a guide", status: "published" });
    await kv.set(["docs", 2], { title: "Walking", body: "they run daily", status: "draft" });
    await kv.set(["docs", 3], { title: "Cooking", body: "nothing to see", status: "published" });
    // porter: "runs" matches "running" and "run".
    const hits = await all(kv.search(["docs"], "runs"));
    expect(hits.map((e) => e.key).sort()).toEqual([
      ["docs", 1],
      ["docs", 2],
    ]);
    const published = await all(kv.search(["docs"], "runs", { where: { status: "published" } }));
    expect(published.map((e) => e.key)).toEqual([["docs", 1]]);
    expect(await all(kv.search(["docs"], "runs", { limit: 1 }))).toHaveLength(1);

    await kv.removeIndex(["docs"]);
    const after = await kv.listIndexes();
    expect(after.some((ix) => JSON.stringify(ix.prefix) === JSON.stringify(["docs"]))).toBe(false);
  });

  test("an index on a prefix the path form cannot carry is created and removed", async () => {
    const typed = ["docs", true, 7n];
    const same = (ix: { prefix: unknown[] }) => ix.prefix.length === 3 && ix.prefix[1] === true && ix.prefix[2] === 7n;
    await kv.createIndex(typed, { fields: ["title"] });
    expect((await kv.listIndexes()).some(same)).toBe(true);
    // `["docs", "true", 7]` reads the same as a path; removing it must not touch the typed index.
    await kv.removeIndex(["docs", "true", 7]);
    expect((await kv.listIndexes()).some(same)).toBe(true);
    await kv.removeIndex(typed);
    expect((await kv.listIndexes()).some(same)).toBe(false);
  });
});

describe.skipIf(!loaded)("queue", () => {
  test("enqueue, dequeue with a lock, ack, stats", async () => {
    await drainQueue();
    const { ok, id } = await kv.enqueue({ job: "email", n: 1n });
    expect(ok).toBe(true);
    expect((await kv.queueStats()).pending).toBe(1);
    const msg = await kv.dequeue<{ job: string; n: bigint }>();
    expect(msg).toEqual({ id, value: { job: "email", n: 1n }, attempts: 1 });
    expect(await kv.queueStats()).toMatchObject({ pending: 0, processing: 1 });
    // Locked: nobody else gets it.
    expect(await kv.dequeue()).toBeNull();
    await kv.ack(id);
    expect(await kv.queueStats()).toEqual({ pending: 0, processing: 0, dlq: 0, total: 0 });
  });

  test("delay keeps a message back", async () => {
    await drainQueue();
    await kv.enqueue("later", { delay: "1s" });
    expect(await kv.dequeue()).toBeNull();
    await until(async () => {
      const m = await kv.dequeue();
      if (m) await kv.ack(m.id);
      return m !== null;
    }, 4000);
  });

  test("after the last attempt a nacked message goes to the DLQ and its fallback keys", async () => {
    await drainQueue();
    const { id } = await kv.enqueue({ job: "flaky" }, { backoffSchedule: [50], keysIfUndelivered: [["undelivered", 1n]] });
    const first = await kv.dequeue();
    expect(first?.id).toBe(id);
    await kv.nack(id);
    await until(async () => {
      const m = await kv.dequeue();
      if (m) await kv.nack(m.id);
      return m !== null;
    });
    expect((await kv.queueStats()).dlq).toBe(1);
    expect((await kv.get(["undelivered", 1n])).value).toEqual({ job: "flaky" });
    const [dead] = await kv.dlq.list();
    expect(dead).toMatchObject({ originalId: id, value: { job: "flaky" }, attempts: 2 });
    expect(await kv.dlq.get(dead?.id ?? "")).toMatchObject({ originalId: id });
    expect(await kv.dlq.get("no-such-id")).toBeNull();

    const { newId } = await kv.dlq.requeue(dead?.id ?? "");
    expect(typeof newId).toBe("string");
    expect(await kv.queueStats()).toMatchObject({ pending: 1, dlq: 0 });
    const again = await kv.dequeue();
    expect(again).toMatchObject({ id: newId, value: { job: "flaky" } });
    await kv.nack(newId); // default options: retried after 1 s, not dead yet
    expect(await kv.queueStats()).toMatchObject({ pending: 1, processing: 0, dlq: 0 });
    // Take the retry when it is due, so the next test starts with an empty queue.
    await until(async () => {
      const m = await kv.dequeue();
      if (m) await kv.ack(m.id);
      return m?.id === newId;
    }, 4000);
    expect((await kv.queueStats()).total).toBe(0);
  }, 15_000);

  test("dlq.delete and dlq.purge", async () => {
    await drainQueue();
    for (const v of ["x", "y"]) {
      const { id } = await kv.enqueue(v, { backoffSchedule: [] });
      await until(async () => (await kv.dequeue())?.id === id);
      await kv.nack(id);
    }
    const dead = await kv.dlq.list();
    expect(dead.map((d) => d.value).sort()).toEqual(["x", "y"]);
    await kv.dlq.delete(dead[0]?.id ?? "");
    await kv.dlq.delete(dead[0]?.id ?? ""); // idempotent
    expect(await kv.dlq.list()).toHaveLength(1);
    expect((await kv.dlq.purge()).deletedCount).toBe(1);
  });

  test("ack without an id is a 400 naming it", async () => {
    const err = (await kv.ack("").catch((e: unknown) => e)) as KvError;
    expect(err).toBeInstanceOf(KvError);
    expect(err.status).toBe(400);
    expect(err.message).toContain("id must be a non-empty string");
  });

  for (const mode of ["sse", "polling"] as const) {
    test(`listenQueue (${mode}) hands each message to the handler and acks it; a throw nacks`, async () => {
      await drainQueue();
      const got: unknown[] = [];
      const handle = kv.listenQueue<{ n: number }>(
        (value) => {
          got.push(value.n);
          if (value.n === 2 && got.filter((n) => n === 2).length === 1) throw new Error("first try fails");
        },
        { mode, pollInterval: 50 },
      );
      try {
        await kv.enqueue({ n: 1 });
        await kv.enqueue({ n: 2 }, { backoffSchedule: [50] });
        await until(() => got.filter((n) => n === 2).length === 2 && got.includes(1), 8000);
      } finally {
        await handle.stop();
      }
      await until(async () => (await kv.queueStats()).total === 0);
      expect(got.sort()).toEqual([1, 2, 2]);
    }, 15_000);
  }
});

describe.skipIf(!loaded)("watch", () => {
  const modes = ["sse", "polling"] as const;
  for (const mode of modes) {
    test(`exact keys (${mode}): the initial state, then each change`, async () => {
      await kv.set(["wx", mode, "a"], 1);
      const seen: KvEntry[] = [];
      const handle = kv.watch(
        [
          ["wx", mode, "a"],
          ["wx", mode, "b"],
        ],
        (entries) => {
          seen.push(...entries);
        },
        { exact: true, mode, pollInterval: 50 },
      );
      try {
        await until(() => seen.some((e) => e.value === 1));
        await kv.set(["wx", mode, "b"], 2);
        await until(() => seen.some((e) => e.value === 2));
        await kv.set(["wx", mode, "a"], 3);
        await until(() => seen.some((e) => e.value === 3));
      } finally {
        await handle.stop();
      }
      expect(seen.find((e) => e.value === 2)?.key).toEqual(["wx", mode, "b"]);
    });

    test(`a prefix (${mode}): new, changed and deleted entries; emitInitial: false skips the start`, async () => {
      await kv.set(["wp", mode, "old"], "there before");
      const seen: KvEntry[] = [];
      const handle = kv.watch(["wp", mode], (entries) => void seen.push(...entries), { mode, emitInitial: false, pollInterval: 50 });
      try {
        await Bun.sleep(300);
        await kv.set(["wp", mode, "new"], "hello");
        await until(() => seen.some((e) => e.value === "hello"));
        await kv.delete(["wp", mode, "new"]);
        await until(() => seen.some((e) => e.value === null));
      } finally {
        await handle.stop();
      }
      expect(seen.some((e) => e.value === "there before")).toBe(false);
      expect(seen.find((e) => e.value === null)).toMatchObject({ key: ["wp", mode, "new"], versionstamp: null });
    });
  }

  for (const mode of modes) {
    test(`deleted children of a prefix keep their key types (${mode})`, async () => {
      const children: KvKey[] = [
        ["wd", mode, true],
        ["wd", mode, new Uint8Array([1, 2])],
        ["wd", mode, "12"],
      ];
      for (const k of children) await kv.set(k, "x");
      const deleted: KvKey[] = [];
      const handle = kv.watch(["wd", mode], (entries) => void deleted.push(...entries.filter((e) => e.value === null).map((e) => e.key)), { mode, pollInterval: 50 });
      try {
        await Bun.sleep(200);
        await kv.delete(children);
        await until(() => deleted.length === 3);
      } finally {
        await handle.stop();
      }
      expect(deleted).toEqual(expect.arrayContaining(children));
    });
  }

  test("a prefix the path form cannot carry is watched by POST /watch/prefix/poll", async () => {
    const prefix: KvKey = ["wt", true, 7n];
    const seen: KvEntry[] = [];
    const handle = kv.watch(prefix, (entries) => void seen.push(...entries), { pollInterval: 50 });
    try {
      await Bun.sleep(150);
      await kv.set([...prefix, "x"], "typed");
      await until(() => seen.some((e) => e.value === "typed"));
      await kv.set(["wt", "true", 7n, "x"], "look-alike");
      await Bun.sleep(300);
    } finally {
      await handle.stop();
    }
    expect(seen.map((e) => e.value)).toEqual(["typed"]);
    expect(seen[0]?.key).toEqual([...prefix, "x"]);
  });
});

describe.skipIf(!loaded)("wire shapes (what the SDK sends, read off the real fetch)", () => {
  type Sent = { method: string; path: string; query: Record<string, string>; body: unknown };
  const sent: Sent[] = [];
  const watching: typeof fetch = Object.assign(
    async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = new URL(String(input));
      sent.push({
        method: init?.method ?? "GET",
        path: url.pathname.replace(/^\/keyval\/api/, ""),
        query: Object.fromEntries(url.searchParams),
        body: typeof init?.body === "string" ? JSON.parse(init.body) : undefined,
      });
      return fetch(input, init);
    },
    { preconnect: fetch.preconnect },
  );
  const wkv = new Kv(`${runtime.url}/keyval/api`, { fetch: watching });

  test("S-2: createIndex nests its options; search sends options.limit and options.where", async () => {
    sent.length = 0;
    await wkv.createIndex(["wire"], { fields: ["title"], tokenize: "unicode61" });
    await all(wkv.search(["wire"], "x", { limit: 5, where: { a: 1 } }));
    await wkv.removeIndex(["wire"]);
    expect(sent).toEqual([
      { method: "POST", path: "/indexes", query: {}, body: { prefix: ["wire"], options: { fields: ["title"], tokenize: "unicode61" } } },
      { method: "POST", path: "/search", query: {}, body: { prefix: ["wire"], query: "x", options: { limit: 5, where: { a: 1 } } } },
      { method: "DELETE", path: "/indexes", query: {}, body: { prefix: ["wire"] } },
    ]);
  });

  test("S-2: now() offsets are `$offset`; keys that the path form would change go in JSON bodies", async () => {
    sent.length = 0;
    await all(wkv.list(["wire"], { where: { at: { $lt: wkv.now().sub("5m") } } }));
    await wkv.get(["wire", "123"]);
    await wkv.get(["wire", 123]);
    await wkv.set(["wire", true], 1);
    await wkv.delete(["wire", new Uint8Array([1])]);
    expect(sent.map((s) => [s.method, s.path, s.body])).toEqual([
      ["POST", "/keys/list", { prefix: ["wire"], limit: 100, reverse: false, where: { at: { $lt: { $now: true, $offset: -300_000 } } } }],
      ["POST", "/keys/batch", { keys: [["wire", "123"]] }],
      ["GET", "/keys/wire/123", undefined],
      ["POST", "/atomic", { checks: [], mutations: [{ type: "set", key: ["wire", true], value: 1 }] }],
      ["POST", "/keys/delete-batch", { keys: [["wire", { __type: "bytes", value: "AQ==" }]] }],
    ]);
  });

  test("count, paginate and prefix polling send the real prefix in JSON bodies", async () => {
    sent.length = 0;
    const prefix: KvKey = ["wire", true];
    await wkv.count(prefix);
    await wkv.paginate(prefix, { limit: 2 });
    const h = wkv.watch(prefix, () => {}, { mode: "polling", pollInterval: 20, emitInitial: false });
    await until(() => sent.length >= 4);
    await h.stop();
    expect(sent.slice(0, 4).map((s) => [s.method, s.path, s.body])).toEqual([
      ["POST", "/keys/count", { prefix: ["wire", true] }],
      ["POST", "/keys/paginate", { prefix: ["wire", true], limit: 2, reverse: false }],
      ["POST", "/watch/prefix/poll", { prefix: ["wire", true], limit: 100, versionstamps: [] }],
      ["POST", "/watch/prefix/poll", { prefix: ["wire", true], limit: 100, versionstamps: [] }],
    ]);
  });

  test("S-2: a prefix watch names one `prefix` (the original sent `prefixes`)", async () => {
    sent.length = 0;
    const h = wkv.watch([["wire", "a"], ["wire", "b"]], () => {}, { emitInitial: false });
    await until(() => sent.length === 2);
    await h.stop();
    expect(sent.map((s) => [s.path, s.query.prefix]).sort()).toEqual([
      ["/watch/prefix", "wire/a"],
      ["/watch/prefix", "wire/b"],
    ]);
  });
});

describe.skipIf(!loaded)("metrics", () => {
  test("JSON and Prometheus", async () => {
    await kv.get(["metrics", "probe"]);
    const json = await kv.metrics("json");
    expect(json.operations.totals.operations).toBeGreaterThan(0);
    expect(json.operations.operations.get?.count).toBeGreaterThan(0);
    expect(typeof json.storage.entries).toBe("number");
    expect(json.queue).toMatchObject({ pending: expect.any(Number), dlq: expect.any(Number) });
    const text = await kv.metrics("prometheus");
    expect(text).toContain("keyval_operations_total");
    expect(text).toContain("keyval_entries_total");
  });
});
