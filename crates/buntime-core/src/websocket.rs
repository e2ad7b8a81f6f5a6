//! WebSockets that belong to a generation: counted while open, closed with 1001 when it retires.
//!
//! A socket outlives the request that opened it, so the generation's in-flight count (which ends
//! with the `101`) cannot see it. [`WsUpgrade`] replaces axum's `WebSocketUpgrade` in a plugin's
//! routes: the socket it hands over is tracked by the generation that served the upgrade, keeps
//! working across reloads, and says goodbye with [`GOING_AWAY`] when that generation retires
//! (after the drain grace) or the runtime stops.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use http::HeaderValue;
use http::request::Parts;
use tokio::sync::{Notify, watch};

/// The close code sent when a generation retires or the runtime stops (RFC 6455 "going away").
pub const GOING_AWAY: u16 = 1001;

/// A cap on the sockets one runtime keeps open at once, over all its generations
/// (`RUNTIME_MAX_WEBSOCKETS`): an upgrade over it is answered 503, so a flood of connections
/// cannot take every file descriptor and the memory of their buffers.
#[derive(Debug)]
pub struct SocketLimit {
    open: AtomicUsize,
    max: usize,
}

impl SocketLimit {
    /// A limit of `max` open sockets.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self { open: AtomicUsize::new(0), max })
    }

    /// Returns how many sockets are open under this limit.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    fn try_take(&self) -> bool {
        self.open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max).then_some(n + 1)).is_ok()
    }

    fn release(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug)]
struct ScopeInner {
    closing: watch::Sender<bool>,
    open: AtomicUsize,
    idle: Notify,
    limit: Option<Arc<SocketLimit>>,
}

/// The open sockets of one generation, and the switch that closes them.
///
/// The pipeline puts the serving generation's scope into every request routed to a plugin, where
/// [`WsUpgrade`] finds it.
#[derive(Debug, Clone)]
pub struct SocketScope {
    inner: Arc<ScopeInner>,
}

impl Default for SocketScope {
    fn default() -> Self {
        Self::new(None)
    }
}

impl SocketScope {
    fn new(limit: Option<Arc<SocketLimit>>) -> Self {
        Self { inner: Arc::new(ScopeInner { closing: watch::channel(false).0, open: AtomicUsize::new(0), idle: Notify::new(), limit }) }
    }

    /// A scope whose sockets count against the runtime's `limit`.
    pub fn limited(limit: Arc<SocketLimit>) -> Self {
        Self::new(Some(limit))
    }

    /// Counts one socket open until the guard drops; `None` when the runtime's limit is reached.
    pub fn track(&self) -> Option<SocketGuard> {
        if let Some(limit) = &self.inner.limit
            && !limit.try_take()
        {
            return None;
        }
        self.inner.open.fetch_add(1, Ordering::AcqRel);
        Some(SocketGuard { scope: self.clone() })
    }

    /// Returns whether the runtime's limit leaves no room for another socket.
    pub fn is_full(&self) -> bool {
        self.inner.limit.as_ref().is_some_and(|l| l.open() >= l.max)
    }

    /// Returns how many sockets are open.
    pub fn open(&self) -> usize {
        self.inner.open.load(Ordering::Acquire)
    }

    /// Tells every socket to close with [`GOING_AWAY`]; sockets opened later close at once.
    pub fn close_all(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Returns whether [`Self::close_all`] was called.
    pub fn is_closing(&self) -> bool {
        *self.inner.closing.borrow()
    }

    /// Resolves once [`Self::close_all`] is called: what a handler that splits its socket selects on.
    pub fn closing(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.inner.closing.subscribe();
        async move {
            // The sender lives as long as `rx`'s scope; an error cannot happen while we wait.
            let _ = rx.wait_for(|closing| *closing).await.map(|_| ());
        }
    }

    /// Waits until no socket is open, or `timeout` passes. Returns whether all closed.
    pub async fn wait_closed(&self, timeout: Duration) -> bool {
        let wait = async {
            loop {
                let idle = self.inner.idle.notified();
                if self.open() == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}

/// Keeps a socket counted as open until dropped.
#[derive(Debug)]
pub struct SocketGuard {
    scope: SocketScope,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        if let Some(limit) = &self.scope.inner.limit {
            limit.release();
        }
        if self.scope.inner.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.scope.inner.idle.notify_waiters();
        }
    }
}

/// axum's `WebSocketUpgrade`, tied to the generation that serves the request.
///
/// Use it in a plugin's routes where axum's extractor would go:
/// `get(|ws: WsUpgrade| async move { ws.on_upgrade(echo) })`. Outside the runtime (a router
/// driven directly by a test) the socket gets a scope of its own that never closes.
#[derive(Debug)]
pub struct WsUpgrade {
    upgrade: WebSocketUpgrade,
    scope: SocketScope,
}

impl<S: Send + Sync> FromRequestParts<S> for WsUpgrade {
    type Rejection = <WebSocketUpgrade as FromRequestParts<S>>::Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let scope = parts.extensions.get::<SocketScope>().cloned().unwrap_or_default();
        let upgrade = WebSocketUpgrade::from_request_parts(parts, state).await?;
        Ok(Self { upgrade, scope })
    }
}

impl WsUpgrade {
    /// Takes the upgrade out of a request an `on_request` hook holds, so the hook can answer
    /// `Flow::Respond(ws.on_upgrade(…))`. The request keeps everything else.
    ///
    /// # Errors
    /// axum's rejection (as a response to answer) when `req` is not a valid upgrade.
    pub async fn from_request(req: &mut crate::Request) -> Result<Self, Response> {
        use axum::response::IntoResponse;
        let (mut parts, body) = std::mem::take(req).into_parts();
        let got = Self::from_request_parts(&mut parts, &()).await;
        *req = crate::Request::from_parts(parts, body);
        got.map_err(IntoResponse::into_response)
    }

    /// The subprotocols the server supports, in preference order (axum's `protocols`).
    #[must_use]
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<std::borrow::Cow<'static, str>>,
    {
        self.upgrade = self.upgrade.protocols(protocols);
        self
    }

    /// The largest message accepted (axum's `max_message_size`).
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.upgrade = self.upgrade.max_message_size(bytes);
        self
    }

    /// The largest frame accepted (axum's `max_frame_size`).
    #[must_use]
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.upgrade = self.upgrade.max_frame_size(bytes);
        self
    }

    /// The subprotocol the handshake will select, if any.
    pub fn selected_protocol(&self) -> Option<&HeaderValue> {
        self.upgrade.selected_protocol()
    }

    /// Returns whether the runtime's socket limit is reached (`on_upgrade` would answer 503):
    /// a relay checks it before it opens its upstream.
    pub fn is_full(&self) -> bool {
        self.scope.is_full()
    }

    /// Answers `101` and runs `handler` with the socket once the connection is upgraded; answers
    /// 503 JSON (`TOO_MANY_WEBSOCKETS`, `Retry-After: 5`) when the runtime's limit is reached.
    pub fn on_upgrade<F, Fut>(self, handler: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        // Counted from the 101 on, so a generation retiring right after sees the socket. If the
        // upgrade fails the closure is dropped, and the guard with it.
        let Some(guard) = self.scope.track() else {
            return too_many();
        };
        let closing = self.scope.inner.closing.subscribe();
        self.upgrade.on_upgrade(move |inner| handler(Socket { inner, closing, closed: false, _guard: guard }))
    }
}

/// The answer to an upgrade over the runtime's socket limit.
pub fn too_many() -> Response {
    let mut res = crate::respond::json_error(
        http::StatusCode::SERVICE_UNAVAILABLE,
        "TOO_MANY_WEBSOCKETS",
        "this runtime has as many WebSockets open as RUNTIME_MAX_WEBSOCKETS allows; try again shortly",
    );
    res.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
    res
}

/// A WebSocket that closes itself with [`GOING_AWAY`] when its generation retires.
///
/// `recv` and `send` behave as axum's; once the generation retires, the next (or the pending)
/// `recv` sends the close frame and returns `None`, and `send` fails after sending it.
#[derive(Debug)]
pub struct Socket {
    inner: WebSocket,
    closing: watch::Receiver<bool>,
    closed: bool,
    _guard: SocketGuard,
}

impl Socket {
    /// Receives the next message; `None` once the peer is gone or the generation retired.
    pub async fn recv(&mut self) -> Option<Result<Message, axum::Error>> {
        if self.closed {
            return None;
        }
        let closing = &mut self.closing;
        let inner = &mut self.inner;
        let received = tokio::select! {
            biased;
            retired = async { closing.wait_for(|c| *c).await.is_ok() } => if retired { None } else { std::future::pending().await },
            msg = inner.recv() => Some(msg),
        };
        match received {
            Some(msg) => msg,
            None => {
                self.going_away().await;
                None
            }
        }
    }

    /// Sends a message; after the generation retired, sends the close frame instead and fails.
    ///
    /// # Errors
    /// Returns axum's error when the connection is gone, or when the generation retired.
    pub async fn send(&mut self, msg: Message) -> Result<(), axum::Error> {
        if *self.closing.borrow() || self.closed {
            self.going_away().await;
            return Err(axum::Error::new(std::io::Error::other("the generation serving this socket retired")));
        }
        self.inner.send(msg).await
    }

    /// The subprotocol selected by the handshake, if any.
    pub fn protocol(&self) -> Option<&HeaderValue> {
        self.inner.protocol()
    }

    /// Splits off the raw socket for handlers that read and write at once (relays). They must
    /// close with [`GOING_AWAY`] when `retired` resolves, and keep the guard until they end.
    pub fn into_parts(self) -> (WebSocket, impl Future<Output = ()> + Send + 'static, SocketGuard) {
        let mut closing = self.closing;
        let retired = async move {
            if closing.wait_for(|c| *c).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        (self.inner, retired, self._guard)
    }

    async fn going_away(&mut self) {
        if !self.closed {
            self.closed = true;
            let frame = CloseFrame { code: GOING_AWAY, reason: "server going away".into() };
            let _ = self.inner.send(Message::Close(Some(frame))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn guards_count_sockets_and_wait_closed_times_out_while_one_is_open() {
        let scope = SocketScope::default();
        let a = scope.track().unwrap();
        let b = scope.track().unwrap();
        assert_eq!(scope.open(), 2);
        assert!(!scope.wait_closed(Duration::from_millis(20)).await);
        drop(a);
        let s2 = scope.clone();
        let waiter = tokio::spawn(async move { s2.wait_closed(Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(b);
        assert!(waiter.await.unwrap());
        assert_eq!(scope.open(), 0);
    }

    #[test]
    fn a_limit_is_shared_by_scopes_and_freed_when_sockets_close() {
        let limit = SocketLimit::new(2);
        let (old, new) = (SocketScope::limited(limit.clone()), SocketScope::limited(limit.clone()));
        let a = old.track().unwrap();
        let b = new.track().unwrap();
        assert!(new.is_full() && old.is_full());
        assert!(new.track().is_none(), "the third socket is over the runtime's limit");
        assert_eq!((limit.open(), old.open(), new.open()), (2, 1, 1));
        drop(a);
        assert!(new.track().is_some(), "a closed socket frees its place");
        drop(b);
        assert_eq!(limit.open(), 0);
    }

    #[tokio::test]
    async fn closing_resolves_after_close_all_even_for_late_subscribers() {
        let scope = SocketScope::default();
        let early = tokio::spawn(scope.closing());
        assert!(!scope.is_closing());
        scope.close_all();
        assert!(scope.is_closing());
        tokio::time::timeout(Duration::from_secs(1), early).await.unwrap().unwrap();
        tokio::time::timeout(Duration::from_secs(1), scope.closing()).await.unwrap();
    }
}
