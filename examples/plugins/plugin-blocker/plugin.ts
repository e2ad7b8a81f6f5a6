// plugin.ts — short-circuit requests in onRequest
import type { PluginImpl } from "@buntime/shared/types";

export default (config: Record<string, unknown>): PluginImpl => ({
  onRequest(req) {
    if (new URL(req.url).pathname === "/blocked") {
      return new Response("Nope", { status: 403 }); // short-circuit
    }
    return undefined; // continue the pipeline
  },
});
