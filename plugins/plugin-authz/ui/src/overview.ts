/** Overview: how many policies there are and what they decide, and how a request is judged. */
import { h, type PluginPage } from "@buntime/ui";
import { call } from "./api.ts";
import type { Policy } from "./policy.ts";

export const overview: PluginPage = {
  path: "",
  title: "Overview",
  async render() {
    const policies = await call<Policy[]>("api/policies");
    const permits = policies.filter((p) => p.effect === "permit").length;
    const stat = (label: string, value: string | number, id: string) => h("div", { class: "ui-stat" }, h("dt", {}, label), h("dd", { "data-testid": id }, String(value)));
    return h("div", {}, h("h1", {}, "Authorization"),
      h("dl", { class: "ui-stats" },
        stat("Policies", policies.length, "total"),
        stat("Permit", permits, "permits"),
        stat("Deny", policies.length - permits, "denies"),
        stat("With conditions", policies.filter((p) => p.conditions?.length).length, "conditional")),
      h("div", { class: "ui-card" },
        h("p", {}, "Every request outside the runtime's REST API is judged on the caller's identity (the X-Identity header authn sets), the app and path, the method, and the client's address and time. Policies are visited by priority; the manifest's combining algorithm and default effect decide when several apply or none does. A denied request gets 403."),
        h("p", {}, h("a", { href: "policies" }, "Manage the policies"), " · ", h("a", { href: "evaluate" }, "Ask whether a request would be allowed"))));
  },
};
