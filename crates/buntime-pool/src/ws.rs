//! WebSockets to worker apps: the worker's `server.upgrade()` answers the handshake first, then
//! frames are relayed both ways, message by message, with backpressure and close codes kept.

use std::borrow::Cow;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame as AxumClose, Message as AxumMessage, WebSocket};
use axum::response::IntoResponse;
use buntime_core::websocket::{GOING_AWAY, WsUpgrade};
use buntime_core::{Request, Response};
use futures_util::{SinkExt, StreamExt};
use http::header::{self, HeaderName};
use tokio::net::UnixStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::error::DispatchError;
use crate::proxy::OnEnd;
use crate::worker::InflightGuard;

/// Largest message relayed either way (a frame over it closes the socket with 1009).
const MAX_MESSAGE: usize = 16 << 20;

/// Headers the handshake to the worker makes itself, or that describe only the client's hop.
const OWN_HEADERS: &[HeaderName] = &[
    header::HOST,
    header::CONNECTION,
    header::UPGRADE,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_EXTENSIONS,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
];

/// Returns whether `req` asks to become a WebSocket.
pub(crate) fn is_upgrade(req: &Request) -> bool {
    req.headers().get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Opens the socket to the worker (waiting up to `timeout` for its answer), then answers the
/// client's upgrade and relays until either side closes. A worker that does not upgrade (401,
/// 404, …) has its answer passed to the client as it is. The worker stays in flight (so it is not
/// recycled under the socket) until the relay ends.
pub(crate) async fn relay(guard: InflightGuard, on_end: Option<OnEnd>, req: Request, timeout: Duration) -> Response {
    let worker = guard.worker().clone();
    let (mut parts, _body) = req.into_parts();
    let upgrade = match WsUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut handshake = match format!("ws://localhost{path}").into_client_request() {
        Ok(r) => r,
        Err(e) => return DispatchError::BadResponse { app: worker.spec.key.clone(), reason: format!("cannot build the upgrade request: {e}").into() }.to_response(),
    };
    for (name, value) in &parts.headers {
        if !OWN_HEADERS.contains(name) {
            handshake.headers_mut().append(name.clone(), value.clone());
        }
    }
    if let Ok(base) = http::HeaderValue::from_str(&worker.spec.base_path) {
        handshake.headers_mut().insert("x-base", base);
    }
    let connect = async {
        let stream = UnixStream::connect(&worker.socket).await.map_err(tungstenite::Error::Io)?;
        let config = WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE));
        tokio_tungstenite::client_async_with_config(handshake, stream, Some(config)).await
    };
    let (to_worker, answer) = match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(tungstenite::Error::Http(res))) => return refused(*res),
        Ok(Err(e)) => return DispatchError::BadResponse { app: worker.spec.key.clone(), reason: format!("WebSocket handshake with the worker failed: {e}").into() }.to_response(),
        Err(_) => return DispatchError::Timeout(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)).to_response(),
    };
    let mut upgrade = upgrade.max_message_size(MAX_MESSAGE).max_frame_size(MAX_MESSAGE);
    if let Some(chosen) = answer.headers().get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok()) {
        upgrade = upgrade.protocols([Cow::Owned(chosen.to_owned())]);
    }
    upgrade.on_upgrade(move |client| async move {
        let (client, retired, _socket) = client.into_parts();
        pump(client, to_worker, retired).await;
        drop(guard);
        drop(on_end);
    })
}

/// The worker's answer when it did not upgrade, for the client.
fn refused(res: http::Response<Option<Vec<u8>>>) -> Response {
    let (mut parts, body) = res.into_parts();
    buntime_core::hop::strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, axum::body::Body::from(body.unwrap_or_default()))
}

/// Relays frames until both sides have closed. Each direction waits for its `send`, so a slow
/// reader slows its writer instead of filling memory. When the generation retires, both sides get
/// 1001; when one side vanishes without a close, the other gets 1001 too.
async fn pump(client: WebSocket, worker: WebSocketStream<UnixStream>, retired: impl std::future::Future<Output = ()>) {
    let (mut client_tx, mut client_rx) = client.split();
    let (mut worker_tx, mut worker_rx) = worker.split();
    let (mut client_done, mut worker_done) = (false, false);
    tokio::pin!(retired);
    let mut retiring = false;
    while !(client_done && worker_done) {
        tokio::select! {
            () = &mut retired, if !retiring => {
                retiring = true;
                let _ = worker_tx.send(Message::Close(Some(going_away()))).await;
                let _ = client_tx.send(AxumMessage::Close(Some(AxumClose { code: GOING_AWAY, reason: "server going away".into() }))).await;
            }
            msg = client_rx.next(), if !client_done => match msg.and_then(Result::ok).and_then(to_worker) {
                Some(msg) => {
                    let close = matches!(msg, Message::Close(_));
                    if worker_tx.send(msg).await.is_err() && !close {
                        worker_done = true;
                    }
                }
                None => {
                    client_done = true;
                    let _ = worker_tx.send(Message::Close(Some(going_away()))).await;
                }
            },
            msg = worker_rx.next(), if !worker_done => match msg {
                Some(Ok(msg)) => {
                    if let Some(msg) = to_client(msg) {
                        let _ = client_tx.send(msg).await;
                    }
                }
                _ => {
                    worker_done = true;
                    let _ = client_tx.send(AxumMessage::Close(Some(AxumClose { code: GOING_AWAY, reason: "the app closed the connection".into() }))).await;
                }
            },
            // A peer that never finishes the close handshake does not hold the relay forever.
            () = tokio::time::sleep(Duration::from_secs(5)), if client_done || worker_done || retiring => break,
        }
    }
}

fn going_away() -> CloseFrame {
    CloseFrame { code: CloseCode::Away, reason: "server going away".into() }
}

/// A client frame for the worker; pings and pongs are answered on each hop, not relayed.
fn to_worker(msg: AxumMessage) -> Option<Message> {
    Some(match msg {
        AxumMessage::Text(t) => Message::Text(t.as_str().into()),
        AxumMessage::Binary(b) => Message::Binary(b),
        AxumMessage::Close(frame) => Message::Close(frame.map(|f| CloseFrame { code: CloseCode::from(f.code), reason: f.reason.as_str().into() })),
        AxumMessage::Ping(_) | AxumMessage::Pong(_) => return None,
    })
}

/// A worker frame for the client.
fn to_client(msg: Message) -> Option<AxumMessage> {
    Some(match msg {
        Message::Text(t) => AxumMessage::Text(t.as_str().into()),
        Message::Binary(b) => AxumMessage::Binary(b),
        Message::Close(frame) => AxumMessage::Close(frame.map(|f| AxumClose { code: u16::from(f.code), reason: f.reason.as_str().into() })),
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return None,
    })
}
