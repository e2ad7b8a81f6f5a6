/** The live feed both pages read: `api/sse` (pool and workers) plus the runtime's counters. */
import { request, url } from "@buntime/ui";

export interface Pool {
  activeWorkers?: number; avgResponseTimeMs?: number; hitRate?: number; memoryUsageMB?: number;
  requestsPerSecond?: number; totalRequests?: number; totalWorkersCreated?: number; totalWorkersFailed?: number; uptimeMs?: number;
  ephemeralQueueDepth?: number;
}
export interface Worker { ageMs: number; avgResponseTimeMs: number; errorCount: number; idleMs: number; requestCount: number; status: string }
export interface Stats { pool: Pool; workers: Record<string, Worker> }

/** Sums the samples of a family in Prometheus text (`buntime_http_requests_total{…} 12`). */
export function sumFamily(text: string, family: string): number | null {
  let sum = 0;
  let seen = false;
  for (const line of text.split("\n")) {
    if (!line.startsWith(family) || (line[family.length] !== "{" && line[family.length] !== " ")) continue;
    const v = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(v)) {
      sum += v;
      seen = true;
    }
  }
  return seen ? sum : null;
}

/**
 * Opens `api/sse` and calls `onTick` with each event's stats and the runtime's request counter,
 * read from `api/prometheus` at the same moment; closed when `signal` aborts.
 */
export function follow(signal: AbortSignal, onTick: (stats: Stats, runtimeRequests: number | null, at: number) => void, onState: (text: string) => void): void {
  const es = new EventSource(url("api/sse"));
  es.onopen = () => onState("Live: one update per second.");
  es.onerror = () => onState("The feed was interrupted; reconnecting…");
  es.onmessage = async (ev) => {
    const stats = JSON.parse(ev.data) as Stats;
    const at = Date.now();
    const text = await request<string>("api/prometheus", { headers: { accept: "text/plain" } }).catch(() => "");
    if (!signal.aborted) onTick(stats, sumFamily(text, "buntime_http_requests_total"), at);
  };
  signal.addEventListener("abort", () => es.close());
}
