//! The gateway's shared state and what its hooks do to a request and a response.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use buntime_core::{ClientAddr, PluginContext, Request, RequestContext, Response};
use buntime_plugin_keyval::Kv;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use tokio::sync::{OnceCell, watch};

use crate::bucket::{Decision, Limiter, Rate};
use crate::cache::ResponseCache;
use crate::config::{Config, KeyBy};
use crate::cors::{self, CorsPolicy};
use crate::history::History;
use crate::log::{LogEntry, RequestLog};
use crate::pending::{Pending, PendingTable};
use crate::shell::{self, Excludes};

/// The shell, once configured.
#[derive(Debug)]
pub struct ShellState {
    /// `shellDir` as written (a directory or an app name).
    pub dir: String,
    /// Its excludes.
    pub excludes: Excludes,
    located: OnceCell<Option<PathBuf>>,
    loaded: OnceCell<()>,
}

/// Everything the hooks and the routes share.
#[derive(Debug)]
pub struct Gateway {
    /// The validated configuration.
    pub config: Config,
    /// The rate limiter, when `rateLimit` is on.
    pub limiter: Option<Limiter>,
    /// CORS, when `cors` is on.
    pub cors: Option<CorsPolicy>,
    /// The response cache, when `cache` is on.
    pub cache: Option<ResponseCache>,
    /// The shell, when a shell dir is set.
    pub shell: Option<ShellState>,
    /// The request log.
    pub log: RequestLog,
    /// Metrics snapshots.
    pub history: History,
    pending: PendingTable,
    /// `RUNTIME_TRUST_PROXY`.
    pub trust_proxy: bool,
    /// The runtime's API keys and allowed origins, for writes to the dashboard API.
    pub access: Arc<buntime_auth::AccessControl>,
    /// `{base}/api`: the dashboard's own API, never logged or cached.
    own_api: String,
    cx: PluginContext,
    /// Turns `true` at shutdown: SSE streams end.
    pub stopping: watch::Sender<bool>,
}

/// Epoch milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The client address: the TCP peer, or with `trust_proxy` the first `X-Forwarded-For` entry,
/// then `X-Real-IP`. Without a trusted proxy those headers are the client's to choose, and so
/// would be its bucket.
pub fn client_ip(headers: &HeaderMap, peer: Option<IpAddr>, trust_proxy: bool) -> String {
    if trust_proxy {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .or_else(|| headers.get("x-real-ip").and_then(|v| v.to_str().ok()))
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        if let Some(ip) = forwarded {
            return canonical(ip).to_string();
        }
    }
    peer.map_or_else(|| "unknown".to_owned(), |ip| canonical(ip).to_string())
}

/// The 429 answer, with `Retry-After` (whole seconds, at least 1) and `X-RateLimit-*`.
pub fn too_many(d: &Decision, rate: Rate) -> Response {
    let mut res = buntime_core::respond::json(
        StatusCode::TOO_MANY_REQUESTS,
        &serde_json::json!({"error": "Too Many Requests"}),
    );
    let secs = d.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    rate_headers(res.headers_mut(), d, rate);
    res
}

/// `X-RateLimit-Limit`, `-Remaining` and `-Reset` (epoch ms when the bucket is full again).
pub fn rate_headers(h: &mut HeaderMap, d: &Decision, rate: Rate) {
    h.insert(cors::LIMIT, HeaderValue::from(rate.capacity as u64));
    h.insert(cors::REMAINING, HeaderValue::from(d.remaining));
    let reset =
        now_ms().saturating_add(u64::try_from(d.reset_after.as_millis()).unwrap_or(u64::MAX));
    h.insert(cors::RESET, HeaderValue::from(reset));
}

impl Gateway {
    /// Builds the state from a validated `config`.
    pub fn new(
        config: Config,
        cx: &PluginContext,
        trust_proxy: bool,
        access: Arc<buntime_auth::AccessControl>,
    ) -> Self {
        let base = cx
            .config()
            .get("base")
            .and_then(|b| b.as_str())
            .unwrap_or("/gateway")
            .to_owned();
        Self {
            limiter: config
                .rate_limit
                .as_ref()
                .map(|r| Limiter::new(r.requests, r.window)),
            cors: config.cors.clone().map(CorsPolicy::new),
            cache: config.cache.clone().map(ResponseCache::new),
            shell: config.shell.as_ref().map(|s| ShellState {
                dir: s.dir.clone(),
                excludes: Excludes::new(s.env_excludes.clone()),
                located: OnceCell::new(),
                loaded: OnceCell::new(),
            }),
            log: RequestLog::new(config.log_size),
            history: History::new(config.history_size),
            pending: PendingTable::default(),
            trust_proxy,
            access,
            own_api: format!("{base}/api"),
            cx: cx.clone(),
            stopping: watch::channel(false).0,
            config,
        }
    }

    /// KeyVal, when it is loaded in this generation (looked up when needed: the gateway loads
    /// before it, so that its hooks run before authentication).
    pub fn kv(&self) -> Option<Arc<Kv>> {
        self.cx.get_plugin::<Kv>(buntime_plugin_keyval::NAME)
    }

    /// Loads the shell excludes kept in KeyVal, once.
    pub async fn ensure_loaded(&self) {
        let Some(shell) = &self.shell else { return };
        shell
            .loaded
            .get_or_init(|| async {
                if let Some(kv) = self.kv() {
                    match shell.excludes.load(&kv).await {
                        Ok(n) => self
                            .cx
                            .logger()
                            .info(format!("loaded {n} shell excludes from KeyVal")),
                        Err(e) => self
                            .cx
                            .logger()
                            .warn(format!("cannot read the shell excludes from KeyVal: {e}")),
                    }
                }
            })
            .await;
    }

    /// The shell's directory, found once.
    async fn shell_dir(&self, shell: &ShellState) -> Option<PathBuf> {
        shell
            .located
            .get_or_init(|| async {
                let found = shell::locate(&shell.dir, &self.cx).await;
                if found.is_none() {
                    self.cx.logger().warn(format!("shell `{}` is neither a directory nor an app this runtime serves; browser navigations go to their apps", shell.dir));
                }
                found
            })
            .await
            .clone()
    }

    fn is_own_api(&self, path: &str) -> bool {
        path.strip_prefix(self.own_api.as_str())
            .is_some_and(|r| r.is_empty() || r.starts_with('/'))
    }

    /// The bucket of a request: `user:<id>` when `keyBy: user` and plugin-authn vouches for the
    /// caller (a session cookie or an API key, checked as authn's gate checks them: the gateway
    /// runs before that gate, so `X-Identity` is still the client's to forge and never read),
    /// else `ip:<address>`.
    async fn bucket_key(&self, key_by: KeyBy, headers: &HeaderMap, ip: &str) -> String {
        if key_by == KeyBy::User
            && let Some(id) = self.authenticated_caller(headers).await
        {
            return format!("user:{id}");
        }
        format!("ip:{ip}")
    }

    /// Who plugin-authn says the credentials in `headers` belong to, when it is loaded.
    pub async fn authenticated_caller(&self, headers: &HeaderMap) -> Option<String> {
        let authn = self
            .cx
            .get_plugin::<buntime_plugin_authn::Authn>(buntime_plugin_authn::NAME)?;
        authn.caller_id(headers).await
    }

    /// The `on_request` hook: preflight, rate limit, shell, cache, in that order.
    pub async fn on_request(&self, req: &mut Request, cx: &RequestContext) -> Option<Response> {
        let path = req.uri().path().to_owned();
        let path = path.as_str();
        let peer = req.extensions().get::<ClientAddr>().map(|c| c.0.ip());
        let mut p = Pending {
            started: Instant::now(),
            timestamp: now_ms(),
            ip: client_ip(req.headers(), peer, self.trust_proxy),
            method: req.method().clone(),
            path: path.to_owned(),
            origin: req.headers().get(header::ORIGIN).cloned(),
            decision: None,
            cache_key: None,
            logged: !self.is_own_api(path),
        };

        if let Some(cors) = &self.cors
            && cors.answers_preflights()
            && cors::is_preflight(req.method(), req.headers())
        {
            return Some(self.answer(cors.preflight(req.headers()), &p, false));
        }

        if let (Some(limiter), Some(rl)) = (&self.limiter, &self.config.rate_limit)
            && !rl.exclude.iter().any(|r| r.is_match(path))
        {
            let key = self.bucket_key(rl.key_by, req.headers(), &p.ip).await;
            let d = limiter.check(&key);
            p.decision = Some(d);
            if !d.allowed {
                return Some(self.answer(too_many(&d, limiter.rate()), &p, true));
            }
        }

        if let Some(shell) = &self.shell
            && shell::is_navigation(req.method(), path, req.headers())
        {
            self.ensure_loaded().await;
            let bypassed =
                shell::basename(path).is_some_and(|b| shell.excludes.bypasses(b, req.headers()));
            if !bypassed && let Some(dir) = self.shell_dir(shell).await {
                let res = shell::serve(&self.cx, &dir, std::mem::take(req)).await;
                return Some(self.answer(res, &p, false));
            }
        }

        if let Some(cache) = &self.cache
            && p.logged
            && let Some(key) = cache.key_for(req.method(), req.uri(), req.headers())
        {
            if let Some(hit) = cache.lookup(&key, req.headers()) {
                return Some(self.answer(hit.to_response(req.method() == Method::HEAD), &p, false));
            }
            if req.method() == Method::GET {
                p.cache_key = Some(key);
            }
        }

        self.pending.put(&cx.request_id, p);
        None
    }

    /// Decorates and logs an answer the gateway itself gives (no `on_response` runs for it).
    fn answer(&self, mut res: Response, p: &Pending, rate_limited: bool) -> Response {
        self.decorate(res.headers_mut(), Some(p));
        self.record(p, res.status(), rate_limited);
        res
    }

    /// Adds CORS and `X-RateLimit-*` headers.
    fn decorate(&self, h: &mut HeaderMap, p: Option<&Pending>) {
        if let Some(cors) = &self.cors {
            cors.apply(h, p.and_then(|p| p.origin.as_ref()));
        }
        if let (Some(limiter), Some(d)) = (&self.limiter, p.and_then(|p| p.decision.as_ref()))
            && !h.contains_key(cors::LIMIT)
        {
            rate_headers(h, d, limiter.rate());
        }
    }

    fn record(&self, p: &Pending, status: StatusCode, rate_limited: bool) {
        if !p.logged {
            return;
        }
        let duration = (p.started.elapsed().as_secs_f64() * 100_000.0).round() / 100.0;
        self.log.push(LogEntry {
            id: 0,
            timestamp: p.timestamp,
            ip: p.ip.clone(),
            method: p.method.to_string(),
            path: p.path.clone(),
            status: status.as_u16(),
            duration,
            rate_limited,
        });
    }

    /// The `on_response` hook: store in the cache, add CORS and rate-limit headers, log.
    pub async fn on_response(&self, res: &mut Response, cx: &RequestContext) {
        let p = self.pending.take(&cx.request_id);
        if let (Some(cache), Some(key)) =
            (&self.cache, p.as_ref().and_then(|p| p.cache_key.clone()))
        {
            self.maybe_store(cache, key, res).await;
        }
        self.decorate(res.headers_mut(), p.as_ref());
        if let Some(p) = &p {
            self.record(p, res.status(), false);
        }
    }

    /// An answer a later plugin gave from its `on_request` (authn's 401, authz's 403): CORS and
    /// rate-limit headers, so a browser can read it, and a log entry. Never cached.
    pub fn on_short_circuit(&self, res: &mut Response, cx: &RequestContext) {
        let p = self.pending.take(&cx.request_id);
        self.decorate(res.headers_mut(), p.as_ref());
        if let Some(p) = &p {
            self.record(p, res.status(), false);
        }
    }

    /// Keeps a cacheable answer whose size is known and small enough; the body is read here and
    /// put back, so a streamed or large answer is never buffered.
    async fn maybe_store(&self, cache: &ResponseCache, key: String, res: &mut Response) {
        let Some(ttl) = cache.ttl_for(res.status(), res.headers()) else {
            return;
        };
        let size = http_body::Body::size_hint(res.body()).exact();
        if size.is_none_or(|n| n > cache.max_body_bytes() as u64) {
            return;
        }
        let body = std::mem::take(res.body_mut());
        match axum::body::to_bytes(body, cache.max_body_bytes()).await {
            Ok(bytes) => {
                cache.store(key, res.status(), res.headers().clone(), bytes.clone(), ttl);
                res.headers_mut()
                    .insert("x-cache", HeaderValue::from_static("MISS"));
                *res.body_mut() = Body::from(bytes);
            }
            Err(e) => {
                self.cx
                    .logger()
                    .warn(format!("response body for the cache failed: {e}"));
                *res.status_mut() = StatusCode::BAD_GATEWAY;
            }
        }
    }

    /// The once-a-second job: a metrics snapshot (written to KeyVal when it changed), and every
    /// minute the sweep of full buckets and forgotten requests.
    pub async fn tick(&self, n: u64) {
        if n.is_multiple_of(60) {
            let now = Instant::now();
            if let Some(l) = &self.limiter {
                l.sweep(now);
            }
            self.pending.sweep(now);
        }
        let Some(limiter) = &self.limiter else { return };
        let snap = crate::history::Snapshot::of(limiter.metrics(), now_ms());
        if self.history.record(snap)
            && let Some(kv) = self.kv()
            && let Err(e) = self.history.persist(&kv, snap).await
        {
            self.cx
                .logger()
                .warn(format!("cannot write the metrics snapshot to KeyVal: {e}"));
        }
    }

    /// How long between two ticks.
    pub const TICK: Duration = Duration::from_secs(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 10.0.0.1"),
        );
        let peer = Some("127.0.0.1".parse().unwrap());
        assert_eq!(
            client_ip(&h, peer, false),
            "127.0.0.1",
            "a client cannot choose its bucket"
        );
        assert_eq!(client_ip(&h, peer, true), "203.0.113.9");
        h.insert("x-forwarded-for", HeaderValue::from_static("not-an-ip"));
        h.insert("x-real-ip", HeaderValue::from_static("198.51.100.2"));
        assert_eq!(client_ip(&h, peer, true), "127.0.0.1", "garbage is ignored");
        h.remove("x-forwarded-for");
        assert_eq!(client_ip(&h, peer, true), "198.51.100.2");
        assert_eq!(
            client_ip(
                &HeaderMap::new(),
                Some("::ffff:10.1.2.3".parse().unwrap()),
                false
            ),
            "10.1.2.3"
        );
        assert_eq!(client_ip(&HeaderMap::new(), None, false), "unknown");
    }

    #[test]
    fn a_429_says_when_to_come_back() {
        let rate = Rate::new(10, Duration::from_secs(60));
        let d = Decision {
            allowed: false,
            remaining: 0,
            retry_after: Duration::from_millis(5500),
            reset_after: Duration::from_secs(60),
        };
        let res = too_many(&d, rate);
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers()["retry-after"], "6");
        assert_eq!(res.headers()["x-ratelimit-limit"], "10");
        assert_eq!(res.headers()["x-ratelimit-remaining"], "0");
        let reset: u64 = res.headers()["x-ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(reset >= now_ms() + 59_000, "{reset}");
    }
}
