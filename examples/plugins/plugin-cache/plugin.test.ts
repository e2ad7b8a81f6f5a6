import { describe, expect, it } from "bun:test";
import cachePlugin, { type CacheService } from "./plugin.ts";

describe("plugin-cache", () => {
  it("provides a cache with a greeting", () => {
    const cache = cachePlugin().provides!() as CacheService;
    expect(cache.get("greeting")).toBe("Hello from the cache provider");
    cache.set("a", "b");
    expect(cache.get("a")).toBe("b");
  });
});
