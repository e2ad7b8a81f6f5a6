//! Brute-force protection: failed sign-ins counted per account and per client IP in a sliding window.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimitConfig;

/// Past this many tracked keys, keys with no failure left in the window are dropped.
const PRUNE_AT: usize = 10_000;

#[derive(Debug, Default)]
struct Windows {
    accounts: HashMap<String, VecDeque<Instant>>,
    ips: HashMap<String, VecDeque<Instant>>,
}

/// Counts failures; answers how long a blocked caller must wait.
#[derive(Debug)]
pub struct Limiter {
    cfg: RateLimitConfig,
    windows: Mutex<Windows>,
}

fn trim(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
        q.pop_front();
    }
}

/// How long until `q` (trimmed) has fewer than `max` entries, if it has `max` or more.
fn wait(
    q: Option<&VecDeque<Instant>>,
    max: u32,
    now: Instant,
    window: Duration,
) -> Option<Duration> {
    let q = q?;
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    if q.len() < max {
        return None;
    }
    // The entry whose expiry brings the count under `max`.
    let t = q[q.len() - max];
    Some(
        window
            .saturating_sub(now.duration_since(t))
            .max(Duration::from_secs(1)),
    )
}

impl Limiter {
    /// Builds a limiter.
    pub fn new(cfg: RateLimitConfig) -> Self {
        Self {
            cfg,
            windows: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Windows> {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Returns how long to wait when `account` or `ip` used up its failures, else `None`.
    pub fn blocked(&self, account: &str, ip: &str) -> Option<Duration> {
        let now = Instant::now();
        let mut w = self.lock();
        let window = self.cfg.window;
        if let Some(q) = w.accounts.get_mut(account) {
            trim(q, now, window);
        }
        if let Some(q) = w.ips.get_mut(ip) {
            trim(q, now, window);
        }
        let a = wait(
            w.accounts.get(account),
            self.cfg.max_per_account,
            now,
            window,
        );
        let i = wait(w.ips.get(ip), self.cfg.max_per_ip, now, window);
        a.max(i)
    }

    /// Records one failed sign-in.
    pub fn failed(&self, account: &str, ip: &str) {
        let now = Instant::now();
        let window = self.cfg.window;
        let mut guard = self.lock();
        let w = &mut *guard;
        for (map, key) in [(&mut w.accounts, account), (&mut w.ips, ip)] {
            if map.len() >= PRUNE_AT {
                map.retain(|_, q| {
                    trim(q, now, window);
                    !q.is_empty()
                });
            }
            map.entry(key.to_owned()).or_default().push_back(now);
        }
    }

    /// Forgets the account's failures after a successful sign-in (the IP's stay counted).
    pub fn succeeded(&self, account: &str) {
        self.lock().accounts.remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_per_account_and_per_ip() {
        let l = Limiter::new(RateLimitConfig {
            window: Duration::from_secs(60),
            max_per_account: 2,
            max_per_ip: 3,
        });
        l.failed("a", "ip");
        assert!(l.blocked("a", "ip").is_none());
        l.failed("a", "ip");
        let wait = l.blocked("a", "ip").unwrap();
        assert!(
            wait > Duration::from_secs(58) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert!(
            l.blocked("b", "ip").is_none(),
            "another account from the same IP still has one try"
        );
        l.failed("b", "ip");
        assert!(
            l.blocked("c", "ip").is_some(),
            "the IP used up its failures"
        );
        assert!(l.blocked("c", "other-ip").is_none());
    }

    #[test]
    fn success_clears_the_account() {
        let l = Limiter::new(RateLimitConfig {
            window: Duration::from_secs(60),
            max_per_account: 1,
            max_per_ip: 10,
        });
        l.failed("a", "ip");
        assert!(l.blocked("a", "ip").is_some());
        l.succeeded("a");
        assert!(l.blocked("a", "ip").is_none());
    }
}
