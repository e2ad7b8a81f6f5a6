import { describe, expect, it } from "bun:test";
import blocker from "./plugin.ts";

describe("plugin-blocker", () => {
  it("answers /blocked with 403 Nope", async () => {
    const res = await blocker({}).onRequest!(new Request("http://localhost/blocked"));
    expect(res).toBeInstanceOf(Response);
    expect((res as Response).status).toBe(403);
    expect(await (res as Response).text()).toBe("Nope");
  });

  it("lets every other path continue", async () => {
    expect(await blocker({}).onRequest!(new Request("http://localhost/hello/api/greeting"))).toBeUndefined();
  });
});
