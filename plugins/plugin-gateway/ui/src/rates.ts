/**
 * Requests per second from the rate limiter's counters. Snapshots are taken every second but the
 * gateway stores one only when its counters changed, so a longer gap between two stored ones
 * means the counters stood still until the last second of it: that gap reads as zero, then the
 * whole change in its last second.
 */
import type { Snapshot } from "./api.ts";

export interface RatePoint { time: number; allowed: number; blocked: number }

const round = (n: number) => Math.round(n * 100) / 100;

/** Points (oldest first) for the snapshots, in any order. A counter that went back (a restart) counts from zero. */
export function rates(snapshots: Snapshot[]): RatePoint[] {
  const s = [...snapshots].sort((a, b) => a.timestamp - b.timestamp);
  const out: RatePoint[] = [];
  for (let i = 1; i < s.length; i++) {
    const a = s[i - 1]!;
    const b = s[i]!;
    const dt = (b.timestamp - a.timestamp) / 1000;
    if (dt <= 0) continue;
    const delta = (x: number, y: number) => (y >= x ? y - x : y);
    const blocked = delta(a.blockedRequests, b.blockedRequests);
    const allowed = Math.max(0, delta(a.totalRequests, b.totalRequests) - blocked);
    if (dt > 1.5) {
      const zero = (time: number) => out.push({ time, allowed: 0, blocked: 0 });
      if (!out.length || out[out.length - 1]!.time < a.timestamp + 1000) zero(a.timestamp + 1000);
      if (b.timestamp - 1000 > a.timestamp + 1000) zero(b.timestamp - 1000);
      out.push({ time: b.timestamp, allowed: round(allowed), blocked: round(blocked) });
    } else {
      out.push({ time: b.timestamp, allowed: round(allowed / dt), blocked: round(blocked / dt) });
    }
  }
  return out;
}
