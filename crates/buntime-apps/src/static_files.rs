//! Static apps (`.html` entrypoint) served by Rust: MIME, validators, compression, SPA fallback, containment.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use buntime_core::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use percent_encoding::percent_decode_str;

use crate::inject::Injection;

/// Files up to this size are kept in memory (with their compressed forms); larger ones stream.
const MAX_CACHED_FILE: u64 = 8 * 1024 * 1024;
/// The cache is cleared when it would hold more than this many bytes.
const MAX_CACHE_BYTES: u64 = 256 * 1024 * 1024;
/// How long a cached file is trusted before its metadata is checked again.
const REVALIDATE_AFTER: Duration = Duration::from_secs(1);
/// Smallest body worth compressing.
const MIN_COMPRESS: usize = 256;

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ms() -> u64 {
    u64::try_from(EPOCH.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// One static site: where its files live and what its HTML gets injected with.
#[derive(Debug, Clone)]
pub struct StaticSite {
    /// The canonical directory files are served from (the entrypoint's directory).
    pub root: PathBuf,
    /// The entrypoint HTML file (canonical, inside `root`; it may be missing).
    pub entry: PathBuf,
    /// What to inject into HTML files.
    pub injection: Option<Injection>,
    /// Whether any GET without a file extension falls back to the entrypoint (a plugin's UI, as
    /// in the original), not only a browser navigation (worker apps).
    pub fallback_any_get: bool,
}

/// A file held in memory with its validators and compressed forms.
#[derive(Debug)]
struct Cached {
    path: PathBuf,
    mtime: SystemTime,
    len: u64,
    checked_ms: AtomicU64,
    content_type: HeaderValue,
    etag: HeaderValue,
    last_modified: HeaderValue,
    modified_secs: u64,
    body: Bytes,
    compressible: bool,
    is_html: bool,
    gzip: OnceLock<Option<Bytes>>,
    br: OnceLock<Option<Bytes>>,
}

/// Serves static sites, caching small files in memory keyed by path and modification time.
#[derive(Debug, Default)]
pub struct StaticFiles {
    cache: RwLock<HashMap<String, Arc<Cached>>>,
    cached_bytes: AtomicU64,
}

enum Lookup {
    Found(Arc<Cached>),
    Large(PathBuf, std::fs::Metadata),
    Missing,
    Forbidden,
}

impl StaticFiles {
    /// Creates an empty file server.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `rel_path` (the request path with the mount prefix stripped, still percent-encoded)
    /// from `site`.
    ///
    /// Paths are percent-decoded once and may never leave `site.root` (403); hidden files are 404.
    /// Navigations to unknown extension-less paths get the entrypoint (SPA fallback; any GET or
    /// HEAD for a site with [`StaticSite::fallback_any_get`]); a missing asset is a 404.
    pub async fn serve(&self, site: &StaticSite, method: &Method, headers: &HeaderMap, rel_path: &str) -> Response {
        if method != Method::GET && method != Method::HEAD {
            if site.fallback_any_get {
                // A plugin's UI only sees requests none of the plugin's routes matched: for any
                // other method that path is simply not there (an API client expects 404), not a
                // page that refuses the method.
                return text(StatusCode::NOT_FOUND, "Not Found");
            }
            let mut res = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
            res.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return res;
        }
        let clean = match clean_path(rel_path) {
            Ok(c) => c,
            Err(status) => return text(status, status.canonical_reason().unwrap_or("Error")),
        };
        let fingerprint = site.injection.as_ref().map_or(0, Injection::fingerprint);
        // The manifest may carry app env; never serve it from a site rooted at the app dir.
        if crate::config::MANIFEST_FILES.contains(&clean.as_str()) {
            return text(StatusCode::NOT_FOUND, "Not Found");
        }
        let lookup = if clean.is_empty() {
            self.lookup_entry(site, fingerprint).await
        } else {
            self.lookup(site, &clean, fingerprint).await
        };
        match lookup {
            Lookup::Found(c) => respond(&c, method, headers).await,
            Lookup::Large(path, meta) => stream(&path, &meta, method).await,
            Lookup::Forbidden => text(StatusCode::FORBIDDEN, "Forbidden"),
            Lookup::Missing => {
                let last = clean.rsplit('/').next().unwrap_or_default();
                if !clean.is_empty() && !last.contains('.') && (site.fallback_any_get || is_navigation(method, headers))
                    && let Lookup::Found(c) = self.lookup_entry(site, fingerprint).await {
                        return respond(&c, method, headers).await;
                    }
                text(StatusCode::NOT_FOUND, "Not Found")
            }
        }
    }

    /// Forgets every cached file.
    pub fn invalidate(&self) {
        if let Ok(mut cache) = self.cache.write() {
            cache.clear();
            self.cached_bytes.store(0, Ordering::Relaxed);
        }
    }

    async fn lookup_entry(&self, site: &StaticSite, fingerprint: u64) -> Lookup {
        let key = format!("{}\0\0entry\0{fingerprint}", site.root.display());
        let entry = site.entry.clone();
        self.cached_or_load(key, site, move |_| Ok(Some(entry))).await
    }

    async fn lookup(&self, site: &StaticSite, clean: &str, fingerprint: u64) -> Lookup {
        let key = format!("{}\0{clean}\0{fingerprint}", site.root.display());
        let candidate = site.root.join(clean);
        self.cached_or_load(key, site, move |root| {
            let Ok(real) = std::fs::canonicalize(&candidate) else { return Ok(None) };
            if !real.starts_with(root) {
                return Err(());
            }
            if real.is_dir() {
                let index = real.join("index.html");
                return match std::fs::canonicalize(&index) {
                    Ok(i) if i.starts_with(root) => Ok(Some(i)),
                    Ok(_) => Err(()),
                    Err(_) => Ok(None),
                };
            }
            Ok(Some(real))
        })
        .await
    }

    async fn cached_or_load<F>(&self, key: String, site: &StaticSite, locate: F) -> Lookup
    where
        F: FnOnce(&Path) -> Result<Option<PathBuf>, ()> + Send + 'static,
    {
        let hit = self.cache.read().ok().and_then(|c| c.get(&key).cloned());
        if let Some(c) = hit {
            let now = now_ms();
            if now.saturating_sub(c.checked_ms.load(Ordering::Relaxed)) < duration_ms(REVALIDATE_AFTER) {
                return Lookup::Found(c);
            }
            if let Ok(meta) = std::fs::metadata(&c.path)
                && meta.is_file()
                && meta.len() == c.len
                && meta.modified().ok() == Some(c.mtime)
            {
                c.checked_ms.store(now, Ordering::Relaxed);
                return Lookup::Found(c);
            }
            if let Ok(mut cache) = self.cache.write()
                && let Some(old) = cache.remove(&key)
            {
                self.cached_bytes.fetch_sub(old.body.len() as u64, Ordering::Relaxed);
            }
        }
        let root = site.root.clone();
        let injection = site.injection.clone();
        let loaded = tokio::task::spawn_blocking(move || -> Lookup {
            let path = match locate(&root) {
                Ok(Some(p)) => p,
                Ok(None) => return Lookup::Missing,
                Err(()) => return Lookup::Forbidden,
            };
            let Ok(meta) = std::fs::metadata(&path) else { return Lookup::Missing };
            if !meta.is_file() {
                return Lookup::Missing;
            }
            if meta.len() > MAX_CACHED_FILE {
                return Lookup::Large(path, meta);
            }
            match load(&path, &meta, injection.as_ref()) {
                Some(c) => Lookup::Found(Arc::new(c)),
                None => Lookup::Missing,
            }
        })
        .await
        .unwrap_or(Lookup::Missing);
        if let Lookup::Found(c) = &loaded {
            let size = c.body.len() as u64;
            if let Ok(mut cache) = self.cache.write() {
                if self.cached_bytes.load(Ordering::Relaxed) + size > MAX_CACHE_BYTES || cache.len() >= 50_000 {
                    cache.clear();
                    self.cached_bytes.store(0, Ordering::Relaxed);
                }
                if let Some(old) = cache.insert(key, c.clone()) {
                    self.cached_bytes.fetch_sub(old.body.len() as u64, Ordering::Relaxed);
                }
                self.cached_bytes.fetch_add(size, Ordering::Relaxed);
            }
        }
        loaded
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Percent-decodes `rel` once and normalises it to `a/b/c`: `.` and empty segments dropped.
///
/// # Errors
/// 403 for `..`, backslashes or NUL (traversal attempts); 404 for hidden segments or bad encoding.
pub fn clean_path(rel: &str) -> Result<String, StatusCode> {
    let decoded = percent_decode_str(rel).decode_utf8().map_err(|_| StatusCode::NOT_FOUND)?;
    if decoded.contains(['\\', '\0']) {
        return Err(StatusCode::FORBIDDEN);
    }
    let mut out = String::with_capacity(decoded.len());
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err(StatusCode::FORBIDDEN),
            s if s.starts_with('.') => return Err(StatusCode::NOT_FOUND),
            s => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(s);
            }
        }
    }
    Ok(out)
}

/// Returns whether the request is a browser navigation (a document load, not an asset).
pub fn is_navigation(method: &Method, headers: &HeaderMap) -> bool {
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    let has = |name: &str, pred: &dyn Fn(&str) -> bool| headers.get(name).and_then(|v| v.to_str().ok()).is_some_and(pred);
    has("accept", &|v| v.contains("text/html"))
        || has("sec-fetch-mode", &|v| v.eq_ignore_ascii_case("navigate"))
        || has("sec-fetch-dest", &|v| v.eq_ignore_ascii_case("document"))
}

/// Returns the `Content-Type` for a file name.
pub fn content_type(path: &Path) -> (HeaderValue, bool) {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let essence = match mime.essence_str() {
        "application/javascript" | "application/x-javascript" => "text/javascript",
        other => other,
    };
    let texty = essence.starts_with("text/")
        || matches!(essence, "application/json" | "application/xml" | "image/svg+xml" | "application/manifest+json" | "application/wasm");
    let value = if essence.starts_with("text/") || essence == "application/json" || essence == "image/svg+xml" {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_owned()
    };
    (HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream")), texty)
}

fn load(path: &Path, meta: &std::fs::Metadata, injection: Option<&Injection>) -> Option<Cached> {
    let raw = std::fs::read(path).ok()?;
    let (content_type, compressible) = content_type(path);
    let is_html = content_type.as_bytes().starts_with(b"text/html");
    let body = match injection {
        Some(inj) if is_html => inj.apply(&raw),
        _ => raw,
    };
    let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
    let modified_secs = mtime.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let nanos = mtime.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let fp = if is_html { injection.map_or(0, Injection::fingerprint) } else { 0 };
    let etag = format!("W/\"{:x}-{nanos:x}-{fp:x}\"", meta.len());
    Some(Cached {
        path: path.to_owned(),
        mtime,
        len: meta.len(),
        checked_ms: AtomicU64::new(now_ms()),
        content_type,
        etag: HeaderValue::from_str(&etag).ok()?,
        last_modified: HeaderValue::from_str(&httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(modified_secs))).ok()?,
        modified_secs,
        body: Bytes::from(body),
        compressible,
        is_html,
        gzip: OnceLock::new(),
        br: OnceLock::new(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
}

/// Picks brotli, then gzip, when `Accept-Encoding` allows them (`q=0` refuses).
fn negotiate(headers: &HeaderMap) -> Option<Encoding> {
    let accept = headers.get(header::ACCEPT_ENCODING)?.to_str().ok()?;
    let mut br = false;
    let mut gzip = false;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()).is_some_and(|q| q <= 0.0)
        });
        if refused {
            continue;
        }
        match name.as_str() {
            "br" => br = true,
            "gzip" | "x-gzip" => gzip = true,
            "*" => {
                br = true;
                gzip = true;
            }
            _ => {}
        }
    }
    if br {
        Some(Encoding::Brotli)
    } else if gzip {
        Some(Encoding::Gzip)
    } else {
        None
    }
}

fn compress(body: &[u8], enc: Encoding) -> Option<Bytes> {
    let out = match enc {
        Encoding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 3), flate2::Compression::new(6));
            e.write_all(body).ok()?;
            e.finish().ok()?
        }
        Encoding::Brotli => {
            let mut out = Vec::with_capacity(body.len() / 3);
            let params = brotli::enc::BrotliEncoderParams { quality: 9, lgwin: 22, ..Default::default() };
            brotli::BrotliCompress(&mut &body[..], &mut out, &params).ok()?;
            out
        }
    };
    (out.len() < body.len()).then(|| Bytes::from(out))
}

fn not_modified(c: &Cached, headers: &HeaderMap) -> bool {
    if let Some(inm) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        let ours = c.etag.to_str().unwrap_or_default().trim_start_matches("W/");
        return inm.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == ours);
    }
    if let Some(ims) = headers.get(header::IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok())
        && let Ok(since) = httpdate::parse_http_date(ims)
    {
        let since = since.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        return c.modified_secs <= since;
    }
    false
}

async fn respond(c: &Arc<Cached>, method: &Method, headers: &HeaderMap) -> Response {
    let enc = if c.compressible && c.body.len() >= MIN_COMPRESS { negotiate(headers) } else { None };
    let mut res = Response::new(Body::empty());
    let h = res.headers_mut();
    h.insert(header::ETAG, c.etag.clone());
    h.insert(header::LAST_MODIFIED, c.last_modified.clone());
    if c.compressible {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if c.is_html {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    if not_modified(c, headers) {
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        return res;
    }
    h.insert(header::CONTENT_TYPE, c.content_type.clone());
    let body = match enc {
        None => c.body.clone(),
        Some(e) => {
            let slot = match e {
                Encoding::Brotli => &c.br,
                Encoding::Gzip => &c.gzip,
            };
            let compressed = match slot.get() {
                Some(v) => v.clone(),
                None => {
                    let src = c.body.clone();
                    let v = tokio::task::spawn_blocking(move || compress(&src, e)).await.ok().flatten();
                    slot.get_or_init(|| v).clone()
                }
            };
            match compressed {
                Some(b) => {
                    let name = if e == Encoding::Brotli { "br" } else { "gzip" };
                    res.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
                    b
                }
                None => c.body.clone(),
            }
        }
    };
    res.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    if method != Method::HEAD {
        *res.body_mut() = Body::from(body);
    }
    res
}

async fn stream(path: &Path, meta: &std::fs::Metadata, method: &Method) -> Response {
    use futures_util::StreamExt;
    use tokio::io::AsyncReadExt;
    let (content_type, _) = content_type(path);
    let mut res = Response::new(Body::empty());
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, content_type);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
    if let Ok(m) = meta.modified()
        && let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(m))
    {
        h.insert(header::LAST_MODIFIED, v);
    }
    if method == Method::HEAD {
        return res;
    }
    let Ok(file) = tokio::fs::File::open(path).await else { return text(StatusCode::NOT_FOUND, "Not Found") };
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), Some(file)))
            }
            // Yield the error once, then end the stream.
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed();
    *res.body_mut() = Body::from_stream(chunks);
    res
}

fn text(status: StatusCode, msg: &'static str) -> Response {
    buntime_core::respond::text(status, msg)
}

#[cfg(test)]
mod tests;
