//! The response cache: GET answers kept by path and query, with TTLs from `Cache-Control` or the
//! configured `ttl`, least recently used entries evicted first.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use lru::LruCache;
use regex::Regex;

use crate::config::Cache as CacheConfig;

/// One stored answer.
#[derive(Debug, Clone)]
pub struct Cached {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
    stored: Instant,
    expires: Instant,
}

/// Hit, miss and size counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheStats {
    /// Entries held now.
    pub entries: u64,
    /// Requests answered from the cache.
    pub hits: u64,
    /// Cacheable requests that were not.
    pub misses: u64,
}

/// The cache.
#[derive(Debug)]
pub struct ResponseCache {
    config: CacheConfig,
    entries: Mutex<LruCache<String, Cached>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// The `Cache-Control` directive `name` of `headers`, as `Some(argument)` (empty without one).
fn directive<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|d| {
            let d = d.trim();
            let (k, v) = d.split_once('=').unwrap_or((d, ""));
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().trim_matches('"'))
        })
}

impl ResponseCache {
    /// An empty cache.
    pub fn new(config: CacheConfig) -> Self {
        let cap = NonZeroUsize::new(config.max_entries).unwrap_or(NonZeroUsize::MIN);
        Self {
            config,
            entries: Mutex::new(LruCache::new(cap)),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Cached>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The key a request is cached under, when it may be answered from (or stored in) the cache:
    /// a configured method, a path not excluded, no credentials (`Authorization`, `Cookie`,
    /// `X-API-Key`: answers for one caller must not reach another), no `Upgrade` and no
    /// `no-store`.
    pub fn key_for(&self, method: &Method, uri: &http::Uri, headers: &HeaderMap) -> Option<String> {
        let as_get = if method == Method::HEAD && self.config.methods.contains(&Method::GET) {
            &Method::GET
        } else {
            method
        };
        if !self.config.methods.contains(as_get) {
            return None;
        }
        // A WebSocket (or other) upgrade must reach the app, never get a stored 200.
        if [header::AUTHORIZATION, header::COOKIE, header::UPGRADE]
            .iter()
            .any(|h| headers.contains_key(h))
            || headers.contains_key("x-api-key")
            || directive(headers, "no-store").is_some()
        {
            return None;
        }
        let path = uri.path();
        if self.config.exclude.iter().any(|r| r.is_match(path)) {
            return None;
        }
        Some(
            uri.path_and_query()
                .map_or(path, |pq| pq.as_str())
                .to_owned(),
        )
    }

    /// Returns the live entry for `key` (counting a hit or a miss). A request that says
    /// `Cache-Control: no-cache` (or `max-age=0`) skips the lookup and refreshes the entry.
    pub fn lookup(&self, key: &str, req_headers: &HeaderMap) -> Option<Cached> {
        let refresh = directive(req_headers, "no-cache").is_some()
            || directive(req_headers, "max-age") == Some("0");
        let now = Instant::now();
        let found = if refresh {
            None
        } else {
            let mut c = self.lock();
            match c.get(key) {
                Some(e) if e.expires > now => Some(e.clone()),
                Some(_) => {
                    c.pop(key);
                    None
                }
                None => None,
            }
        };
        match found {
            Some(_) => self.hits.fetch_add(1, Ordering::Relaxed),
            None => self.misses.fetch_add(1, Ordering::Relaxed),
        };
        found
    }

    /// How long a response may be kept, or `None` when it must not be: only 200s, no
    /// `Set-Cookie`, no `no-store`/`no-cache`/`private`, not an event stream; `s-maxage`, then
    /// `max-age` (0 is "do not keep"), else the configured `ttl`.
    pub fn ttl_for(&self, status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
        if status != StatusCode::OK || headers.contains_key(header::SET_COOKIE) {
            return None;
        }
        if ["no-store", "no-cache", "private"]
            .iter()
            .any(|d| directive(headers, d).is_some())
        {
            return None;
        }
        if headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"))
        {
            return None;
        }
        if headers
            .get(header::VARY)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "*")
        {
            return None;
        }
        let secs = directive(headers, "s-maxage")
            .or_else(|| directive(headers, "max-age"))
            .and_then(|v| v.parse::<u64>().ok());
        match secs {
            Some(0) => None,
            Some(s) => Some(Duration::from_secs(s)),
            None => Some(self.config.ttl).filter(|t| !t.is_zero()),
        }
    }

    /// The largest body kept.
    pub fn max_body_bytes(&self) -> usize {
        self.config.max_body_bytes
    }

    /// Stores an answer for `ttl`.
    pub fn store(
        &self,
        key: String,
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        ttl: Duration,
    ) {
        if body.len() > self.config.max_body_bytes {
            return;
        }
        let now = Instant::now();
        self.lock().put(
            key,
            Cached {
                status,
                headers,
                body,
                stored: now,
                expires: now + ttl,
            },
        );
    }

    /// Drops the entry `key`; returns how many went (0 or 1).
    pub fn invalidate_key(&self, key: &str) -> usize {
        usize::from(self.lock().pop(key).is_some())
    }

    /// Drops every entry whose key matches `pattern`; returns how many went.
    pub fn invalidate_matching(&self, pattern: &Regex) -> usize {
        let mut c = self.lock();
        let keys: Vec<String> = c
            .iter()
            .filter(|(k, _)| pattern.is_match(k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &keys {
            c.pop(k);
        }
        keys.len()
    }

    /// Drops everything; returns how many went.
    pub fn clear(&self) -> usize {
        let mut c = self.lock();
        let n = c.len();
        c.clear();
        n
    }

    /// The counters now.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.lock().len() as u64,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }
}

impl Cached {
    /// The response for a hit: the stored one with `Age` and `X-Cache: HIT` (no body for HEAD).
    pub fn to_response(&self, head: bool) -> crate::Response {
        let body = if head {
            axum::body::Body::empty()
        } else {
            axum::body::Body::from(self.body.clone())
        };
        let mut res = crate::Response::new(body);
        *res.status_mut() = self.status;
        *res.headers_mut() = self.headers.clone();
        res.headers_mut().insert(
            header::AGE,
            HeaderValue::from(self.stored.elapsed().as_secs()),
        );
        res.headers_mut()
            .insert("x-cache", HeaderValue::from_static("HIT"));
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max_entries: usize) -> ResponseCache {
        ResponseCache::new(CacheConfig {
            ttl: Duration::from_secs(60),
            max_entries,
            max_body_bytes: 8,
            methods: vec![Method::GET],
            exclude: vec![Regex::new("^/live").unwrap()],
        })
    }

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    #[test]
    fn keys_are_path_and_query_for_anonymous_gets_only() {
        let c = cache(10);
        let uri: http::Uri = "/a/b?x=1".parse().unwrap();
        assert_eq!(
            c.key_for(&Method::GET, &uri, &h(&[])),
            Some("/a/b?x=1".into())
        );
        assert_eq!(
            c.key_for(&Method::HEAD, &uri, &h(&[])),
            Some("/a/b?x=1".into()),
            "HEAD reads GET entries"
        );
        assert_eq!(c.key_for(&Method::POST, &uri, &h(&[])), None);
        assert_eq!(
            c.key_for(&Method::GET, &uri, &h(&[("cookie", "s=1")])),
            None
        );
        assert_eq!(
            c.key_for(&Method::GET, &uri, &h(&[("authorization", "Bearer x")])),
            None
        );
        assert_eq!(
            c.key_for(&Method::GET, &uri, &h(&[("upgrade", "websocket")])),
            None
        );
        assert_eq!(
            c.key_for(&Method::GET, &uri, &h(&[("cache-control", "no-store")])),
            None
        );
        assert_eq!(
            c.key_for(&Method::GET, &"/live/feed".parse().unwrap(), &h(&[])),
            None,
            "excluded"
        );
    }

    #[test]
    fn cache_control_decides_the_ttl() {
        let c = cache(10);
        assert_eq!(
            c.ttl_for(StatusCode::OK, &h(&[])),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            c.ttl_for(
                StatusCode::OK,
                &h(&[("cache-control", "public, max-age=5")])
            ),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            c.ttl_for(
                StatusCode::OK,
                &h(&[("cache-control", "max-age=5, s-maxage=9")])
            ),
            Some(Duration::from_secs(9))
        );
        for no in [
            &[("cache-control", "no-store")][..],
            &[("cache-control", "private, max-age=60")],
            &[("cache-control", "max-age=0")],
            &[("set-cookie", "a=b")],
            &[("content-type", "text/event-stream")],
            &[("vary", "*")],
        ] {
            assert_eq!(c.ttl_for(StatusCode::OK, &h(no)), None, "{no:?}");
        }
        assert_eq!(c.ttl_for(StatusCode::NOT_FOUND, &h(&[])), None);
    }

    #[test]
    fn entries_expire_evict_lru_and_invalidate() {
        let c = cache(2);
        let none = h(&[]);
        c.store(
            "/a".into(),
            StatusCode::OK,
            h(&[]),
            Bytes::from_static(b"\x00\x01"),
            Duration::from_secs(60),
        );
        c.store(
            "/b".into(),
            StatusCode::OK,
            h(&[]),
            Bytes::new(),
            Duration::from_secs(60),
        );
        assert_eq!(
            c.lookup("/a", &none).unwrap().body,
            Bytes::from_static(b"\x00\x01"),
            "binary bodies round-trip"
        );
        c.store(
            "/c".into(),
            StatusCode::OK,
            h(&[]),
            Bytes::from_static(b"c"),
            Duration::from_secs(60),
        );
        assert!(
            c.lookup("/b", &none).is_none(),
            "the least recently used went"
        );
        assert!(c.lookup("/a", &none).is_some());
        c.store(
            "/big".into(),
            StatusCode::OK,
            h(&[]),
            Bytes::from_static(b"123456789"),
            Duration::from_secs(60),
        );
        assert!(c.lookup("/big", &none).is_none(), "over maxBodySize");
        assert_eq!(c.invalidate_matching(&Regex::new("^/c").unwrap()), 1);
        c.store(
            "/gone".into(),
            StatusCode::OK,
            h(&[]),
            Bytes::new(),
            Duration::ZERO,
        );
        assert!(c.lookup("/gone", &none).is_none(), "expired");
        assert!(
            c.lookup("/a", &h(&[("cache-control", "no-cache")]))
                .is_none(),
            "no-cache refreshes"
        );
        assert_eq!(c.invalidate_key("/a"), 1);
        assert_eq!(c.invalidate_key("/a"), 0);
        assert_eq!(c.stats().entries, 0);
        let s = c.stats();
        assert!(s.hits >= 2 && s.misses >= 4, "{s:?}");
    }

    #[test]
    fn a_hit_says_so_and_head_gets_no_body() {
        let c = cache(2);
        c.store(
            "/a".into(),
            StatusCode::OK,
            h(&[("content-type", "text/plain")]),
            Bytes::from_static(b"hi"),
            Duration::from_secs(60),
        );
        let hit = c.lookup("/a", &h(&[])).unwrap();
        let res = hit.to_response(false);
        assert_eq!(res.headers()["x-cache"], "HIT");
        assert_eq!(res.headers()["content-type"], "text/plain");
        assert!(res.headers().contains_key("age"));
    }
}
