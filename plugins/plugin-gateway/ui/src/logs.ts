/** The request log: filters by client, status class and 429s (kept in the URL), stats, clear. */
import { button, dialog, field, h, query, replace, select, toast, type PageContext, type PluginPage } from "@buntime/ui";
import { call, type LogEntry, type LogStats } from "./api.ts";
import { logTable } from "./shared.ts";

export const logs: PluginPage = {
  path: "logs",
  title: "Logs",
  async render(cx: PageContext) {
    const ip = h("input", { name: "ip", type: "search", value: cx.params.get("ip") ?? "", placeholder: "127.0.0.1", autocomplete: "off", spellcheck: "false" });
    const status = select("status", [["", "Any status"], ["2", "2xx"], ["3", "3xx"], ["4", "4xx"], ["5", "5xx"]], cx.params.get("status") ?? "");
    const limited = h("input", { type: "checkbox", name: "rateLimited", checked: cx.params.get("rateLimited") === "true" });
    const statsLine = h("p", { class: "ui-muted", "data-testid": "log-stats" });
    const list = h("div", {});

    async function load() {
      const params = { ip: ip.value.trim(), statusRange: status.value, rateLimited: limited.checked ? "true" : "" };
      cx.setParams({ ip: params.ip, status: params.statusRange, rateLimited: params.rateLimited });
      const [entries, s] = await Promise.all([
        call<LogEntry[]>(`api/logs${query({ limit: 100, ...params })}`),
        call<LogStats>("api/logs/stats"),
      ]);
      const classes = Object.entries(s.byStatus).map(([k, n]) => `${n} ${k}`).join(" · ");
      statsLine.textContent = `${s.total} kept${classes ? ` · ${classes}` : ""} · ${s.rateLimited} rate limited · ${s.avgDuration} ms on average. Showing ${entries.length}, newest first.`;
      replace(list, logTable(entries, "No requests match."));
    }
    const reload = () => void load().catch((e) => toast((e as Error).message, "error"));
    let timer: ReturnType<typeof setTimeout> | undefined;
    ip.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(reload, 250); });
    status.addEventListener("change", reload);
    limited.addEventListener("change", reload);
    const clear = button("Clear log", async () => {
      const choice = await dialog("Clear the request log?", h("p", {}, "Every kept entry is removed, for everyone."), [
        { text: "Cancel", value: "cancel" },
        { text: "Clear", value: "clear", variant: "danger" },
      ], { async onSubmit() { await call("api/logs", { method: "DELETE" }); } });
      if (choice === "clear") reload();
    }, { variant: "danger" });

    await load();
    return h("div", {}, h("h1", {}, "Request log"),
      h("form", { class: "ui-toolbar", role: "search", onsubmit: (ev: Event) => { ev.preventDefault(); reload(); } },
        field("Client IP", ip), field("Status", status),
        h("label", { class: "gw-check" }, limited, " Rate limited only"),
        button("Refresh", reload, { icon: "refresh-cw" }), clear),
      statsLine, list);
  },
};
