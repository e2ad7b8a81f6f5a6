import { Hono } from "hono";
import type { PluginImpl } from "@buntime/shared/types";

export default function helloPlugin(config: Record<string, unknown>): PluginImpl {
  const routes = new Hono()
    .get("/api/greeting", (c) => c.json({ message: "Hello from Buntime" }));

  return {
    routes, // mounted at /hello/api/greeting
    onInit(ctx) {
      ctx.logger.info("hello plugin initialized");
    },
    onShutdown() {
      // flush caches, close connections, clear timers
    },
  };
}
