/** CORS: the configuration the gateway answers with (read-only: it comes from the manifest). */
import { h, type PluginPage } from "@buntime/ui";
import { call, type Config } from "./api.ts";

export const cors: PluginPage = {
  path: "cors",
  title: "CORS",
  async render() {
    const { cors: c } = await call<Config>("api/config");
    if (!c) return h("div", {}, h("h1", {}, "CORS"), h("p", { class: "ui-card" }, "CORS is off: no CORS headers are added and preflights go on to the apps. Set cors in the gateway's manifest to turn it on."));
    const list = (xs: string[] | null, none: string) => (xs && xs.length ? xs.flatMap((x, i) => [i ? ", " : "", h("code", {}, x)]) : h("span", { class: "ui-muted" }, none));
    const rows: Array<[string, Node | string | Array<Node | string>]> = [
      ["Allowed origins", c.origin === "*" ? h("code", {}, "*") : list(Array.isArray(c.origin) ? c.origin : [c.origin], "none")],
      ["Credentials", c.credentials ? "allowed (the origin is echoed, with Vary: Origin)" : "not allowed"],
      ["Methods", list(c.methods, "none")],
      ["Allowed headers", list(c.allowedHeaders, "whatever the preflight asks for (echoed)")],
      ["Exposed headers", list(c.exposedHeaders, "none")],
      ["Preflight cache", `${c.maxAge} s`],
      ["Preflights", c.preflight ? "answered by the gateway (204)" : "passed on to the apps"],
    ];
    return h("div", {}, h("h1", {}, "CORS"),
      h("p", {}, "What the gateway answers cross-origin requests with. Change it in the gateway's manifest (or GATEWAY_CORS_ORIGIN and GATEWAY_CORS_CREDENTIALS) and reload the plugins."),
      h("dl", { class: "gw-defs ui-card", "data-testid": "cors" }, ...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
  },
};
