//! WebSockets to worker apps: the upgrade relayed to the worker's Bun.serve socket, which answers
//! it with `server.upgrade()` and its `websocket` handlers.

use std::time::Duration;

use buntime_core::ws_relay::{self, RelayError, UnixUpstream};
use buntime_core::{Request, Response};
use http::HeaderMap;

use crate::error::DispatchError;
use crate::proxy::OnEnd;
use crate::worker::InflightGuard;

pub(crate) use buntime_core::ws_relay::is_upgrade;

/// Relays the upgrade to the worker holding `guard`. The worker stays in flight (so it is not
/// recycled under an open socket) until the socket closes.
pub(crate) async fn relay(guard: InflightGuard, on_end: Option<OnEnd>, req: Request, timeout: Duration) -> Response {
    let worker = guard.worker().clone();
    let mut headers = HeaderMap::new();
    if let Ok(base) = http::HeaderValue::from_str(&worker.spec.base_path) {
        headers.insert("x-base", base);
    }
    let upstream = UnixUpstream { socket: &worker.socket, headers, timeout };
    match ws_relay::relay_unix(req, upstream, (guard, on_end)).await {
        Ok(res) => res,
        Err(RelayError::Timeout(t)) => DispatchError::Timeout(u64::try_from(t.as_millis()).unwrap_or(u64::MAX)).to_response(),
        Err(e @ RelayError::Handshake(_)) => DispatchError::BadResponse { app: worker.spec.key.clone(), reason: e.to_string().into() }.to_response(),
    }
}
