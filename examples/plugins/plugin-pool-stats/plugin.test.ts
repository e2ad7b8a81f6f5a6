import { describe, expect, it } from "bun:test";
import { createMockContext, createMockPool } from "@buntime/shared/testing";
import poolStatsPlugin from "./plugin.ts";

describe("plugin-pool-stats", () => {
  it("serves the pool's metrics and worker stats", async () => {
    const plugin = poolStatsPlugin();
    const pool = createMockPool({ activeWorkers: 2, hits: 5 }, { "hello-app@latest": { status: "active", requestCount: 5 } });
    await plugin.onInit!(createMockContext({ pool }));
    const metrics = await plugin.routes!.fetch(new Request("http://localhost/api"));
    expect(await metrics.json()).toEqual({ activeWorkers: 2, totalRequests: 0, hits: 5 });
    const workers = await plugin.routes!.fetch(new Request("http://localhost/api/workers"));
    expect(await workers.json()).toEqual({ "hello-app@latest": { status: "active", requestCount: 5 } });
  });

  it("answers 503 when the runtime hosts no apps", async () => {
    const plugin = poolStatsPlugin();
    await plugin.onInit!(createMockContext({ pool: null }));
    const res = await plugin.routes!.fetch(new Request("http://localhost/api"));
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: "Pool not initialized" });
  });
});
