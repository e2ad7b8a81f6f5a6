/** Overview: the configured adapters, which one is the default, and each one's health. */
import { h, request, table, type PluginPage } from "@buntime/ui";

interface Adapters { adapters: string[]; default: string }
interface Health { status: string; adapters: Record<string, string> }

export const overview: PluginPage = {
  path: "",
  title: "Overview",
  async render() {
    // A degraded adapter answers 200 with its message; read it as data.
    const [adapters, health] = await Promise.all([request<Adapters>("api/adapters"), request<Health>("api/health")]);
    return h("div", {},
      h("h1", {}, "Database"),
      h("p", {}, "Overall: ", h("strong", { class: health.status === "healthy" ? "ui-ok" : "ui-bad", "data-testid": "health" }, health.status)),
      table([
        { title: "Adapter", cell: (a: string) => h("code", {}, a) },
        { title: "Default", cell: (a: string) => (a === adapters.default ? "yes" : "") },
        { title: "Health", cell: (a: string) => {
          const s = health.adapters[a] ?? "unknown";
          return h("span", { class: s === "healthy" ? "ui-ok" : "ui-bad" }, s);
        } },
        { title: "", cell: (a: string) => h("a", { href: `studio?type=${encodeURIComponent(a)}` }, "Open in studio") },
      ], adapters.adapters, "No adapters are configured."));
  },
};
