import { describe, expect, test } from "bun:test";
import { rates } from "./rates.ts";

const snap = (timestamp: number, totalRequests: number, blockedRequests = 0) => ({ timestamp, totalRequests, blockedRequests, allowedRequests: totalRequests - blockedRequests, activeBuckets: 1 });

describe("rates", () => {
  test("a second apart: the counters' change per second, allowed and blocked apart", () => {
    expect(rates([snap(3000, 12, 2), snap(2000, 5), snap(1000, 0)])).toEqual([
      { time: 2000, allowed: 5, blocked: 0 },
      { time: 3000, allowed: 5, blocked: 2 },
    ]);
  });
  test("a longer gap between stored snapshots is zero until its last second", () => {
    expect(rates([snap(1000, 4), snap(11000, 10)])).toEqual([
      { time: 2000, allowed: 0, blocked: 0 },
      { time: 10000, allowed: 0, blocked: 0 },
      { time: 11000, allowed: 6, blocked: 0 },
    ]);
  });
  test("a counter that went back (a restart) counts from zero; one snapshot gives no rate", () => {
    expect(rates([snap(1000, 50), snap(2000, 3)])).toEqual([{ time: 2000, allowed: 3, blocked: 0 }]);
    expect(rates([snap(1000, 50)])).toEqual([]);
  });
});
