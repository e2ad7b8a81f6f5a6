/** Metrics: the store's operation counters as a table, and the Prometheus text. */
import { h, request, table, tabs, type PluginPage } from "@buntime/ui";
import { stats, type Metrics } from "./shared.ts";

export const metrics: PluginPage = {
  path: "metrics",
  title: "Metrics",
  async render() {
    const [m, text] = await Promise.all([request<Metrics>("api/metrics"), request<string>("api/metrics/prometheus", { headers: { accept: "text/plain" } })]);
    const ops = Object.entries(m.operations.operations).map(([name, o]) => ({ name, ...o }));
    return h("div", {}, h("h1", {}, "Metrics"),
      stats([["Operations", String(m.operations.totals.operations)], ["Errors", String(m.operations.totals.errors)], ["Entries", String(m.storage.entries)]]),
      tabs([
        { id: "ops", text: "Operations", render: () => table([
          { title: "Operation", cell: (o: (typeof ops)[number]) => o.name },
          { title: "Count", cell: (o) => String(o.count) },
          { title: "Errors", cell: (o) => String(o.errors) },
          { title: "Average latency", cell: (o) => `${o.avgLatencyMs.toFixed(2)} ms` },
        ], ops, "No operations yet.") },
        { id: "prom", text: "Prometheus", render: () => h("pre", {}, text) },
      ]));
  },
};
