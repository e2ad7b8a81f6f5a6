/** What the KeyVal pages share: the metrics answer's shape and stat tiles. */
import { h } from "@buntime/ui";

export interface Metrics {
  operations: { operations: Record<string, { count: number; errors: number; avgLatencyMs: number }>; totals: { errors: number; operations: number } };
  queue: { pending: number; processing: number; dlq: number; total: number };
  storage: { entries: number; sizeBytes: number };
}

export function stats(pairs: Array<[string, Node | string]>): HTMLElement {
  return h("dl", { class: "ui-stats" }, ...pairs.map(([k, v]) => h("div", { class: "ui-stat" }, h("dt", {}, k), h("dd", {}, v))));
}
