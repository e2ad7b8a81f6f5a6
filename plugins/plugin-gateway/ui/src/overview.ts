/**
 * Overview: the rate limiter's counters and a requests-per-second chart, live over `api/sse`
 * (one frame a second) and seeded from `api/metrics/history`; CORS, cache and shell at a glance;
 * the last requests.
 */
import { h, replace, url, type PageContext, type PluginPage } from "@buntime/ui";
import { liveChart } from "@buntime/ui/chart";
import { call, type Frame, type Snapshot, type Stats } from "./api.ts";
import { rates } from "./rates.ts";
import { count, logTable, tiles } from "./shared.ts";

/** Seconds of history shown. */
const WINDOW = 120;

export const overview: PluginPage = {
  path: "",
  title: "Overview",
  async render(cx: PageContext) {
    const [stats, history] = await Promise.all([
      call<Stats>("api/stats"),
      call<Snapshot[]>(`api/metrics/history?limit=${WINDOW}`).catch(() => [] as Snapshot[]),
    ]);
    const state = h("p", { class: "ui-muted", role: "status" }, "Connecting to the live feed…");
    const value = (id: string) => h("span", { "data-testid": id }, "—");
    const v = { total: value("total-requests"), allowed: value("allowed-requests"), blocked: value("blocked-requests"), buckets: value("active-buckets"), rate: value("request-rate") };
    const counters = h("dl", { class: "ui-stats" }, ...([
      ["Requests", v.total], ["Allowed", v.allowed], ["Blocked (429)", v.blocked], ["Active buckets", v.buckets], ["Requests/s", v.rate],
    ] as Array<[string, HTMLElement]>).map(([k, el]) => h("div", { class: "ui-stat" }, h("dt", {}, k), h("dd", {}, el))));
    const chart = liveChart("Requests per second", ["allowed/s", "blocked/s"], { capacity: WINDOW, signal: cx.signal });
    chart.el.dataset.testid = "chart-requests";
    const recent = h("div", {});
    const glance = h("div", {});

    let last: Snapshot | null = null;
    let lastPoint = 0;
    const push = (points: ReturnType<typeof rates>) => {
      for (const p of points) {
        if (p.time <= lastPoint) continue;
        lastPoint = p.time;
        chart.push(p.time, [p.allowed, p.blocked]);
        v.rate.textContent = String(Number((p.allowed + p.blocked).toFixed(2)));
      }
    };
    const paintCounters = (m: Snapshot | null) => {
      v.total.textContent = count(m?.totalRequests);
      v.allowed.textContent = count(m?.allowedRequests);
      v.blocked.textContent = count(m?.blockedRequests);
      v.buckets.textContent = count(m?.activeBuckets);
    };

    // History first (oldest first on the chart), then one point per frame.
    push(rates(history).filter((p) => p.time > Date.now() - WINDOW * 1000));
    const newest = history.reduce<Snapshot | null>((a, s) => (!a || s.timestamp > a.timestamp ? s : a), null);
    last = newest;
    paintCounters(stats.rateLimit.metrics ? { timestamp: Date.now(), ...stats.rateLimit.metrics } : null);

    const origin = (o: string | string[]) => (Array.isArray(o) ? o.join(", ") : o);
    const paintGlance = (g: { rate: string; cors: string; cache: boolean; shell: string }) => replace(glance, tiles([
      ["Rate limit", g.rate], ["CORS", g.cors], ["Response cache", g.cache ? "on" : "off"], ["App shell", g.shell],
    ]));
    const rateText = (c: { requests: number; window: string; keyBy: string } | null | undefined) => (c ? `${c.requests} per ${c.window}, by ${c.keyBy}` : "off");
    const corsText = (c: { origin: string | string[]; credentials: boolean } | null | undefined) => (c ? `origin ${origin(c.origin)}${c.credentials ? ", with credentials" : ""}` : "off");
    paintGlance({
      rate: rateText(stats.rateLimit.config),
      cors: corsText(stats.cors.config),
      cache: stats.cache.enabled,
      shell: stats.shell.enabled && stats.shell.dir ? `${stats.shell.dir} (${stats.shell.excludesCount} excluded)` : "off",
    });
    replace(recent, logTable([], "No requests logged yet."));

    const es = new EventSource(url("api/sse"));
    es.onopen = () => { state.textContent = "Live: updated every second."; };
    es.onerror = () => { state.textContent = "The live feed was interrupted; reconnecting…"; };
    es.onmessage = (ev) => {
      const f = JSON.parse(ev.data) as Frame;
      state.textContent = "Live: updated every second.";
      const m = f.rateLimit ? { timestamp: f.timestamp, ...f.rateLimit.metrics } : null;
      paintCounters(m);
      if (m) {
        if (last && m.timestamp > last.timestamp) push(rates([last, m]));
        last = m;
      }
      paintGlance({ rate: rateText(f.rateLimit?.config), cors: corsText(f.cors), cache: f.cache.enabled, shell: f.shell ? `${f.shell.dir} (${f.shell.excludes.length} excluded)` : "off" });
      replace(recent, logTable(f.recentLogs, "No requests logged yet."));
    };
    cx.signal.addEventListener("abort", () => es.close());

    return h("div", {}, h("h1", {}, "Gateway"),
      h("p", {}, "CORS, a token bucket per client, and the log of the requests the gateway saw (its own API under /gateway/api is not logged)."),
      state,
      stats.rateLimit.enabled ? counters : h("p", { class: "ui-alert" }, "Rate limiting is off, so there are no counters: set rateLimit in the gateway's manifest."),
      stats.rateLimit.enabled ? chart.el : null,
      glance,
      h("h2", {}, "Recent requests"), recent);
  },
};
