/** Rate limit: the limiter's settings and counters, its buckets (clear one, clear all). */
import { button, dialog, h, replace, table, toast, type PluginPage } from "@buntime/ui";
import { call, type Bucket, type Config, type Metrics } from "./api.ts";
import { count, time, tiles } from "./shared.ts";

export const rateLimit: PluginPage = {
  path: "rate-limit",
  title: "Rate limit",
  async render() {
    const config = await call<Config>("api/config");
    const rl = config.rateLimit;
    if (!rl) {
      return h("div", {}, h("h1", {}, "Rate limit"),
        h("p", { class: "ui-alert" }, "Rate limiting is off: set rateLimit (requests and window) in the gateway's manifest."));
    }
    const numbers = h("div", {});
    const list = h("div", {});
    const summary = h("p", { class: "ui-muted", "data-testid": "bucket-count" });

    async function load() {
      const [m, buckets] = await Promise.all([
        call<Metrics & { config: { capacity: number; windowSeconds: number } }>("api/rate-limit/metrics"),
        call<Bucket[]>("api/rate-limit/buckets?limit=500"),
      ]);
      replace(numbers, tiles([
        ["Requests", count(m.totalRequests), "total-requests"],
        ["Allowed", count(m.allowedRequests)],
        ["Blocked (429)", count(m.blockedRequests), "blocked-requests"],
        ["Active buckets", count(m.activeBuckets), "active-buckets"],
      ]));
      summary.textContent = buckets.length
        ? `${buckets.length} bucket${buckets.length === 1 ? "" : "s"}, most recently active first. A bucket holds up to ${rl!.requests} tokens; each request takes one.`
        : "No buckets: no client has made a request lately.";
      replace(list, table<Bucket>([
        { title: "Client", cell: (b) => h("code", { "data-testid": "bucket-key" }, b.key) },
        { title: "Tokens left", cell: (b) => h("span", { "data-testid": "bucket-tokens" }, `${b.tokens.toFixed(2)} / ${rl!.requests}`) },
        { title: "Retry after", cell: (b) => (b.retryAfter > 0 ? h("span", { class: "ui-bad" }, `${b.retryAfter} s`) : h("span", { class: "ui-muted" }, "—")) },
        { title: "Last request", cell: (b) => h("span", { class: "ui-mono" }, time(b.lastActivity)) },
        {
          title: "Actions",
          cell: (b) => button("Clear", async () => {
            try {
              const r = await call<{ deleted: boolean }>(`api/rate-limit/buckets/${encodeURIComponent(b.key)}`, { method: "DELETE" });
              toast(r.deleted ? `Cleared ${b.key}: its next request starts with a full bucket.` : `${b.key} was already gone.`, "ok");
            } catch (e) {
              toast((e as Error).message, "error");
            }
            await load();
          }, { label: `Clear bucket ${b.key}` }),
        },
      ], buckets, "No buckets."));
    }

    const refresh = button("Refresh", () => void load().catch((e) => toast((e as Error).message, "error")), { icon: "refresh-cw" });
    const clearAll = button("Clear all buckets", async () => {
      const choice = await dialog("Clear every bucket?", h("p", {}, "Every client starts again with a full bucket, including those being limited now."), [
        { text: "Cancel", value: "cancel" },
        { text: "Clear all", value: "clear", variant: "danger" },
      ], {
        async onSubmit() {
          const r = await call<{ cleared: number }>("api/rate-limit/clear", { method: "POST" });
          toast(`Cleared ${r.cleared} bucket${r.cleared === 1 ? "" : "s"}.`, "ok");
        },
      });
      if (choice === "clear") await load();
    }, { variant: "danger" });

    await load();
    return h("div", {}, h("h1", {}, "Rate limit"),
      h("p", {}, `Each client (by ${rl.keyBy === "user" ? "signed-in user, else IP" : "IP"}) may make ${rl.requests} requests per ${rl.window}, refilled continuously; past that it gets 429 with Retry-After.`),
      rl.excludePaths.length ? h("p", { class: "ui-muted" }, "Never limited: ", ...rl.excludePaths.flatMap((p, i) => [i ? ", " : "", h("code", {}, p)])) : null,
      numbers,
      h("div", { class: "ui-toolbar" }, refresh, clearAll),
      h("h2", {}, "Buckets"), summary, list);
  },
};
