// consumer — declares a dependency and calls ctx.getPlugin() (seed step 6)
import { Hono } from "hono";
import type { PluginImpl } from "@buntime/shared/types";

interface Cache {
  get(k: string): string | undefined;
  set(k: string, v: string): void;
}

export default (config: Record<string, unknown>): PluginImpl => {
  let cache: Cache | undefined;
  const routes = new Hono()
    .get("/api/greeting", (c) => c.json({ message: cache?.get("greeting") ?? null }))
    .put("/api/:key", async (c) => {
      cache?.set(c.req.param("key"), await c.req.text());
      return c.body(null, 204);
    })
    .get("/api/:key", (c) => c.json({ value: cache?.get(c.req.param("key")) ?? null }));
  return {
    routes,
    onInit(ctx) {
      cache = ctx.getPlugin<Cache>("@buntime/plugin-cache");
      if (!cache) throw new Error("@buntime/plugin-cache is not loaded");
      ctx.logger.info("consumer found the cache");
    },
  };
};
