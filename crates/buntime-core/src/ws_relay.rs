//! Relaying a client's WebSocket upgrade to an upstream on a Unix socket (worker apps, the plugin
//! host): the upstream answers the handshake first, then frames go both ways, message by message,
//! with backpressure and close codes kept.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame as AxumClose, Message as AxumMessage};
use axum::response::IntoResponse;
use futures_util::{SinkExt, StreamExt};
use http::HeaderMap;
use http::header::{self, HeaderName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::websocket::{GOING_AWAY, Socket, WsUpgrade};
use crate::{Request, Response};

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
pub fn is_upgrade(req: &Request) -> bool {
    req.headers().get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Where an upgrade goes: a Unix socket serving HTTP/1.1 with WebSockets (Bun.serve).
#[derive(Debug)]
pub struct UnixUpstream<'a> {
    /// The socket.
    pub socket: &'a Path,
    /// Headers set on the upstream's handshake (after the client's are copied).
    pub headers: HeaderMap,
    /// How long the upstream may take to answer the handshake.
    pub timeout: Duration,
}

/// Why an upgrade could not reach its upstream.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// No handshake answer within the upstream's timeout.
    #[error("no WebSocket handshake answer within {0:?}")]
    Timeout(Duration),
    /// The connection or the handshake failed.
    #[error("WebSocket handshake with the upstream failed: {0}")]
    Handshake(String),
}

/// Opens the socket to the upstream first, then answers the client's upgrade (with the
/// subprotocol the upstream chose) and relays until either side closes. An upstream that does not
/// upgrade (401, 404, …) has its answer passed to the client as it is. `keep` is held until the
/// relay ends (an in-flight guard, say). The socket belongs to the generation that routed `req`.
///
/// # Errors
/// [`RelayError`] when the upstream cannot be reached or its handshake fails.
pub async fn relay_unix<K: Send + 'static>(req: Request, upstream: UnixUpstream<'_>, keep: K) -> Result<Response, RelayError> {
    let (mut parts, _body) = req.into_parts();
    let upgrade = match WsUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    if upgrade.is_full() {
        return Ok(crate::websocket::too_many());
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut handshake = format!("ws://localhost{path}").into_client_request().map_err(|e| RelayError::Handshake(e.to_string()))?;
    for (name, value) in &parts.headers {
        if !OWN_HEADERS.contains(name) {
            handshake.headers_mut().append(name.clone(), value.clone());
        }
    }
    for (name, value) in upstream.headers {
        if let Some(name) = name {
            handshake.headers_mut().insert(name, value);
        }
    }
    let connect = async {
        let stream = UnixStream::connect(upstream.socket).await.map_err(tungstenite::Error::Io)?;
        let config = WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE));
        tokio_tungstenite::client_async_with_config(handshake, stream, Some(config)).await
    };
    let (to_upstream, answer) = match tokio::time::timeout(upstream.timeout, connect).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(tungstenite::Error::Http(res))) => return Ok(refused(*res)),
        Ok(Err(e)) => return Err(RelayError::Handshake(e.to_string())),
        Err(_) => return Err(RelayError::Timeout(upstream.timeout)),
    };
    let mut upgrade = upgrade.max_message_size(MAX_MESSAGE).max_frame_size(MAX_MESSAGE);
    if let Some(chosen) = answer.headers().get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok()) {
        upgrade = upgrade.protocols([Cow::Owned(chosen.to_owned())]);
    }
    Ok(upgrade.on_upgrade(move |client| async move {
        pump(client, to_upstream).await;
        drop(keep);
    }))
}

/// The upstream's answer when it did not upgrade, for the client.
fn refused(res: http::Response<Option<Vec<u8>>>) -> Response {
    let (mut parts, body) = res.into_parts();
    crate::hop::strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, axum::body::Body::from(body.unwrap_or_default()))
}

/// Relays frames between `client` and `upstream` until both sides have closed. Each direction
/// waits for its `send`, so a slow reader slows its writer instead of filling memory. When the
/// client's generation retires, both sides get 1001; when one side vanishes without a close, the
/// other gets 1001 too. Pings are answered on each hop, not relayed.
pub async fn pump<S>(client: Socket, upstream: WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (client, retired, _counted) = client.into_parts();
    let (mut client_tx, mut client_rx) = client.split();
    let (mut upstream_tx, mut upstream_rx) = upstream.split();
    let (mut client_done, mut upstream_done) = (false, false);
    tokio::pin!(retired);
    let mut retiring = false;
    while !(client_done && upstream_done) {
        tokio::select! {
            () = &mut retired, if !retiring => {
                retiring = true;
                let _ = upstream_tx.send(Message::Close(Some(going_away()))).await;
                let _ = client_tx.send(AxumMessage::Close(Some(AxumClose { code: GOING_AWAY, reason: "server going away".into() }))).await;
            }
            msg = client_rx.next(), if !client_done => match msg {
                Some(Ok(msg)) => {
                    let Some(msg) = to_upstream(msg) else { continue };
                    let close = matches!(msg, Message::Close(_));
                    if upstream_tx.send(msg).await.is_err() && !close {
                        upstream_done = true;
                    }
                }
                _ => {
                    client_done = true;
                    let _ = upstream_tx.send(Message::Close(Some(going_away()))).await;
                }
            },
            msg = upstream_rx.next(), if !upstream_done => match msg {
                Some(Ok(msg)) => {
                    if let Some(msg) = to_client(msg) {
                        let _ = client_tx.send(msg).await;
                    }
                }
                _ => {
                    upstream_done = true;
                    let _ = client_tx.send(AxumMessage::Close(Some(AxumClose { code: GOING_AWAY, reason: "the upstream closed the connection".into() }))).await;
                }
            },
            // A peer that never finishes the close handshake does not hold the relay forever.
            () = tokio::time::sleep(Duration::from_secs(5)), if client_done || upstream_done || retiring => break,
        }
    }
}

fn going_away() -> CloseFrame {
    CloseFrame { code: CloseCode::Away, reason: "server going away".into() }
}

/// A client frame for the upstream; pings and pongs are answered on each hop, not relayed.
fn to_upstream(msg: AxumMessage) -> Option<Message> {
    Some(match msg {
        AxumMessage::Text(t) => Message::Text(t.as_str().into()),
        AxumMessage::Binary(b) => Message::Binary(b),
        AxumMessage::Close(frame) => Message::Close(frame.map(|f| CloseFrame { code: CloseCode::from(f.code), reason: f.reason.as_str().into() })),
        AxumMessage::Ping(_) | AxumMessage::Pong(_) => return None,
    })
}

/// An upstream frame for the client.
fn to_client(msg: Message) -> Option<AxumMessage> {
    Some(match msg {
        Message::Text(t) => AxumMessage::Text(t.as_str().into()),
        Message::Binary(b) => AxumMessage::Binary(b),
        Message::Close(frame) => AxumMessage::Close(frame.map(|f| AxumClose { code: u16::from(f.code), reason: f.reason.as_str().into() })),
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return None,
    })
}
