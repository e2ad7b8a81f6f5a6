//! Plugin routes over HTTP: pooled keep-alive hyper connections to the host's `Bun.serve` socket,
//! each driven by the task that uses it (no connection task, no hop between tasks per request).

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use buntime_core::{Request, Response};
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// The request header naming the plugin whose `routes.fetch` answers; the host strips it.
pub(crate) const PLUGIN_HEADER: &str = "x-buntime-plugin";
/// The response header the host sets on the 500 it makes when a route threw.
pub(crate) const ROUTE_ERROR_HEADER: &str = "x-buntime-route-error";
/// Idle connections kept per host; more are closed when they finish.
const MAX_IDLE: usize = 512;

/// Why a route request got no response head from the host.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    /// The socket refused or the connection broke (the host died or is restarting).
    #[error("the plugin host is unreachable: {0}")]
    Broken(String),
    /// No response head in time.
    #[error("the plugin host did not answer within {}ms", .0.as_millis())]
    Timeout(Duration),
    /// The request body went over its limit while being sent.
    #[error("the request body is too large")]
    TooLarge,
}

/// The HTTP side of one host process: its socket and the idle connections to it.
#[derive(Debug)]
pub(crate) struct RouteLink {
    path: PathBuf,
    idle: Mutex<Vec<Pooled>>,
}

/// One keep-alive connection: its sender and the connection state machine, which whoever uses
/// the connection polls (waiting for a head, or streaming the body).
struct Pooled {
    tx: SendRequest<Body>,
    conn: Pin<Box<Connection<TokioIo<UnixStream>, Body>>>,
    ended: bool,
}

impl std::fmt::Debug for Pooled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pooled").field("ended", &self.ended).finish_non_exhaustive()
    }
}

impl Pooled {
    /// Makes progress on the connection's I/O; returns false once it has ended.
    fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.ended && self.conn.as_mut().poll(cx).is_ready() {
            self.ended = true;
        }
        !self.ended
    }
}

fn send_error(e: &hyper::Error) -> LinkError {
    if buntime_core::body::is_limit_error(e) { LinkError::TooLarge } else { LinkError::Broken(e.to_string()) }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means a holder panicked; a list of connections stays consistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RouteLink {
    /// A link to the host serving HTTP at `path`; connections open on demand.
    pub(crate) fn new(path: PathBuf) -> Arc<Self> {
        Arc::new(Self { path, idle: Mutex::default() })
    }

    /// Returns the socket path.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn take(&self) -> Option<Pooled> {
        lock(&self.idle).pop()
    }

    fn put(&self, conn: Pooled) {
        if conn.ended || conn.tx.is_closed() {
            return;
        }
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    async fn connect(&self) -> Result<Pooled, LinkError> {
        let stream = UnixStream::connect(&self.path).await.map_err(|e| LinkError::Broken(format!("cannot connect: {e}")))?;
        let (tx, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| LinkError::Broken(format!("handshake failed: {e}")))?;
        Ok(Pooled { tx, conn: Box::pin(conn), ended: false })
    }

    /// Sends `req` on `p`, driving the connection until the response head arrives.
    async fn exchange(p: &mut Pooled, req: Request) -> Result<hyper::Response<Incoming>, hyper::client::conn::TrySendError<Request>> {
        let mut fut = std::pin::pin!(p.tx.try_send_request(req));
        std::future::poll_fn(|cx| {
            // A connection that ended fails the request through its dropped dispatcher.
            p.drive(cx);
            fut.as_mut().poll(cx)
        })
        .await
    }

    /// Waits until `p` can take a request; false when it ended meanwhile.
    async fn ready(p: &mut Pooled) -> bool {
        std::future::poll_fn(|cx| {
            let alive = p.drive(cx);
            match p.tx.poll_ready(cx) {
                Poll::Ready(r) => Poll::Ready(r.is_ok() && alive),
                Poll::Pending if alive => Poll::Pending,
                Poll::Pending => Poll::Ready(false),
            }
        })
        .await
    }

    /// Sends `req` (origin-form URI, already addressed to the plugin) and returns the host's
    /// response with its body streamed, or why there is none within `timeout`.
    pub(crate) async fn send(self: &Arc<Self>, req: Request, timeout: Duration) -> Result<Response, LinkError> {
        let attempt = async {
            let mut out = req;
            // A pooled connection may have been closed meanwhile: an unsent request comes back and
            // goes out on the next one, or on a fresh connection.
            while let Some(mut conn) = self.take() {
                if !Self::ready(&mut conn).await {
                    continue;
                }
                match Self::exchange(&mut conn, out).await {
                    Ok(res) => return Ok((res, conn)),
                    Err(mut e) => match e.take_message() {
                        Some(req) => out = req,
                        None => return Err(send_error(e.error())),
                    },
                }
            }
            let mut conn = self.connect().await?;
            match Self::exchange(&mut conn, out).await {
                Ok(res) => Ok((res, conn)),
                Err(e) => Err(send_error(e.error())),
            }
        };
        let (res, conn) = tokio::time::timeout(timeout, attempt).await.map_err(|_| LinkError::Timeout(timeout))??;
        let (mut parts, inner) = res.into_parts();
        buntime_core::hop::strip_hop_by_hop(&mut parts.headers);
        let mut body = LinkBody { inner, conn: Some(conn), link: self.clone() };
        if body.inner.is_end_stream() {
            body.finish(true);
        }
        Ok(Response::from_parts(parts, Body::new(body)))
    }
}

/// Prepares a base-stripped route request for the host: origin-form URI, HTTP/1.1, no hop-by-hop
/// headers, a valid `Host` (the JS `Request.url` is built from it) and the plugin header.
pub(crate) fn route_request(req: Request, plugin: &HeaderValue) -> Request {
    let (mut parts, body) = req.into_parts();
    let host_ok = parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()).is_some_and(|h| !h.is_empty() && h.parse::<http::uri::Authority>().is_ok());
    if !host_ok {
        let authority = parts.uri.authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok()).unwrap_or(HeaderValue::from_static("localhost"));
        parts.headers.insert(header::HOST, authority);
    }
    if parts.uri.scheme().is_some() {
        let pq = parts.uri.path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
        parts.uri = pq.parse().unwrap_or_else(|_| http::Uri::from_static("/"));
    }
    parts.version = http::Version::HTTP_11;
    buntime_core::hop::strip_hop_by_hop(&mut parts.headers);
    parts.headers.insert(PLUGIN_HEADER, plugin.clone());
    Request::from_parts(parts, body)
}

/// A route's response body, streamed through; the connection goes back to the pool when it ends.
struct LinkBody {
    inner: Incoming,
    conn: Option<Pooled>,
    link: Arc<RouteLink>,
}

impl LinkBody {
    fn finish(&mut self, complete: bool) {
        // An incomplete exchange leaves the connection mid-message: dropping it closes it.
        if let Some(conn) = self.conn.take()
            && complete
        {
            self.link.put(conn);
        }
    }
}

impl Drop for LinkBody {
    fn drop(&mut self) {
        let complete = self.inner.is_end_stream();
        self.finish(complete);
    }
}

impl http_body::Body for LinkBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        // The body arrives through the connection: keep it moving from this task.
        if let Some(conn) = self.conn.as_mut() {
            conn.drive(cx);
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.finish(true),
            Poll::Ready(Some(Err(_))) => self.finish(false),
            // Servers stop polling once `is_end_stream` says so: the connection is reusable now.
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.finish(true),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_request_is_origin_form_with_a_valid_host_and_the_plugin_header_overrides_the_clients() {
        let req = http::Request::builder()
            .uri("http://example.test:8000/api/x?q=1")
            .header("connection", "keep-alive, x-private")
            .header("x-private", "1")
            .header(PLUGIN_HEADER, "someone-else")
            .header("host", "bad host")
            .body(Body::empty())
            .unwrap();
        let out = route_request(req, &HeaderValue::from_static("hello"));
        assert_eq!(out.uri(), "/api/x?q=1");
        assert_eq!(out.headers()["host"], "example.test:8000");
        assert_eq!(out.headers()[PLUGIN_HEADER], "hello");
        assert_eq!(out.headers().get_all(PLUGIN_HEADER).iter().count(), 1);
        assert!(!out.headers().contains_key("connection") && !out.headers().contains_key("x-private"));
    }

    #[tokio::test]
    async fn a_missing_socket_fails_fast_as_broken() {
        let link = RouteLink::new(PathBuf::from("/nonexistent/buntime-route.sock"));
        let req = http::Request::builder().uri("/").header("host", "localhost").body(Body::empty()).unwrap();
        let err = link.send(req, Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(err, LinkError::Broken(_)), "{err}");
    }
}
