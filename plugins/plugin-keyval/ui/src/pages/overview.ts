/** Overview: what the store holds, its operation counters and queue, and how to call it. */
import { h, request, url, type PluginPage } from "@buntime/ui";
import { stats, type Metrics } from "./shared.ts";

export const overview: PluginPage = {
  path: "",
  title: "Overview",
  async render() {
    const m = await request<Metrics>("api/metrics");
    const api = url("api");
    return h("div", {},
      h("h1", {}, "KeyVal"),
      stats([
        ["Entries", String(m.storage.entries)],
        ["Stored", `${(m.storage.sizeBytes / 1024).toFixed(1)} KB`],
        ["Operations", String(m.operations.totals.operations)],
        ["Errors", String(m.operations.totals.errors)],
        ["Queue pending", String(m.queue.pending)],
        ["Dead letters", String(m.queue.dlq)],
      ]),
      h("p", {}, "Browse and edit ", h("a", { href: "entries" }, "entries"), ", follow changes live in ", h("a", { href: "watch" }, "Watch"),
        ", or run ", h("a", { href: "atomic" }, "atomic commits"), "."),
      h("h2", {}, "From a shell"),
      h("pre", {}, [
        `curl -X PUT ${api}/keys/users/42 -H 'content-type: application/json' -d '{"name":"Ada"}'`,
        `curl ${api}/keys/users/42`,
        `curl '${api}/keys?prefix=users&limit=10'`,
      ].join("\n")));
  },
};
