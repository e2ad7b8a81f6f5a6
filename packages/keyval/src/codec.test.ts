/**
 * The pure parts of the SDK: durations, the JSON wire form, the path-form rule, SSE parsing and the
 * watch buffer. (Everything that talks to the server is tested against the real one in kv.test.ts.)
 */
import { describe, expect, test } from "bun:test";
import { checkKey, decodeJson, encodeJson, KvNow, KvUuidv7Placeholder, pathSafe, toPath } from "./codec.ts";
import { parseDuration } from "./duration.ts";
import { resolveBaseUrl } from "./http.ts";
import { SseParser } from "./sse.ts";
import { Deliverer } from "./streams.ts";
import type { KvEntry } from "./types.ts";

describe("durations", () => {
  test("milliseconds and unit strings", () => {
    expect(parseDuration(1500)).toBe(1500);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("5m")).toBe(300_000);
    expect(parseDuration("2h")).toBe(7_200_000);
    expect(parseDuration("1d")).toBe(86_400_000);
    expect(parseDuration("1.5 minutes")).toBe(90_000);
    expect(parseDuration("250")).toBe(250);
  });

  test("a bad duration names the option", () => {
    expect(() => parseDuration("soon", "expiresIn")).toThrow('expiresIn: "soon" is not a duration');
    expect(() => parseDuration("5 fortnights")).toThrow("is not a duration");
    expect(() => parseDuration(Number.NaN, "delay")).toThrow("delay must be a finite number");
  });
});

describe("JSON wire form", () => {
  test("bigints and bytes are tagged both ways, at any depth", () => {
    const value = { n: 2n ** 70n, b: new Uint8Array([0, 255]), list: [1n] };
    const text = encodeJson(value);
    expect(JSON.parse(text)).toEqual({ n: { __type: "bigint", value: "1180591620717411303424" }, b: { __type: "bytes", value: "AP8=" }, list: [{ __type: "bigint", value: "1" }] });
    expect(decodeJson(text)).toEqual(value);
  });

  test("an object that merely has a __type field is left alone", () => {
    expect(decodeJson('{"__type":"bigint","value":"1","other":true}')).toEqual({ __type: "bigint", value: "1", other: true });
  });

  test("now() placeholders send $now and $offset (not the original SDK's `offset`)", () => {
    expect(JSON.parse(encodeJson({ at: new KvNow() }))).toEqual({ at: { $now: true } });
    expect(JSON.parse(encodeJson({ at: new KvNow().add("1h").sub(1000) }))).toEqual({ at: { $now: true, $offset: 3_599_000 } });
    expect(JSON.parse(encodeJson({ $lt: new KvNow().sub("5m") }))).toEqual({ $lt: { $now: true, $offset: -300_000 } });
  });

  test("UUIDv7 placeholders are allowed in atomic keys only", () => {
    expect(JSON.parse(encodeJson(["post", new KvUuidv7Placeholder()]))).toEqual(["post", { __type: "uuidv7" }]);
    expect(() => checkKey(["post", new KvUuidv7Placeholder()])).toThrow("only allowed in atomic mutations");
    expect(() => checkKey(["post", new KvUuidv7Placeholder()], "key", { placeholders: true })).not.toThrow();
  });

  test("bad keys are refused with the index of the bad part", () => {
    expect(() => checkKey([])).toThrow("key must have at least one part");
    expect(() => checkKey([], "prefix", { prefix: true })).not.toThrow();
    expect(() => checkKey(["a", { x: 1 }])).toThrow("key[1] must be a string, number, bigint, boolean or Uint8Array");
    expect(() => checkKey(["a", Number.POSITIVE_INFINITY])).toThrow("key[1] must be a finite number");
    expect(() => checkKey("a")).toThrow("must be an array");
  });
});

describe("path form", () => {
  test("only parts the server parses back unchanged use it", () => {
    expect(pathSafe(["users", 42, -7, "ada lovelace", "é"])).toBe(true);
    for (const part of ["123", "-1", "a/b", "50%", "a,b", "", ".", "..", 1.5, -0, 2 ** 60, true, 1n, new Uint8Array([1])]) {
      expect(pathSafe(["k", part])).toBe(false);
    }
  });

  test("segments are percent-encoded", () => {
    expect(toPath(["ada lovelace", 42, "é?#"])).toBe("ada%20lovelace/42/%C3%A9%3F%23");
  });
});

describe("base URL", () => {
  test("explicit, KEYVAL_API_URL, RUNTIME_API_URL/keyval/api, /keyval/api", () => {
    expect(resolveBaseUrl("http://x.test/kv/", { KEYVAL_API_URL: "http://y.test" })).toBe("http://x.test/kv");
    expect(resolveBaseUrl(undefined, { KEYVAL_API_URL: "http://y.test/", RUNTIME_API_URL: "http://z.test" })).toBe("http://y.test");
    expect(resolveBaseUrl(undefined, { RUNTIME_API_URL: "http://127.0.0.1:9/" })).toBe("http://127.0.0.1:9/keyval/api");
    expect(resolveBaseUrl(undefined, {})).toBe("/keyval/api");
  });
});

describe("SSE parser", () => {
  test("events, multi-line data, comments, ids, CRLF split across chunks", () => {
    const p = new SseParser();
    expect(p.push(": hello\r\nevent: change\r")).toEqual([]);
    expect(p.push("\ndata: [1,\r\ndata: 2]\r\nid: 7\r\n\r\nevent: ping\n")).toEqual([{ event: "change", data: "[1,\n2]", id: "7" }]);
    // An event without data is not dispatched (the HTML standard's rule), and its type resets.
    expect(p.push("\ndata:x\n\n")).toEqual([{ event: "message", data: "x", id: "7" }]);
  });
});

describe("watch buffer", () => {
  const entry = (k: string, v: number): KvEntry<number> => ({ key: [k], value: v, versionstamp: `v${v}` });

  test("changes arriving while the callback runs are merged per key, newest last", async () => {
    const calls: KvEntry<number>[][] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const d = new Deliverer<number>(
      async (entries) => {
        calls.push(entries);
        if (calls.length === 1) await gate;
      },
      () => {},
      10,
      "drop-oldest",
    );
    d.push([entry("a", 1)]);
    d.push([entry("b", 2)]);
    d.push([entry("a", 3)]);
    release();
    await d.idle();
    // The first batch went out at once; the rest were coalesced while it ran.
    expect(calls.map((c) => c.map((e) => e.value))).toEqual([[1], [2, 3]]);
  });

  test("a full buffer drops the oldest or the newest keys", async () => {
    for (const [strategy, expected] of [
      ["drop-oldest", [2, 3]],
      ["drop-newest", [1, 2]],
    ] as const) {
      const calls: number[][] = [];
      let release: () => void = () => {};
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const d = new Deliverer<number>(
        async (entries) => {
          calls.push(entries.map((e) => e.value as number));
          if (calls.length === 1) await gate;
        },
        () => {},
        2,
        strategy,
      );
      d.push([entry("first", 0)]);
      d.push([entry("a", 1), entry("b", 2), entry("c", 3)]);
      release();
      await d.idle();
      expect(calls).toEqual([[0], [...expected]]);
    }
  });
});
