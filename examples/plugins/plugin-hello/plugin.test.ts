import { describe, expect, it } from "bun:test";
import helloPlugin from "./plugin.ts";

describe("plugin-hello", () => {
  it("serves a greeting", async () => {
    const plugin = helloPlugin({});
    const res = await plugin.routes!.request("/api/greeting");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ message: "Hello from Buntime" });
  });
});
