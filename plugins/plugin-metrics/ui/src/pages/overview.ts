/** Overview: the runtime's and the pool's request rates, workers and memory as live charts. */
import { h, replace, type PageContext, type PluginPage } from "@buntime/ui";
import { liveChart } from "@buntime/ui/chart";
import { follow, type Pool } from "../feed.ts";

function tiles(pool: Pool): HTMLElement {
  const pairs: Array<[string, string]> = pool.totalRequests === undefined
    ? [["Worker pool", "not running"]]
    : [
      ["Active workers", String(pool.activeWorkers ?? 0)],
      ["Pool requests", String(pool.totalRequests)],
      ["Hit rate", `${(pool.hitRate ?? 0).toFixed(1)} %`],
      ["Memory", `${(pool.memoryUsageMB ?? 0).toFixed(1)} MB`],
      ["Uptime", `${Math.round((pool.uptimeMs ?? 0) / 1000)} s`],
    ];
  return h("dl", { class: "ui-stats" }, ...pairs.map(([k, v]) => h("div", { class: "ui-stat" }, h("dt", {}, k), h("dd", {}, v))));
}

export const overview: PluginPage = {
  path: "",
  title: "Overview",
  render(cx: PageContext) {
    const state = h("p", { class: "ui-muted", role: "status" }, "Connecting…");
    const top = h("div", {}, tiles({}));
    const opts = { signal: cx.signal };
    const http = liveChart("HTTP requests per second (runtime)", ["requests/s"], opts);
    const pool = liveChart("Worker pool", ["requests/s", "active workers"], opts);
    const mem = liveChart("Worker hosts' memory (MB)", ["MB"], opts);
    http.el.dataset.testid = "chart-http";
    let last: { at: number; runtime: number | null; pool: number | null } | null = null;
    follow(cx.signal, (stats, runtime, at) => {
      replace(top, tiles(stats.pool));
      const poolTotal = stats.pool.totalRequests ?? null;
      const secs = last ? (at - last.at) / 1000 : 0;
      const rate = (now: number | null, before: number | null | undefined) => (secs > 0 && now !== null && before !== null && before !== undefined ? Math.max(0, (now - before) / secs) : null);
      http.push(at, [rate(runtime, last?.runtime)]);
      pool.push(at, [rate(poolTotal, last?.pool), stats.pool.activeWorkers ?? null]);
      mem.push(at, [stats.pool.memoryUsageMB ?? null]);
      last = { at, runtime, pool: poolTotal };
    }, (text) => { state.textContent = text; });
    return h("div", {}, h("h1", {}, "Metrics"), state, top,
      h("div", { class: "ui-charts" }, http.el, pool.el, mem.el),
      h("p", { class: "ui-muted" }, "Prometheus scrapes ", h("a", { href: "api/prometheus", target: "_blank" }, "api/prometheus"), "."));
  },
};
