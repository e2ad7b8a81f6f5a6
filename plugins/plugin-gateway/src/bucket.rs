//! Token buckets and the keyed limiter that holds one per client (`ip:…` or `user:…`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One client's bucket: `capacity` tokens, refilled continuously at `capacity / window`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    refilled: Instant,
    last_activity_ms: u64,
}

/// What one attempt to take a token decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// Whole tokens left after this request.
    pub remaining: u64,
    /// How long until one token is back (zero when one is there now).
    pub retry_after: Duration,
    /// How long until the bucket is full again.
    pub reset_after: Duration,
}

/// The shape every bucket of a limiter shares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Most tokens a bucket holds (the `requests` of a window).
    pub capacity: f64,
    /// Tokens added per second.
    pub per_second: f64,
}

impl Rate {
    /// `requests` per `window`.
    pub fn new(requests: u32, window: Duration) -> Self {
        let capacity = f64::from(requests.max(1));
        Self {
            capacity,
            per_second: capacity / window.as_secs_f64().max(1e-3),
        }
    }

    fn time_for(&self, tokens: f64) -> Duration {
        Duration::try_from_secs_f64((tokens / self.per_second).max(0.0)).unwrap_or(Duration::MAX)
    }
}

impl TokenBucket {
    /// A full bucket.
    pub fn full(rate: &Rate, now: Instant, now_ms: u64) -> Self {
        Self {
            tokens: rate.capacity,
            refilled: now,
            last_activity_ms: now_ms,
        }
    }

    /// Adds the tokens earned since the last refill, never above capacity.
    pub fn refill(&mut self, rate: &Rate, now: Instant) {
        let earned = now.saturating_duration_since(self.refilled).as_secs_f64() * rate.per_second;
        self.tokens = (self.tokens + earned).min(rate.capacity);
        self.refilled = now;
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, rate: &Rate, now: Instant, now_ms: u64) -> Decision {
        self.refill(rate, now);
        self.last_activity_ms = now_ms;
        let allowed = self.tokens >= 1.0;
        if allowed {
            self.tokens -= 1.0;
        }
        Decision {
            allowed,
            remaining: self.tokens.floor() as u64,
            retry_after: self.retry_after(rate),
            reset_after: rate.time_for(rate.capacity - self.tokens),
        }
    }

    /// Returns the tokens now (fractional).
    pub fn tokens(&self) -> f64 {
        self.tokens
    }

    /// How long until a whole token is there.
    pub fn retry_after(&self, rate: &Rate) -> Duration {
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            rate.time_for(1.0 - self.tokens)
        }
    }

    /// When this bucket was last asked for a token (epoch ms).
    pub fn last_activity_ms(&self) -> u64 {
        self.last_activity_ms
    }
}

/// A bucket as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketView {
    /// `ip:…` or `user:…`.
    pub key: String,
    /// Tokens left, rounded down to two decimals.
    pub tokens: f64,
    /// Seconds until a token is back (0 when one is there).
    pub retry_after: u64,
    /// Last request (epoch ms).
    pub last_activity: u64,
}

/// Counters since start (or the last clear).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LimiterMetrics {
    /// Requests checked.
    pub total_requests: u64,
    /// Requests answered 429.
    pub blocked_requests: u64,
    /// Requests let through.
    pub allowed_requests: u64,
    /// Buckets held now.
    pub active_buckets: u64,
}

/// Shards keep two cores from queueing on one lock under load.
const SHARDS: usize = 16;

/// One bucket per key, created full on first sight, swept when idle and full again.
#[derive(Debug)]
pub struct Limiter {
    rate: Rate,
    shards: Vec<Mutex<HashMap<String, TokenBucket>>>,
    total: AtomicU64,
    blocked: AtomicU64,
}

impl Limiter {
    /// A limiter of `requests` per `window` for every key.
    pub fn new(requests: u32, window: Duration) -> Self {
        Self {
            rate: Rate::new(requests, window),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            total: AtomicU64::new(0),
            blocked: AtomicU64::new(0),
        }
    }

    /// The rate every bucket follows.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, HashMap<String, TokenBucket>> {
        // FNV-1a: cheap, and keys are not attacker-controlled beyond their IP or user id.
        let h = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let i = (h % SHARDS as u64) as usize;
        self.shards[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a token from `key`'s bucket.
    pub fn check(&self, key: &str) -> Decision {
        self.check_at(key, Instant::now(), crate::now_ms())
    }

    /// [`Self::check`] at a given time (tests).
    pub fn check_at(&self, key: &str, now: Instant, now_ms: u64) -> Decision {
        let rate = self.rate;
        let mut shard = self.shard(key);
        let decision = match shard.get_mut(key) {
            Some(b) => b.try_take(&rate, now, now_ms),
            None => shard
                .entry(key.to_owned())
                .or_insert_with(|| TokenBucket::full(&rate, now, now_ms))
                .try_take(&rate, now, now_ms),
        };
        drop(shard);
        self.total.fetch_add(1, Ordering::Relaxed);
        if !decision.allowed {
            self.blocked.fetch_add(1, Ordering::Relaxed);
        }
        decision
    }

    /// Drops buckets that are full again: they hold nothing a new bucket would not. Returns how
    /// many went.
    pub fn sweep(&self, now: Instant) -> usize {
        let rate = self.rate;
        let mut dropped = 0;
        for shard in &self.shards {
            let mut s = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let before = s.len();
            s.retain(|_, b| {
                b.refill(&rate, now);
                b.tokens < rate.capacity
            });
            dropped += before - s.len();
        }
        dropped
    }

    /// Forgets `key`'s bucket; returns whether there was one.
    pub fn remove(&self, key: &str) -> bool {
        self.shard(key).remove(key).is_some()
    }

    /// Forgets every bucket; returns how many there were.
    pub fn clear(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let mut s = s.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let n = s.len();
                s.clear();
                n
            })
            .sum()
    }

    /// Buckets held now.
    pub fn active(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .len()
            })
            .sum()
    }

    /// The counters now.
    pub fn metrics(&self) -> LimiterMetrics {
        let total = self.total.load(Ordering::Relaxed);
        let blocked = self.blocked.load(Ordering::Relaxed);
        LimiterMetrics {
            total_requests: total,
            blocked_requests: blocked,
            allowed_requests: total.saturating_sub(blocked),
            active_buckets: self.active() as u64,
        }
    }

    /// Up to `limit` buckets, most recently active first.
    pub fn buckets(&self, limit: usize) -> Vec<BucketView> {
        let now = Instant::now();
        let rate = self.rate;
        let mut all: Vec<BucketView> = Vec::new();
        for shard in &self.shards {
            let mut s = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (key, b) in s.iter_mut() {
                b.refill(&rate, now);
                all.push(BucketView {
                    key: key.clone(),
                    tokens: (b.tokens() * 100.0).floor() / 100.0,
                    retry_after: b.retry_after(&rate).as_secs_f64().ceil() as u64,
                    last_activity: b.last_activity_ms(),
                });
            }
        }
        all.sort_by(|a, b| {
            b.last_activity
                .cmp(&a.last_activity)
                .then_with(|| a.key.cmp(&b.key))
        });
        all.truncate(limit);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate() -> Rate {
        Rate::new(3, Duration::from_secs(3))
    }

    #[test]
    fn a_bucket_starts_full_and_each_request_takes_one_token() {
        let t0 = Instant::now();
        let mut b = TokenBucket::full(&rate(), t0, 0);
        assert_eq!(b.try_take(&rate(), t0, 0).remaining, 2);
        assert_eq!(b.try_take(&rate(), t0, 0).remaining, 1);
        let last = b.try_take(&rate(), t0, 0);
        assert!(last.allowed);
        assert_eq!(last.remaining, 0);
        assert_eq!(
            last.retry_after,
            Duration::from_secs(1),
            "one token per second"
        );
        let refused = b.try_take(&rate(), t0, 0);
        assert!(!refused.allowed);
        assert_eq!(refused.reset_after, Duration::from_secs(3));
    }

    #[test]
    fn tokens_come_back_with_time_but_never_above_capacity() {
        let t0 = Instant::now();
        let r = rate();
        let mut b = TokenBucket::full(&r, t0, 0);
        for _ in 0..3 {
            b.try_take(&r, t0, 0);
        }
        let half = b.try_take(&r, t0 + Duration::from_millis(500), 0);
        assert!(!half.allowed, "half a token is not a token");
        assert_eq!(half.retry_after, Duration::from_millis(500));
        assert!(b.try_take(&r, t0 + Duration::from_millis(1000), 0).allowed);
        b.refill(&r, t0 + Duration::from_secs(3600));
        assert_eq!(b.tokens(), 3.0);
    }

    #[test]
    fn the_limiter_keeps_one_bucket_per_key_and_counts() {
        let l = Limiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(l.check_at("ip:a", t0, 1).allowed);
        assert!(l.check_at("ip:a", t0, 2).allowed);
        assert!(!l.check_at("ip:a", t0, 3).allowed);
        assert!(l.check_at("ip:b", t0, 4).allowed, "b has its own bucket");
        assert_eq!(
            l.metrics(),
            LimiterMetrics {
                total_requests: 4,
                blocked_requests: 1,
                allowed_requests: 3,
                active_buckets: 2
            }
        );
        let listed = l.buckets(10);
        assert_eq!(
            listed.iter().map(|b| b.key.as_str()).collect::<Vec<_>>(),
            ["ip:b", "ip:a"],
            "most recent first"
        );
        assert_eq!(l.buckets(1).len(), 1);
        assert!(l.remove("ip:a"));
        assert!(!l.remove("ip:a"));
        assert!(
            l.check_at("ip:a", t0, 5).allowed,
            "a fresh bucket after removal"
        );
        assert_eq!(l.clear(), 2);
        assert_eq!(l.active(), 0);
    }

    #[test]
    fn sweeping_drops_only_buckets_that_are_full_again() {
        let l = Limiter::new(10, Duration::from_secs(10));
        let t0 = Instant::now();
        l.check_at("ip:old", t0, 0);
        l.check_at("ip:new", t0 + Duration::from_secs(5), 0);
        assert_eq!(l.sweep(t0 + Duration::from_millis(5500)), 1);
        assert_eq!(l.buckets(10)[0].key, "ip:new");
    }
}
