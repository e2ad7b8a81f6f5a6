/** What the gateway pages share: stat tiles, the request log's table, times. */
import { h, table } from "@buntime/ui";
import type { LogEntry } from "./api.ts";

/** Stat tiles; each value element gets `data-testid` when given one. */
export function tiles(pairs: Array<[string, Node | string, string?]>): HTMLElement {
  return h("dl", { class: "ui-stats" }, ...pairs.map(([k, v, id]) => h("div", { class: "ui-stat" }, h("dt", {}, k), h("dd", { "data-testid": id ?? false }, v))));
}

export const time = (ms: number) => new Date(ms).toLocaleTimeString();
export const count = (n: number | null | undefined) => (n === null || n === undefined ? "—" : n.toLocaleString("en-US"));

function statusClass(status: number): string {
  return status >= 500 ? "ui-bad" : status >= 400 ? "ui-warn" : "ui-ok";
}

/** The request log as a table, newest first. */
export function logTable(entries: LogEntry[], empty: string): HTMLElement {
  return table<LogEntry>([
    { title: "Time", cell: (e) => h("span", { class: "ui-mono" }, time(e.timestamp)) },
    { title: "Method", cell: (e) => e.method },
    { title: "Path", cell: (e) => h("code", { class: "ui-cell", "data-testid": "log-path" }, e.path) },
    { title: "Status", cell: (e) => h("span", { class: `ui-badge ${statusClass(e.status)}`, "data-testid": "log-status" }, String(e.status)) },
    { title: "Duration", cell: (e) => `${e.duration.toFixed(2)} ms` },
    { title: "Client", cell: (e) => h("code", {}, e.ip) },
    { title: "Rate limited", cell: (e) => (e.rateLimited ? h("span", { class: "ui-badge ui-bad" }, "429") : h("span", { class: "ui-muted" }, "no")) },
  ], entries, empty);
}
