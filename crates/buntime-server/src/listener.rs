//! The accept loop: HTTP/1 and HTTP/2 connections with read timeouts, the client's address on
//! every request, a lingering close (see [`crate::linger`]), and a graceful close of every
//! connection on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use buntime_core::{ClientAddr, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use crate::linger::Lingering;

/// How long an idle HTTP/2 connection may go without answering a ping before it is closed.
const H2_PING: Duration = Duration::from_secs(20);

/// Per-connection limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    /// Time for a request head, from the connection's start or the end of the previous
    /// response; hyper closes the connection when it passes (so it is the keep-alive idle
    /// timeout too).
    pub(crate) header_read_timeout: Duration,
}

/// Serves `service` on `listener` until `stop` resolves, then stops accepting, asks every open
/// connection to close after its in-flight requests, and waits for them.
pub(crate) async fn serve<S, F>(listener: TcpListener, service: S, limits: ConnLimits, stop: impl Future<Output = ()>)
where
    S: tower::Service<http::Request<Body>, Response = Response, Error = Infallible, Future = F> + Clone + Send + 'static,
    F: Future<Output = Result<Response, Infallible>> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(H2_PING))
        .keep_alive_timeout(H2_PING)
        .enable_connect_protocol();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    if !is_connection_error(&e) {
                        tracing::error!(error = %e, "Accepting a connection failed; retrying in 1 s.");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let per_request = tower::service_fn(move |mut req: http::Request<Incoming>| {
            req.extensions_mut().insert(ClientAddr(peer));
            service.clone().oneshot(req.map(Body::new))
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let head_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            // hyper's header timer starts only once the protocol is known: bound that wait too.
            if !protocol_bytes_arrive(&stream, head_timeout).await {
                return;
            }
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(Lingering::new(stream)), TowerToHyperService::new(per_request));
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::trace!(error = %e, %peer, "Connection ended with an error.");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Waits until the client has sent enough to tell HTTP/1 from HTTP/2 (a byte that departs from
/// the HTTP/2 preface, or the whole preface); `false` when it closes or `within` passes first.
async fn protocol_bytes_arrive(stream: &tokio::net::TcpStream, within: Duration) -> bool {
    const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let wait = async {
        let mut buf = [0u8; H2_PREFACE.len()];
        loop {
            match stream.peek(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) if n == H2_PREFACE.len() || buf[..n] != H2_PREFACE[..n] => return true,
                // Part of the preface: `peek` would answer at once again, so wait a little.
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    };
    tokio::time::timeout(within, wait).await.unwrap_or(false)
}

/// Errors of one connection that say nothing about the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(e.kind(), K::ConnectionRefused | K::ConnectionAborted | K::ConnectionReset)
}
