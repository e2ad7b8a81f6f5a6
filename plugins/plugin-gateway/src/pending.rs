//! What `on_request` learned about a request that `on_response` needs (the response does not
//! carry its request): kept by request id, taken back in arrival order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{HeaderValue, Method};

use crate::bucket::Decision;

/// A request the gateway let through.
#[derive(Debug, Clone)]
pub struct Pending {
    /// When `on_request` ran.
    pub started: Instant,
    /// The same, epoch ms.
    pub timestamp: u64,
    /// The client address.
    pub ip: String,
    /// The method.
    pub method: Method,
    /// The path.
    pub path: String,
    /// Its `Origin`, for CORS.
    pub origin: Option<HeaderValue>,
    /// The rate limiter's answer, for the `X-RateLimit-*` headers.
    pub decision: Option<Decision>,
    /// The cache key its answer is stored under, when it may be.
    pub cache_key: Option<String>,
    /// Whether it goes into the request log (the dashboard's own API does not).
    pub logged: bool,
}

const SHARDS: usize = 16;
/// Requests per shard kept waiting for their response; past that new ones are not followed (a
/// later plugin that answers itself never calls `on_response`, and this must not grow forever).
const MAX_PER_SHARD: usize = 8192;
/// How long an entry waits for its response before the sweep drops it.
pub const MAX_WAIT: Duration = Duration::from_secs(600);

/// The table.
#[derive(Debug)]
pub struct PendingTable {
    shards: Vec<Mutex<HashMap<Arc<str>, Vec<Pending>>>>,
}

impl Default for PendingTable {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl PendingTable {
    fn shard(&self, id: &str) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Vec<Pending>>> {
        let h = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        self.shards[(h % SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `p` for request `id`. A client may reuse an id; entries of one id come back in order.
    pub fn put(&self, id: &Arc<str>, p: Pending) {
        if id.is_empty() {
            return;
        }
        let mut s = self.shard(id);
        if s.len() >= MAX_PER_SHARD && !s.contains_key(id) {
            return;
        }
        s.entry(id.clone()).or_default().push(p);
    }

    /// Takes back the oldest entry of request `id`.
    pub fn take(&self, id: &str) -> Option<Pending> {
        let mut s = self.shard(id);
        let list = s.get_mut(id)?;
        let p = list.remove(0);
        if list.is_empty() {
            s.remove(id);
        }
        Some(p)
    }

    /// Drops entries older than [`MAX_WAIT`]; returns how many.
    pub fn sweep(&self, now: Instant) -> usize {
        let mut n = 0;
        for shard in &self.shards {
            let mut s = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            s.retain(|_, list| {
                let before = list.len();
                list.retain(|p| now.saturating_duration_since(p.started) < MAX_WAIT);
                n += before - list.len();
                !list.is_empty()
            });
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(path: &str, started: Instant) -> Pending {
        Pending {
            started,
            timestamp: 0,
            ip: "ip".into(),
            method: Method::GET,
            path: path.into(),
            origin: None,
            decision: None,
            cache_key: None,
            logged: true,
        }
    }

    #[test]
    fn entries_come_back_once_in_order_and_old_ones_are_swept() {
        let t = PendingTable::default();
        let now = Instant::now();
        let id: Arc<str> = "r1".into();
        t.put(&id, p("/a", now));
        t.put(&id, p("/b", now));
        assert_eq!(t.take("r1").unwrap().path, "/a");
        assert_eq!(t.take("r1").unwrap().path, "/b");
        assert!(t.take("r1").is_none());
        t.put(&"".into(), p("/x", now));
        assert!(t.take("").is_none(), "no id, nothing to match on");
        t.put(&id, p("/old", now));
        assert_eq!(t.sweep(now + MAX_WAIT), 1);
        assert!(t.take("r1").is_none());
    }
}
