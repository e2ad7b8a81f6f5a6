import { describe, expect, it } from "bun:test";
import { createMockContext } from "@buntime/shared/testing";
import consumer from "./plugin.ts";
import provider from "../plugin-cache/plugin.ts";

describe("plugin-cache-consumer", () => {
  it("reads and writes through the provider it gets from ctx.getPlugin", async () => {
    const cache = provider().provides!();
    const plugin = consumer({});
    const ctx = createMockContext({ plugins: { "@buntime/plugin-cache": cache } });
    await plugin.onInit!(ctx);
    expect(ctx.logger.entries.map((e) => e.message)).toContain("consumer found the cache");
    const res = await plugin.routes!.request("/api/greeting");
    expect(await res.json()).toEqual({ message: "Hello from the cache provider" });
    await plugin.routes!.request("/api/color", { method: "PUT", body: "blue" });
    expect(await (await plugin.routes!.request("/api/color")).json()).toEqual({ value: "blue" });
  });

  it("fails onInit without its provider", async () => {
    expect(() => consumer({}).onInit!(createMockContext())).toThrow("not loaded");
  });
});
