/** Workers: one row per app version the pool has served, updated live. */
import { h, replace, table, type PageContext, type PluginPage } from "@buntime/ui";
import { follow, type Worker } from "../feed.ts";

const secs = (ms: number) => `${(ms / 1000).toFixed(0)} s`;

export const workers: PluginPage = {
  path: "workers",
  title: "Workers",
  render(cx: PageContext) {
    const state = h("p", { class: "ui-muted", role: "status" }, "Connecting…");
    const box = h("div", {});
    follow(cx.signal, (stats) => {
      const rows = Object.entries(stats.workers).map(([app, w]) => ({ app, ...w }));
      replace(box, table([
        { title: "App", cell: (r: { app: string } & Worker) => h("code", {}, r.app) },
        { title: "Status", cell: (r) => h("span", { class: r.status === "offline" ? "ui-muted" : "ui-ok" }, r.status) },
        { title: "Requests", cell: (r) => String(r.requestCount) },
        { title: "Errors", cell: (r) => h("span", { class: r.errorCount ? "ui-bad" : "" }, String(r.errorCount)) },
        { title: "Average", cell: (r) => `${r.avgResponseTimeMs.toFixed(1)} ms` },
        { title: "Age", cell: (r) => secs(r.ageMs) },
        { title: "Idle", cell: (r) => secs(r.idleMs) },
      ], rows, stats.pool.totalRequests === undefined ? "No worker pool is running." : "No app has been served yet."));
    }, (text) => { state.textContent = text; });
    return h("div", {}, h("h1", {}, "Workers"), state, box);
  },
};
