import { describe, expect, test } from "bun:test";
import { label } from "./dom.ts";
import { bestMatch, inside } from "./match.ts";

describe("label", () => {
  test("an i18n key becomes its last part in words", () => {
    expect(label("keyval:nav.queueStats")).toBe("Queue stats");
    expect(label("demo:nav.second-page")).toBe("Second page");
    expect(label("metrics:workers")).toBe("Workers");
  });
  test("a plain title is kept as authored", () => {
    expect(label("KeyVal Explorer")).toBe("KeyVal Explorer");
  });
  test("a key with nothing after its separators uses the part before them", () => {
    expect(label("odd:")).toBe("Odd");
    expect(label("::")).toBe("::");
  });
});

describe("active item", () => {
  const items = [
    { href: "/cpanel/~/health" },
    { href: "/cpanel/keyval", items: [{ href: "/cpanel/keyval/queue" }, { href: "/cpanel/keyval/queue/dlq" }] },
    { href: "/cpanel/key" },
  ];
  test("a path is inside an href only at a segment boundary", () => {
    expect(inside("/cpanel/keyval/x", "/cpanel/keyval")).toBe(true);
    expect(inside("/cpanel/keyval", "/cpanel/keyval/")).toBe(true);
    expect(inside("/cpanel/keyvalue", "/cpanel/keyval")).toBe(false);
  });
  test("the deepest item containing the path wins, and a parent matches its unlisted children", () => {
    expect(bestMatch(items, "/cpanel/keyval/queue/dlq/7")).toBe("/cpanel/keyval/queue/dlq");
    expect(bestMatch(items, "/cpanel/keyval/queue")).toBe("/cpanel/keyval/queue");
    expect(bestMatch(items, "/cpanel/keyval/entries")).toBe("/cpanel/keyval");
    expect(bestMatch(items, "/cpanel/key/x")).toBe("/cpanel/key");
    expect(bestMatch(items, "/cpanel/nothing")).toBeNull();
  });
});
