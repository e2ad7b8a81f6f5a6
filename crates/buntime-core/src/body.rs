//! Body helpers: the size limit check, a request body that fails when its client goes silent, and
//! a body wrapper that holds a generation's in-flight guard until the response has been fully sent.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http::HeaderMap;
use http_body::{Frame, SizeHint};

use crate::generation::InflightGuard;

/// Returns whether `Content-Length` says the body is larger than `limit` (or is unreadable).
pub fn declared_too_large(headers: &HeaderMap, limit: u64) -> bool {
    match headers.get(http::header::CONTENT_LENGTH) {
        None => false,
        Some(v) => match v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) {
            Some(n) => n > limit,
            None => true,
        },
    }
}

/// Returns whether the request may carry a body (a length above zero, or chunked).
pub fn has_body(headers: &HeaderMap) -> bool {
    match headers.get(http::header::CONTENT_LENGTH) {
        Some(v) => v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()).is_none_or(|n| n > 0),
        None => headers.contains_key(http::header::TRANSFER_ENCODING),
    }
}

/// Caps a body at `limit` bytes; reading past it fails with a length-limit error that axum's
/// extractors turn into 413.
pub fn limited(body: Body, limit: u64) -> Body {
    Body::new(http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)))
}

/// Returns whether `err`, or an error it wraps, is the length-limit failure of a body capped by
/// [`limited`] (read past its limit while being buffered or forwarded).
pub fn is_limit_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(e) = source {
        // hyper and axum wrap it; some wrappers keep only its message.
        if e.is::<http_body_util::LengthLimitError>() || e.to_string().contains("length limit") {
            return true;
        }
        source = e.source();
    }
    false
}

/// The error a body wrapped by [`idle_timeout`] fails with once its client stops sending.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the client sent no request body data for {0:?}")]
pub struct BodyTimeout(pub std::time::Duration);

/// Fails `body` with [`BodyTimeout`] when no frame arrives for `timeout`, so a client that
/// announces a body and goes silent frees its handler, its buffers and its upload slot.
pub fn idle_timeout(body: Body, timeout: std::time::Duration) -> Body {
    Body::new(IdleTimeoutBody { inner: body, timeout, sleep: Box::pin(tokio::time::sleep(timeout)) })
}

/// Returns whether `err`, or an error it wraps, is a [`BodyTimeout`].
pub fn is_timeout_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(e) = source {
        if e.is::<BodyTimeout>() || e.to_string().starts_with("the client sent no request body data") {
            return true;
        }
        source = e.source();
    }
    false
}

struct IdleTimeoutBody {
    inner: Body,
    timeout: std::time::Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for IdleTimeoutBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = tokio::time::Instant::now() + self.timeout;
                self.sleep.as_mut().reset(deadline);
                Poll::Ready(frame)
            }
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimeout(self.timeout))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Resolves when the response's generation is replaced.
type Replaced = Pin<Box<dyn std::future::Future<Output = ()> + Send + Sync>>;

/// A response body that keeps its generation "in flight" until it ends or is dropped; an
/// event stream also ends when its generation is replaced.
pub struct GuardedBody {
    inner: Body,
    _guard: InflightGuard,
    /// Some for `text/event-stream` answers. An SSE stream never ends by itself, so without this
    /// it would hold its retired generation (plugins already shut down) until the drain grace
    /// ran out; ending it lets the browser's EventSource reconnect to the new generation at once.
    replaced: Option<Replaced>,
}

impl std::fmt::Debug for GuardedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedBody").field("ends_when_replaced", &self.replaced.is_some()).finish_non_exhaustive()
    }
}

impl GuardedBody {
    /// Wraps `inner`, holding `guard` for as long as the body lives.
    pub fn new(inner: Body, guard: InflightGuard) -> Self {
        Self { inner, _guard: guard, replaced: None }
    }

    /// Like [`GuardedBody::new`], and ends the body cleanly once `replaced` resolves.
    pub fn ending_when(inner: Body, guard: InflightGuard, replaced: impl std::future::Future<Output = ()> + Send + Sync + 'static) -> Self {
        Self { inner, _guard: guard, replaced: Some(Box::pin(replaced)) }
    }
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(replaced) = self.replaced.as_mut()
            && replaced.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(None);
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.replaced.is_some() {
            // It may end early: never promise a length.
            return SizeHint::default();
        }
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn declared_lengths_over_the_limit_or_unreadable_are_too_large() {
        assert!(!declared_too_large(&headers(&[]), 10));
        assert!(!declared_too_large(&headers(&[("content-length", "10")]), 10));
        assert!(declared_too_large(&headers(&[("content-length", "11")]), 10));
        assert!(declared_too_large(&headers(&[("content-length", "-1")]), 10));
        assert!(declared_too_large(&headers(&[("content-length", "lots")]), 10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_body_fails_with_a_timeout_and_a_steady_one_does_not() {
        use http_body_util::BodyExt as _;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) });
        let body = idle_timeout(Body::from_stream(stream), std::time::Duration::from_secs(5));
        let reader = tokio::spawn(async move { body.collect().await });
        for _ in 0..4 {
            tokio::time::sleep(std::time::Duration::from_secs(4)).await;
            tx.send(Ok(Bytes::from_static(b"x"))).await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_secs(6)).await;
        let err = reader.await.unwrap().unwrap_err();
        assert!(is_timeout_error(&err), "{err}");
    }

    #[test]
    fn bodies_are_detected_by_length_or_chunking() {
        assert!(!has_body(&headers(&[])));
        assert!(!has_body(&headers(&[("content-length", "0")])));
        assert!(has_body(&headers(&[("content-length", "3")])));
        assert!(has_body(&headers(&[("transfer-encoding", "chunked")])));
    }
}
