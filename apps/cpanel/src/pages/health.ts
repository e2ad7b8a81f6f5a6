/** Overview: health, readiness and the generation serving requests; the raw answers in a second tab. */
import { h, tabs } from "@buntime/ui";
import { api } from "../api.ts";
import { list, stats, type Page } from "./common.ts";

interface Ready {
  ok: boolean;
  status: string;
  version: string;
  generation?: number;
  plugins?: number;
  failed?: string[];
  unavailable?: string[];
}

export const health: Page = {
  title: "Overview",
  async render() {
    // Readiness answers 503 while starting, draining or degraded: that is data here, not an error.
    const [{ data: ready, res }, { data: live }] = await Promise.all([
      api<Ready>("/health/ready", { okStatuses: [503] }),
      api<Record<string, unknown>>("/health"),
    ]);
    const generation = ready.generation ?? Number(res.headers.get("x-buntime-generation") ?? 0);
    const tone = ready.ok ? "ui-ok" : "ui-bad";
    const summary = () => h("div", {},
      stats([
        ["Status", h("span", { class: tone, "data-testid": "status" }, ready.status)],
        ["Generation", h("span", { "data-testid": "generation" }, String(generation))],
        ["Plugins loaded", String(ready.plugins ?? "—")],
        ["Version", ready.version],
      ]),
      ready.failed?.length ? h("div", { class: "ui-alert", role: "alert" }, `Plugins that did not load: ${list(ready.failed)}. See Plugins for details.`) : null,
      ready.unavailable?.length ? h("div", { class: "ui-alert", role: "alert" }, `Unavailable: ${list(ready.unavailable)}.`) : null,
      h("p", { class: "ui-muted" }, "Each response's x-buntime-generation header names the plugin generation that served it; a reload starts a new one."));
    const raw = () => h("div", {},
      h("h2", {}, "GET /api/health/ready"), h("pre", { "data-testid": "raw-ready" }, JSON.stringify(ready, null, 2)),
      h("h2", {}, "GET /api/health"), h("pre", {}, JSON.stringify(live, null, 2)));
    return h("div", {}, h("h1", {}, "Overview"), tabs([
      { id: "summary", text: "Summary", render: summary },
      { id: "raw", text: "Raw answers", render: raw },
    ]));
  },
};
