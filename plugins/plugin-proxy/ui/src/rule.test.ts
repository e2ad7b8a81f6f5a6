/** The rule form's checks and the reorder arithmetic. */
import { describe, expect, test } from "bun:test";
import { checkPattern, checkTarget, dropped, fromForm, moved, parseHeaders, parsePublicRoutes, toForm, type Rule } from "./rule.ts";

describe("checks", () => {
  test("a pattern must be given and compile", () => {
    expect(checkPattern("^/api/(.*)$")).toBeNull();
    expect(checkPattern("")).toContain("required");
    expect(checkPattern("^/api/(")).toContain("not a valid regular expression");
  });
  test("a target is an http(s) or ws(s) origin, with an optional path, and nothing else", () => {
    for (const ok of ["http://127.0.0.1:3000", "https://api.example.com/prefix", "ws://h:1", "wss://h"]) expect(checkTarget(ok)).toBeNull();
    expect(checkTarget("")).toContain("required");
    expect(checkTarget("127.0.0.1:3000")).not.toBeNull();
    expect(checkTarget("ftp://h")).toContain("not ftp");
    expect(checkTarget("http://h/?q=1")).toContain("without a query");
    expect(checkTarget("http://u:p@h")).toContain("user name");
  });
  test("headers are name: value lines, and a bad line is named", () => {
    expect(parseHeaders("x-a: 1\n\n X-B : two words ")).toEqual({ "x-a": "1", "X-B": "two words" });
    expect(() => parseHeaders("x-a 1")).toThrow("line 1");
    expect(() => parseHeaders("ok: 1\nbad name: 2")).toThrow('line 2: "bad name"');
  });
  test("public routes are globs one a line, or a JSON object of globs by method", () => {
    expect(parsePublicRoutes("")).toBeNull();
    expect(parsePublicRoutes("/a/**\n /b \n")).toEqual(["/a/**", "/b"]);
    expect(parsePublicRoutes('{"GET": ["/docs/**"]}')).toEqual({ GET: ["/docs/**"] });
    expect(() => parsePublicRoutes('{"GET": "/docs"}')).toThrow("lists of globs");
  });
});

const rule = (id: string, readonly = false): Rule => ({ ...toForm(null), id, order: 0, readonly, rewrite: null, base: null, headers: {}, publicRoutes: null, name: id, pattern: `^/${id}`, target: "http://h" });

describe("the form", () => {
  test("round-trips a rule into the body the API takes", () => {
    const r = { ...rule("a"), rewrite: "/$1", headers: { "x-k": "v" }, publicRoutes: ["/p/**"], changeOrigin: true };
    expect(fromForm(toForm(r))).toEqual({ body: { name: "a", pattern: "^/a", target: "http://h", rewrite: "/$1", headers: { "x-k": "v" }, base: null, publicRoutes: ["/p/**"], enabled: true, changeOrigin: true, ws: true, relativePaths: false, secure: true } });
  });
  test("reports every field's problem", () => {
    const r = fromForm({ ...toForm(null), pattern: "(", target: "nope", headers: "bad", base: "x" });
    expect("problems" in r && r.problems.map((p) => p.field)).toEqual(["pattern", "target", "headers", "base"]);
  });
});

describe("reorder", () => {
  const list = [rule("static-0", true), rule("a"), rule("b"), rule("c")];
  test("moving lists the dynamic ids only, and stops at the ends", () => {
    expect(moved(list, "b", -1)).toEqual(["b", "a", "c"]);
    expect(moved(list, "b", 1)).toEqual(["a", "c", "b"]);
    expect(moved(list, "a", -1)).toBeNull();
    expect(moved(list, "c", 1)).toBeNull();
    expect(moved(list, "static-0", 1)).toBeNull();
  });
  test("dropping puts a rule before or after the one it lands on", () => {
    expect(dropped(list, "c", "a", false)).toEqual(["c", "a", "b"]);
    expect(dropped(list, "a", "c", true)).toEqual(["b", "c", "a"]);
    expect(dropped(list, "a", "a", true)).toBeNull();
    expect(dropped(list, "a", "static-0", false)).toBeNull();
  });
});
