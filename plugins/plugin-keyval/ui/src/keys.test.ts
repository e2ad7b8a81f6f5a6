/** Keys as the explorer reads and shows them. */
import { describe, expect, test } from "bun:test";
import { formatKey, parseKey, prefixQuery } from "./keys.ts";

describe("parseKey", () => {
  test("a path: whole numbers become numbers, as in the API's URL keys", () => {
    expect(parseKey("users/42/posts")).toEqual(["users", 42, "posts"]);
    expect(parseKey("/a//b/")).toEqual(["a", "b"]);
    expect(parseKey("v/1.5/-3")).toEqual(["v", "1.5", -3]);
    expect(parseKey("big/9007199254740993")).toEqual(["big", "9007199254740993"]); // past 2^53: kept as text
  });
  test("a JSON array is taken as written (booleans, strings that look like numbers)", () => {
    expect(parseKey('["users", "42", true]')).toEqual(["users", "42", true]);
  });
  test("bad input says what to type", () => {
    expect(() => parseKey("")).toThrow("Enter a key");
    expect(() => parseKey("[1,")).toThrow("not valid JSON");
    expect(() => parseKey("[]")).toThrow("non-empty array");
    expect(parseKey("", { allowEmpty: true })).toEqual([]);
  });
});

describe("formatKey", () => {
  test("round-trips through parseKey, as a path when unambiguous, else as JSON", () => {
    for (const key of [["users", 42], ["users", "42"], ["a/b"], [true], ["x", ""], ["ok"]]) {
      expect(parseKey(formatKey(key))).toEqual(key);
    }
    expect(formatKey(["users", 42])).toBe("users/42");
    expect(formatKey(["users", "42"])).toBe('["users","42"]');
    expect(prefixQuery(["users", 42])).toBe("users/42");
  });
});
