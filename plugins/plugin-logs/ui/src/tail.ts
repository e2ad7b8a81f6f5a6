/**
 * The live tail: the recent entries (newest first), then every new one as the feed (`api/sse`)
 * brings it, filtered by level and a search in the message or source, as `GET api` filters.
 */
import { button, dialog, field, h, query, replace, request, select, toast, url, type PageContext, type PluginPage } from "@buntime/ui";

interface Entry { id: number; level: string; message: string; source: string; timestamp: string; meta?: Record<string, unknown> }
interface Stats { counts: Record<string, number>; total: number }

/** Rows kept on screen. */
const KEEP = 500;
const LEVELS: Array<[string, string]> = [["", "All levels"], ["debug", "Debug"], ["info", "Info"], ["warn", "Warn"], ["error", "Error"]];

export const tail: PluginPage = {
  path: "",
  title: "Logs",
  async render(cx: PageContext) {
    const level = select("level", LEVELS, cx.params.get("level") ?? "");
    const search = h("input", { name: "search", type: "search", value: cx.params.get("search") ?? "", placeholder: "text in the message or source", autocomplete: "off" });
    const counts = h("p", { class: "ui-muted", "data-testid": "counts" });
    const state = h("p", { class: "ui-muted", role: "status" }, "Connecting…");
    const body = h("tbody", {});
    const view = h("div", { class: "ui-table-wrap", tabindex: 0 }, h("table", { class: "ui-table" },
      h("thead", {}, h("tr", {}, ...["Time", "Level", "Source", "Message"].map((t) => h("th", { scope: "col" }, t)))), body));
    const seen = new Set<number>();
    let paused = false;
    let backlog: Entry[] = [];

    const matches = (e: Entry) => {
      if (level.value && e.level !== level.value) return false;
      const q = search.value.trim().toLowerCase();
      return !q || e.message.toLowerCase().includes(q) || e.source.toLowerCase().includes(q);
    };
    const row = (e: Entry) => h("tr", { "data-testid": "log" },
      h("td", { class: "ui-mono" }, new Date(e.timestamp).toLocaleTimeString()),
      h("td", {}, h("span", { class: `ui-badge ui-level-${e.level}` }, e.level)),
      h("td", {}, h("code", {}, e.source)),
      h("td", { class: "ui-cell", title: e.meta ? JSON.stringify(e.meta) : false }, e.message));
    const empty = () => h("tr", {}, h("td", { colspan: 4, class: "ui-empty" }, "No entries match."));

    /** Adds entries (newest last) at the top, skipping ones already shown. */
    function add(entries: Entry[]) {
      const fresh = entries.filter((e) => !seen.has(e.id) && matches(e));
      for (const e of entries) seen.add(e.id);
      if (!fresh.length) return;
      body.querySelector(".ui-empty")?.closest("tr")?.remove();
      for (const e of fresh) body.prepend(row(e));
      while (body.children.length > KEEP) body.lastElementChild!.remove();
    }
    const paintStats = (s: Stats) => {
      counts.textContent = `${s.total} kept · ${["error", "warn", "info", "debug"].map((l) => `${s.counts[l] ?? 0} ${l}`).join(" · ")}`;
    };

    async function reload() {
      cx.setParams({ level: level.value, search: search.value.trim() });
      const r = await request<{ logs: Entry[]; stats: Stats }>(`api${query({ level: level.value, search: search.value.trim(), limit: 200 })}`);
      seen.clear();
      replace(body);
      add(r.logs.slice().reverse());
      if (!body.children.length) body.append(empty());
      paintStats(r.stats);
    }

    // The feed first, so nothing logged between the two calls is lost (ids dedupe the overlap).
    const es = new EventSource(url("api/sse"));
    es.onopen = () => { if (!paused) state.textContent = "Live: new entries appear at the top."; };
    es.onerror = () => { state.textContent = "The feed was interrupted; reconnecting…"; };
    es.onmessage = (ev) => {
      const msg = JSON.parse(ev.data) as { logs: Entry[]; stats: Stats; missed?: number };
      paintStats(msg.stats);
      if (paused) backlog.push(...msg.logs);
      else add(msg.logs);
    };
    cx.signal.addEventListener("abort", () => es.close());

    let timer: ReturnType<typeof setTimeout> | undefined;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => void reload().catch((e) => toast((e as Error).message, "error")), 250);
    });
    level.addEventListener("change", () => void reload().catch((e) => toast((e as Error).message, "error")));
    const pause: HTMLButtonElement = button("Pause", () => {
      paused = !paused;
      pause.querySelector("span")!.textContent = paused ? "Resume" : "Pause";
      state.textContent = paused ? "Paused: new entries wait until you resume." : "Live: new entries appear at the top.";
      if (!paused) {
        add(backlog);
        backlog = [];
      }
    });
    const clear = button("Clear", async () => {
      if ((await dialog("Clear the logs?", h("p", {}, "Every kept entry is removed, for everyone."), [{ text: "Cancel", value: "cancel" }, { text: "Clear", value: "clear", variant: "danger" }])) !== "clear") return;
      await request("api/clear", { method: "POST" });
      await reload();
    }, { variant: "danger" });

    await reload();
    return h("div", {}, h("h1", {}, "Logs"),
      h("form", { class: "ui-toolbar", role: "search", onsubmit: (ev: Event) => { ev.preventDefault(); void reload(); } },
        field("Level", level), field("Search", search), pause, clear),
      state, counts, view);
  },
};
