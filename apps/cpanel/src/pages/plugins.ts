/** Plugins: load order, dependencies, kind, the last reload's result or errors, and Reload. */
import { button, h, replace, table, toast } from "@buntime/ui";
import { api, ApiError } from "../api.ts";
import { loadedPlugins, type LoadedPlugin } from "../plugins.ts";
import { list, type Page } from "./common.ts";

interface ReloadProblem {
  plugin?: string;
  file?: string;
  key?: string;
  message: string;
}

interface ReloadReport {
  ok: boolean;
  generation: number;
  plugins?: Array<{ name: string; version?: string; base?: string }>;
  warnings?: Array<string | ReloadProblem>;
  errors?: ReloadProblem[];
  elapsedMs?: number;
}

const LAST = "buntime-last-reload";

/** The last reload's report, kept for the tab so the page shows it after navigating away. */
function lastReload(): ReloadReport | null {
  try {
    return JSON.parse(sessionStorage.getItem(LAST) ?? "null") as ReloadReport | null;
  } catch {
    return null;
  }
}

function problemText(p: string | ReloadProblem): string {
  if (typeof p === "string") return p;
  return [p.plugin, p.key ? `\`${p.key}\`` : null, p.file].filter(Boolean).join(" · ");
}

function reportView(r: ReloadReport): HTMLElement {
  if (r.ok) {
    const warnings = r.warnings ?? [];
    return h("div", { class: "ui-alert ui-alert-ok", role: "status", "data-testid": "reload-result" },
      h("strong", {}, `Reloaded: generation ${r.generation}`),
      ` — ${r.plugins?.length ?? 0} plugins${r.elapsedMs !== undefined ? ` in ${r.elapsedMs} ms` : ""}.`,
      warnings.length ? h("ul", {}, ...warnings.map((w) => h("li", {}, typeof w === "string" ? w : `${problemText(w)}: ${w.message}`))) : null);
  }
  return h("div", { class: "ui-alert", role: "alert", "data-testid": "reload-result" },
    h("strong", {}, `Reload failed; generation ${r.generation} keeps serving.`),
    table<ReloadProblem>([
      { title: "Plugin", cell: (p) => p.plugin ?? "—" },
      { title: "Key", cell: (p) => p.key ?? "—" },
      { title: "Error", cell: (p) => p.message },
      { title: "File", cell: (p) => h("code", {}, p.file ?? "—") },
    ], r.errors ?? []));
}

function pluginTable(plugins: LoadedPlugin[], failed: string[]): HTMLElement {
  return h("div", {},
    table<LoadedPlugin & { order: number }>([
      { title: "#", cell: (p) => String(p.order) },
      { title: "Name", cell: (p) => h("strong", {}, p.name) },
      { title: "Version", cell: (p) => p.version },
      { title: "Kind", cell: (p) => h("span", { class: "ui-badge" }, p.kind) },
      { title: "Base", cell: (p) => (p.base ? h("a", { href: p.base, target: "_blank", rel: "noopener" }, p.base) : "—") },
      { title: "Depends on", cell: (p) => list(p.dependencies) },
      { title: "Optional", cell: (p) => list(p.optionalDependencies) },
    ], plugins.map((p, i) => ({ ...p, order: i + 1 })), "No plugin is loaded."),
    failed.length ? h("div", { class: "ui-alert", role: "alert" }, `Not loaded in this generation: ${list(failed)}.`) : null);
}

export const plugins: Page = {
  title: "Plugins",
  async render() {
    const [loaded, ready] = await Promise.all([
      loadedPlugins(),
      api<{ generation?: number; failed?: string[] }>("/health/ready", { okStatuses: [503] }).then((r) => r.data),
    ]);
    const subtitleText = (generation: number | undefined) => `In load order (hooks run in this order). Generation ${generation ?? "—"}.`;
    const subtitle = h("p", { class: "ui-muted", "data-testid": "serving" }, subtitleText(ready.generation));
    const result = h("div", {});
    const last = lastReload();
    if (last) replace(result, reportView(last));
    const listing = h("div", {}, pluginTable(loaded, ready.failed ?? []));
    const reload = button("Reload plugins", async () => {
      reload.disabled = true;
      try {
        const { data } = await api<ReloadReport>("/plugins/reload", { method: "POST", okStatuses: [422] });
        sessionStorage.setItem(LAST, JSON.stringify(data));
        replace(result, reportView(data));
        replace(subtitle, subtitleText(data.generation));
        replace(listing, pluginTable(await loadedPlugins(), []));
        document.dispatchEvent(new CustomEvent("cpanel:plugins-changed"));
      } catch (e) {
        const err = e instanceof ApiError ? e : new ApiError(0, "NETWORK", String(e));
        replace(result, h("div", { class: "ui-alert", role: "alert", "data-testid": "reload-result" }, `Reload refused: ${err.message}`));
        toast(err.message, "error");
      } finally {
        reload.disabled = false;
      }
    }, { variant: "primary", icon: "refresh-cw" });
    return h("div", {},
      h("div", { class: "cp-head" }, h("h1", {}, "Plugins"), reload),
      subtitle,
      result, listing);
  },
};
