import { describe, expect, it } from "bun:test";
import { createMockContext, createMockLogger, createMockPool } from "./index.ts";

describe("@buntime/shared/testing", () => {
  it("records log lines", () => {
    const logger = createMockLogger();
    logger.info("hi", { a: 1 });
    logger.error("bad");
    expect(logger.entries).toEqual([
      { level: "info", message: "hi", meta: { a: 1 } },
      { level: "error", message: "bad" },
    ]);
  });

  it("serves configured plugins and config", () => {
    const ctx = createMockContext({ config: { apiKey: "k" }, plugins: { cache: { get: () => "v" } } });
    expect(ctx.config.apiKey).toBe("k");
    expect(ctx.getPlugin<{ get(): string }>("cache")?.get()).toBe("v");
    expect(ctx.getPlugin("missing")).toBeUndefined();
    expect(ctx.runtime.api).toBe("/api");
  });

  it("reports pool metrics", () => {
    expect(createMockPool({ activeWorkers: 3 }).getMetrics().activeWorkers).toBe(3);
  });

  it("refreshes a pool snapshot", async () => {
    const snap = await createMockPool({ hits: 2 }, { "a@1": { status: "idle" } }).refresh!();
    expect(snap).toEqual({ metrics: { activeWorkers: 0, totalRequests: 0, hits: 2 }, workers: { "a@1": { status: "idle" } } });
  });
});
