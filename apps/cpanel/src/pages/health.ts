/** Overview: health, readiness and the generation serving requests. */
import { h } from "@buntime/ui";
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
    const { data: ready, res } = await api<Ready>("/health/ready", { okStatuses: [503] });
    const generation = ready.generation ?? Number(res.headers.get("x-buntime-generation") ?? 0);
    const tone = ready.ok ? "ui-ok" : "ui-bad";
    return h("div", {},
      h("h1", {}, "Overview"),
      stats([
        ["Status", h("span", { class: tone, "data-testid": "status" }, ready.status)],
        ["Generation", h("span", { "data-testid": "generation" }, String(generation))],
        ["Plugins loaded", String(ready.plugins ?? "—")],
        ["Version", ready.version],
      ]),
      ready.failed?.length ? h("div", { class: "ui-alert", role: "alert" }, `Plugins that did not load: ${list(ready.failed)}. See Plugins for details.`) : null,
      ready.unavailable?.length ? h("div", { class: "ui-alert", role: "alert" }, `Unavailable: ${list(ready.unavailable)}.`) : null,
      h("p", { class: "ui-muted" }, "Readiness is GET /api/health/ready; each response's x-buntime-generation header names the generation that served it."));
  },
};
