//! Relaying a WebSocket upgrade to a rule's upstream (`ws`/`wss`): the upstream handshake comes
//! first, then the client gets its `101` and frames flow through the runtime's relay, so the
//! socket belongs to the generation that served it (1001 when it retires).

use std::borrow::Cow;

use buntime_core::websocket::WsUpgrade;
use buntime_core::ws_relay::pump;
use buntime_core::{ClientAddr, Request, Response};
use http::StatusCode;
use http::header::{self, HeaderName};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self};
use tokio_tungstenite::{Connector, client_async_tls_with_config};

use crate::client::Upstreams;
use crate::forward::{Hop, causes, error, upstream_headers};
use crate::rule::Compiled;

/// Largest message relayed either way, as for worker apps (1009 above it).
const MAX_MESSAGE: usize = 16 << 20;

/// Headers the upstream handshake makes itself.
const OWN: &[HeaderName] = &[
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_EXTENSIONS,
    header::CONTENT_LENGTH,
];

/// Opens the upstream socket for `req`, then accepts the client's upgrade and relays frames until
/// both sides close. An upstream that refuses the upgrade has its answer passed on; one that
/// cannot be reached gets a 502 JSON, one that does not answer in time a 504.
pub async fn relay(
    mut req: Request,
    rule: &Compiled,
    upstreams: &Upstreams,
    hop: &Hop,
) -> Response {
    let upgrade = match WsUpgrade::from_request(&mut req).await {
        Ok(u) => u,
        Err(rejection) => return rejection,
    };
    if upgrade.is_full() {
        return buntime_core::websocket::too_many();
    }
    let (mut parts, _body) = req.into_parts();
    let Some(path) = rule.upstream_path(parts.uri.path(), parts.uri.query()) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Proxy error: the rule no longer matches the request path",
        );
    };
    let scheme = if rule.target.tls { "wss" } else { "ws" };
    let url = format!("{scheme}://{}{path}", rule.target.authority);
    let mut handshake = match url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_GATEWAY,
                &format!("Proxy error: invalid upstream URL `{url}`: {e}"),
            );
        }
    };
    let peer = parts.extensions.get::<ClientAddr>().map(|c| c.0.ip());
    upstream_headers(&mut parts.headers, rule, peer, hop);
    // The client's headers (its `Host` unless `changeOrigin`) replace the handshake's defaults;
    // repeated ones stay repeated.
    for name in parts.headers.keys() {
        if !OWN.contains(name) {
            handshake.headers_mut().remove(name);
        }
    }
    for (name, value) in &parts.headers {
        if !OWN.contains(name) {
            handshake.headers_mut().append(name.clone(), value.clone());
        }
    }
    let connect = async {
        let addr = (rule.target.host.as_str(), rule.target.port);
        let tcp = tokio::time::timeout(
            upstreams.connect_timeout(),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        .map_err(|_| {
            tungstenite::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timed out",
            ))
        })?
        .map_err(tungstenite::Error::Io)?;
        let _ = tcp.set_nodelay(true);
        let connector = if rule.target.tls {
            Connector::Rustls(upstreams.tls(rule.rule.secure))
        } else {
            Connector::Plain
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        client_async_tls_with_config(handshake, tcp, Some(config), Some(connector)).await
    };
    let (upstream, answer) = match tokio::time::timeout(hop.timeout, connect).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(tungstenite::Error::Http(res))) => return refused(*res),
        Ok(Err(e)) => {
            tracing::warn!(target = %rule.rule.target, rule = %rule.rule.id, error = %causes(&e), "Proxy WebSocket upstream failed.");
            return error(
                StatusCode::BAD_GATEWAY,
                &format!("Proxy error: {}", causes(&e)),
            );
        }
        Err(_) => {
            return error(
                StatusCode::GATEWAY_TIMEOUT,
                &format!(
                    "Proxy timeout: {} did not answer the WebSocket handshake within {:?}",
                    rule.rule.target, hop.timeout
                ),
            );
        }
    };
    let mut upgrade = upgrade
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE);
    if let Some(chosen) = answer
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
    {
        upgrade = upgrade.protocols([Cow::Owned(chosen.to_owned())]);
    }
    upgrade.on_upgrade(move |client| pump(client, upstream))
}

/// The upstream's answer when it did not upgrade, for the client.
fn refused(res: http::Response<Option<Vec<u8>>>) -> Response {
    let (mut parts, body) = res.into_parts();
    buntime_core::hop::strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, axum::body::Body::from(body.unwrap_or_default()))
}
