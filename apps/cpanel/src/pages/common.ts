/** Small pieces the runtime pages share: stat tiles, dates, the page header. */
import { h } from "@buntime/ui";

export interface Page {
  title: string;
  render(): Promise<Node>;
}

export function stats(pairs: Array<[string, Node | string]>): HTMLElement {
  return h("dl", { class: "ui-stats" }, ...pairs.map(([k, v]) => h("div", { class: "ui-stat" }, h("dt", {}, k), h("dd", {}, v))));
}

/** A time (Unix seconds, as the key store sends them, or an ISO string) in the reader's locale, or a dash. */
export function when(t: unknown): string {
  const d = typeof t === "number" ? new Date(t * 1000) : typeof t === "string" && t ? new Date(t) : null;
  if (!d) return "—";
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString();
}

export function list(items: string[]): string {
  return items.length ? items.join(", ") : "—";
}
