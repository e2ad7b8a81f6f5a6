//! When a warm worker nearing `maxRequests` gets its successor warmed, so recycling never puts a
//! cold start in front of a request.
//!
//! The successor is started once the requests the worker has left would, at the rate it is
//! serving, last less than [`LEAD`] times its own start-up, and at the latest when a tenth of its
//! requests are left. The rate is measured over at least one start-up time, so a burst of early
//! requests cannot start a successor before a quarter of the requests are used.

use std::time::Duration;

/// How many start-up times ahead of the worker's last request its successor is started.
const LEAD: f64 = 3.0;

/// The share of `maxRequests` left at which the successor is started whatever the rate.
const LATEST: f64 = 0.1;

/// Whether a worker that has taken `count` of its `max` requests, serving for `serving_for`
/// since its first request after a start-up of `start_took`, should get its successor now.
pub(crate) fn successor_due(count: u64, max: u64, start_took: Duration, serving_for: Duration) -> bool {
    let max = max.max(1);
    if count >= max {
        return true;
    }
    #[allow(clippy::cast_precision_loss)]
    let (count, max) = (count as f64, max as f64);
    let left = max - count;
    let window = serving_for.max(start_took).max(Duration::from_millis(1)).as_secs_f64();
    let rate = count / window;
    let lead = rate * start_took.as_secs_f64() * LEAD;
    left <= lead.max((max * LATEST).ceil())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_slow_stream_gets_its_successor_with_a_tenth_left() {
        // 1 request/s, 20 ms start-up: only the 10 % floor applies.
        let due = |count: u64| successor_due(count, 1000, 20 * MS, Duration::from_secs(count));
        assert!(!due(899));
        assert!(due(900));
    }

    #[test]
    fn a_fast_stream_gets_its_successor_three_start_ups_ahead() {
        // 1 000 requests/s, 50 ms start-up: due with 150 left.
        let due = |count: u64| successor_due(count, 1000, 50 * MS, Duration::from_millis(count));
        assert!(!due(849));
        assert!(due(850));
    }

    #[test]
    fn an_early_burst_waits_for_a_quarter_of_the_requests() {
        // Every request in the first microseconds: the rate is measured over one start-up.
        let due = |count: u64| successor_due(count, 1000, 20 * MS, Duration::from_micros(count));
        assert!(!due(249));
        assert!(due(250));
    }

    #[test]
    fn the_last_request_always_asks_for_a_successor() {
        assert!(successor_due(1, 1, Duration::ZERO, Duration::ZERO));
        assert!(successor_due(5, 5, 10 * MS, Duration::from_secs(60)));
    }
}
