// plugin.ts — read the worker pool through ctx.pool (a small cut of the bundled metrics plugin)
import { Hono } from "hono";
import type { PluginImpl, WorkerPool } from "@buntime/shared/types";

export default function poolStatsPlugin(): PluginImpl {
  let pool: WorkerPool | undefined;
  const unavailable = { error: "Pool not initialized" };
  const app = new Hono()
    .get("/api", (c) => (pool ? c.json(pool.getMetrics()) : c.json(unavailable, 503)))
    .get("/api/workers", (c) => (pool ? c.json(pool.getWorkerStats()) : c.json(unavailable, 503)));

  return {
    onInit(ctx) {
      pool = ctx.pool; // undefined when the runtime hosts no apps
    },
    routes: app,
  };
}
