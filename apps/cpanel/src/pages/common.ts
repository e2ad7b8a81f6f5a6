/** Small pieces the runtime pages share: stat tiles, dates, the page header. */
import { h } from "@buntime/ui";

export interface Page {
  title: string;
  render(): Promise<Node>;
}

export function stats(pairs: Array<[string, Node | string]>): HTMLElement {
  return h("dl", { class: "ui-stats" }, ...pairs.map(([k, v]) => h("div", { class: "ui-stat" }, h("dt", {}, k), h("dd", {}, v))));
}

/** A date as the reader's locale shows it, or a dash. */
export function when(iso: unknown): string {
  if (typeof iso !== "string" || !iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function list(items: string[]): string {
  return items.length ? items.join(", ") : "—";
}
