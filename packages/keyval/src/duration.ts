/**
 * Durations as milliseconds or human strings (`"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"1d"`, `"1w"`).
 */

/** Milliseconds, or a number with a unit: ms, s, m, h, d, w, y (long forms like `"5 minutes"` too). */
export type Duration = number | string;

const UNITS: Record<string, number> = {
  ms: 1,
  msec: 1,
  msecs: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
  y: 31_557_600_000,
  yr: 31_557_600_000,
  yrs: 31_557_600_000,
  year: 31_557_600_000,
  years: 31_557_600_000,
};

/** Returns `value` in milliseconds; `what` names the option in the error for a bad value. */
export function parseDuration(value: Duration, what = "duration"): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new RangeError(`${what} must be a finite number of milliseconds (got ${value})`);
    return value;
  }
  const match = typeof value === "string" ? /^\s*(-?\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value) : null;
  const factor = match ? UNITS[(match[2] || "ms").toLowerCase()] : undefined;
  if (!match || factor === undefined) {
    throw new RangeError(`${what}: ${JSON.stringify(value)} is not a duration (use milliseconds or e.g. "500ms", "30s", "5m", "2h", "1d")`);
  }
  return Math.round(Number(match[1]) * factor);
}

/** Like {@link parseDuration}, passing `undefined` through. */
export function parseDurationOptional(value: Duration | undefined, what?: string): number | undefined {
  return value === undefined ? undefined : parseDuration(value, what);
}
