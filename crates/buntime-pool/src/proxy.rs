//! HTTP to a worker's Unix socket: keep-alive connections, streamed bodies both ways.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use buntime_core::{Request, Response};
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

use crate::host::WorkerEnd;
use crate::worker::{InflightGuard, Worker};

/// Why a request did not get a response head from the worker.
#[derive(Debug)]
pub(crate) enum ProxyError {
    /// No response head within the app's timeout.
    Timeout,
    /// The socket refused, or the connection broke (the worker may or may not be alive).
    Broken(String),
    /// The worker ended (or its host died) before it answered.
    Ended(WorkerEnd),
    /// The request body went over the app's limit.
    TooLarge,
}

async fn connect(worker: &Worker) -> Result<SendRequest<Body>, ProxyError> {
    let stream = UnixStream::connect(&worker.socket).await.map_err(|e| ProxyError::Broken(format!("cannot connect to the worker: {e}")))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ProxyError::Broken(format!("handshake with the worker failed: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    worker.conns_opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(sender)
}

/// Sends `req` (path relative to the app) to `worker` and waits up to `timeout` for the head.
pub(crate) async fn send(worker: &Worker, req: Request, timeout: Duration) -> Result<(hyper::Response<Incoming>, SendRequest<Body>), ProxyError> {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    parts.uri = path.parse().unwrap_or_else(|_| http::Uri::from_static("/"));
    parts.version = http::Version::HTTP_11;
    buntime_core::hop::strip_hop_by_hop(&mut parts.headers);
    if !parts.headers.contains_key(header::HOST) {
        parts.headers.insert(header::HOST, HeaderValue::from_static("localhost"));
    }
    if let Ok(base) = HeaderValue::from_str(&worker.spec.base_path) {
        parts.headers.insert("x-base", base);
    }
    let limit = usize::try_from(worker.spec.max_body_bytes).unwrap_or(usize::MAX);
    let mut out = Request::from_parts(parts, Body::new(http_body_util::Limited::new(body, limit)));

    let attempt = async {
        // A pooled connection may have been closed by the worker meanwhile: if the request was
        // not sent, it comes back and goes out on a fresh connection.
        while let Some(mut conn) = worker.take_conn() {
            if tokio::time::timeout(Duration::from_millis(50), conn.ready()).await.is_err() {
                continue;
            }
            match conn.try_send_request(out).await {
                Ok(res) => return Ok((res, conn)),
                Err(mut e) => match e.take_message() {
                    Some(req) => out = req,
                    None => return Err(map_send_error(e.error())),
                },
            }
        }
        let mut conn = connect(worker).await?;
        match conn.send_request(out).await {
            Ok(res) => Ok((res, conn)),
            Err(e) => Err(map_send_error(&e)),
        }
    };
    // A worker thread that dies does not always close its connections, so its end is watched too.
    let mut exit = worker.exit.clone();
    tokio::select! {
        biased;
        end = exit.wait_for(Option::is_some) => {
            let end = end.ok().and_then(|e| e.clone()).unwrap_or_else(|| WorkerEnd::HostDied("worker host exited".to_owned()));
            Err(ProxyError::Ended(end))
        }
        r = tokio::time::timeout(timeout, attempt) => r.unwrap_or(Err(ProxyError::Timeout)),
    }
}

fn map_send_error(e: &hyper::Error) -> ProxyError {
    if buntime_core::body::is_limit_error(e) { ProxyError::TooLarge } else { ProxyError::Broken(format!("connection to the worker failed: {e}")) }
}

/// Runs once when a proxied response body ends, or when whatever holds it is dropped (a cancelled
/// request included).
pub(crate) struct OnEnd(Option<Box<dyn FnOnce() + Send + Sync>>);

impl OnEnd {
    pub(crate) fn new(f: impl FnOnce() + Send + Sync + 'static) -> Self {
        Self(Some(Box::new(f)))
    }
}

impl Drop for OnEnd {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// A worker's response body, streamed through; it keeps its request in flight until it ends, then
/// returns the connection for reuse.
pub(crate) struct ProxyBody {
    inner: Incoming,
    exited: Pin<Box<dyn Future<Output = ()> + Send + Sync>>,
    conn: Option<SendRequest<Body>>,
    guard: Option<InflightGuard>,
    on_end: Option<OnEnd>,
}

impl std::fmt::Debug for ProxyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyBody").finish_non_exhaustive()
    }
}

impl ProxyBody {
    fn finish(&mut self, complete: bool) {
        if let Some(conn) = self.conn.take()
            && complete
                && let Some(g) = &self.guard {
                    g.worker().put_conn(conn);
                }
        self.guard.take();
        self.on_end.take();
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        let complete = self.inner.is_end_stream();
        self.finish(complete);
    }
}

impl http_body::Body for ProxyBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                self.finish(true);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                self.finish(false);
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(Some(Ok(frame))) => {
                // Servers stop polling once `is_end_stream` says so: the connection is reusable now.
                if self.inner.is_end_stream() {
                    self.finish(true);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                // The worker died mid-body (its connection may stay open): end the stream with an error.
                if self.exited.as_mut().poll(cx).is_ready() {
                    self.finish(false);
                    return Poll::Ready(Some(Err("the worker exited while streaming its response".into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Turns the worker's response into the client's: hop-by-hop headers dropped, every other header
/// (repeated `Set-Cookie` included) kept, the body streamed.
pub(crate) fn into_response(res: hyper::Response<Incoming>, conn: SendRequest<Body>, guard: InflightGuard, on_end: Option<OnEnd>) -> Response {
    let (mut parts, inner) = res.into_parts();
    buntime_core::hop::strip_hop_by_hop(&mut parts.headers);
    let empty = inner.is_end_stream();
    let mut exit = guard.worker().exit.clone();
    let exited = Box::pin(async move {
        let _ = exit.wait_for(Option::is_some).await;
    });
    let mut body = ProxyBody { inner, exited, conn: Some(conn), guard: Some(guard), on_end };
    if empty {
        body.finish(true);
    }
    Response::from_parts(parts, Body::new(body))
}
