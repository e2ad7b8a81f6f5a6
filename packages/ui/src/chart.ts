/**
 * A live time-series chart on uPlot (MIT, ~50 KB; ADR 0012): a rolling window of points, sized to
 * its box, coloured from the theme's variables and redrawn when the theme changes.
 * Import it as `@buntime/ui/chart` so only the pages with charts carry uPlot.
 */
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { h } from "./dom.ts";

export interface LiveChart {
  el: HTMLElement;
  /** Adds one point per series at `time` (ms since the epoch); the oldest point goes past `capacity`. */
  push(time: number, values: Array<number | null>): void;
  /** Points held now. */
  readonly points: number;
}

const PALETTE = ["--ui-accent", "--ui-ok", "--ui-warn", "--ui-danger"];

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

/**
 * Builds a chart titled `title` with one line per entry of `series`. `format` renders the y axis
 * values (a unit, say). The chart element carries `data-points` (points held), for tests and
 * screen readers alike, and a text summary of the last values.
 */
export function liveChart(title: string, series: string[], opts: { capacity?: number; height?: number; format?: (v: number) => string; signal?: AbortSignal } = {}): LiveChart {
  const capacity = opts.capacity ?? 120;
  const height = opts.height ?? 200;
  const format = opts.format ?? ((v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toFixed(2)).toString()));
  const data: number[][] = [[], ...series.map(() => [])];
  const plotBox = h("div", { class: "ui-chart-plot" });
  const summary = h("p", { class: "ui-chart-summary ui-muted", "aria-live": "off" }, "Waiting for data…");
  const el = h("figure", { class: "ui-chart", "data-points": "0" },
    h("figcaption", {}, title), plotBox, summary);
  let plot: uPlot | null = null;

  const options = (width: number): uPlot.Options => ({
    width,
    height,
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
    // From zero, with headroom: rates and counts read honestly, and a flat line stays readable.
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] } },
    axes: [
      { stroke: cssVar("--ui-muted"), grid: { stroke: cssVar("--ui-border"), width: 1 }, ticks: { stroke: cssVar("--ui-border") } },
      { stroke: cssVar("--ui-muted"), grid: { stroke: cssVar("--ui-border"), width: 1 }, ticks: { stroke: cssVar("--ui-border") }, size: 56, values: (_u, vals) => vals.map((v) => format(v)) },
    ],
    series: [{}, ...series.map((label, i) => ({ label, stroke: cssVar(PALETTE[i % PALETTE.length]!), width: 2, value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? "—" : format(v)) }))],
  });

  function build() {
    const width = Math.max(200, plotBox.clientWidth || 600);
    plot?.destroy();
    // uPlot takes seconds on a time scale.
    plot = new uPlot(options(width), data as uPlot.AlignedData, plotBox);
  }

  // Built once the box has a width (the element is usually attached after this returns).
  const resize = new ResizeObserver(() => {
    if (!el.isConnected) return;
    if (!plot) build();
    else plot.setSize({ width: Math.max(200, plotBox.clientWidth), height });
  });
  resize.observe(plotBox);
  // A theme change (the toggle in this or another same-origin page, or the system's) recolours.
  const rebuild = () => plot && build();
  const onStorage = (ev: StorageEvent) => ev.key === "buntime-theme" && setTimeout(rebuild);
  const scheme = matchMedia("(prefers-color-scheme: dark)");
  addEventListener("storage", onStorage);
  scheme.addEventListener("change", rebuild);
  // `signal`: the page is left; let go of the observers and the plot.
  opts.signal?.addEventListener("abort", () => {
    resize.disconnect();
    removeEventListener("storage", onStorage);
    scheme.removeEventListener("change", rebuild);
    plot?.destroy();
  });

  return {
    el,
    push(time, values) {
      data[0]!.push(time / 1000);
      series.forEach((_, i) => data[i + 1]!.push(values[i] ?? (null as unknown as number)));
      if (data[0]!.length > capacity) for (const column of data) column.shift();
      el.dataset.points = String(data[0]!.length);
      summary.textContent = series.map((s, i) => `${s}: ${values[i] === null || values[i] === undefined ? "—" : format(values[i]!)}`).join(" · ");
      plot?.setData(data as uPlot.AlignedData);
    },
    get points() {
      return data[0]!.length;
    },
  };
}
