//! `onRequest` / `onResponse` over the protocol, for one JS plugin or for a chain of consecutive
//! ones on the same host in one round trip ([`JsBatch`]).

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use axum::body::Body;
use buntime_core::batch::HookBatch;
use buntime_core::{ErrorKind, Flow, PluginError, Request, RequestContext, Response};
use bytes::Bytes;
use http::StatusCode;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use serde_json::Value;

use crate::error::CallError;
use crate::host::HostInner;
use crate::http_conv::{absolute_url, apply_headers, buffer_request_body, pairs, replaced_request, response, to_bytes};
use crate::protocol::{CoreRequest, HttpReply};

/// The largest body an `onResponse` hook gets buffered; a bigger one reaches it live.
const MAX_BUFFERED_RESPONSE: u64 = 16 * 1024 * 1024;

/// Returns whether `res` streams: an event stream, or a body whose size is not known up front
/// (or too big to buffer). Such a body is never awaited before the `onResponse` hooks run.
fn is_live(res: &Response) -> bool {
    let event_stream = res.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
    event_stream || http_body::Body::size_hint(res.body()).exact().is_none_or(|n| n > MAX_BUFFERED_RESPONSE)
}

fn app_json(cx: &RequestContext) -> Option<Value> {
    cx.app.as_ref().and_then(|a| serde_json::to_value(a.as_ref()).ok())
}

/// Runs the `onRequest` hooks of `names` (consecutive, one host) in one call.
///
/// Like the original, a hook that throws is logged and skipped (fail-open).
///
/// # Errors
/// The host is down, silent or broke the protocol: blamed on the chain's first plugin (index 0).
pub(crate) async fn on_request(host: &HostInner, names: &[Arc<str>], req: &mut Request, cx: &RequestContext) -> Result<Flow, (usize, PluginError)> {
    host.sync_services().await;
    let body = match buffer_request_body(req).await {
        Ok(b) => b,
        Err(e) => return Ok(Flow::Respond(e.response())),
    };
    let (url, headers, app) = (absolute_url(req), pairs(req.headers()), app_json(cx));
    let msg = CoreRequest::OnRequest { plugin: &names[0], plugins: names, method: req.method().as_str(), url: &url, headers: &headers, app: app.as_ref() };
    let frame = match host.call(&msg, &body, host.opts.call_timeout).await {
        Ok(frame) => frame,
        Err(CallError::Remote { message, .. }) => {
            tracing::error!(plugin = %names[0], hook = "onRequest", request_id = %cx.request_id, error = %message, "JS hook threw; continuing.");
            return Ok(Flow::Continue);
        }
        Err(e) => return Err((0, e.into_plugin_error(&names[0]))),
    };
    let head: HttpReply = frame.parse().map_err(|e| (0, PluginError::internal(e.to_string())))?;
    for t in &head.errors {
        let plugin = names.get(t.index).unwrap_or(&names[0]);
        tracing::error!(plugin = %plugin, hook = "onRequest", request_id = %cx.request_id, error = %t.message, "JS hook threw; continuing.");
    }
    Ok(match head.action.as_deref() {
        Some("respond") => Flow::Respond(response(head.status, &head.headers, frame.body)),
        Some("replace") => Flow::Replace(replaced_request(req, head.method.as_deref(), head.url.as_deref(), &head.headers, frame.body)),
        _ => Flow::Continue,
    })
}

/// Runs the `onResponse` hooks of `names` (consecutive, one host) in one call, each on the
/// response the previous one returned.
///
/// A streaming body (SSE, chunked) is not awaited: the hooks see the status and headers with a
/// live body, and the body keeps streaming to the client after they ran.
///
/// # Errors
/// The index of the hook that threw and its error; or the host failed (index 0).
pub(crate) async fn on_response(host: &HostInner, names: &[Arc<str>], res: &mut Response, cx: &RequestContext) -> Result<(), (usize, PluginError)> {
    host.sync_services().await;
    let live = is_live(res);
    let body = if live {
        Bytes::new()
    } else {
        to_bytes(std::mem::take(res.body_mut())).await.map_err(|_| (0, PluginError::internal("cannot read the response body for onResponse")))?
    };
    let (headers, app) = (pairs(res.headers()), app_json(cx));
    let msg = CoreRequest::OnResponse { plugin: &names[0], plugins: names, status: res.status().as_u16(), headers: &headers, app: app.as_ref(), live };
    let restore = |res: &mut Response, body: Bytes| {
        if !live {
            *res.body_mut() = Body::from(body);
        }
    };
    let frame = host.call(&msg, &body, host.opts.call_timeout).await.map_err(|e| (0, e.into_plugin_error(&names[0])))?;
    let head: HttpReply = frame.parse().map_err(|e| (0, PluginError::internal(e.to_string())))?;
    match head.action.as_deref() {
        Some("error") => {
            restore(res, body);
            // As a single hook's exception would be: internal, logged by the pipeline, never sent.
            let message = head.message.unwrap_or_else(|| "onResponse threw".to_owned());
            Err((head.by, PluginError::internal(message)))
        }
        Some("replace") if head.keep_body => {
            // Same body, new head: status and headers as the hooks left them.
            restore(res, body);
            *res.status_mut() = head.status.and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(res.status());
            let framing = [CONTENT_LENGTH, TRANSFER_ENCODING].map(|h| res.headers().get(&h).cloned());
            res.headers_mut().clear();
            apply_headers(res.headers_mut(), &head.headers);
            for (name, value) in [CONTENT_LENGTH, TRANSFER_ENCODING].into_iter().zip(framing) {
                if let Some(v) = value {
                    res.headers_mut().insert(name, v);
                }
            }
            Ok(())
        }
        Some("replace") => {
            *res = response(head.status, &head.headers, frame.body);
            Ok(())
        }
        _ => {
            restore(res, body);
            Ok(())
        }
    }
}

/// The [`HookBatch`] of one plugin host: every JS plugin it loaded returns this same object, so
/// the generation runs their consecutive hooks in one round trip.
#[derive(Debug)]
pub(crate) struct JsBatch {
    pub(crate) host: Weak<HostInner>,
}

impl JsBatch {
    fn host(&self, names: &[Arc<str>]) -> Result<Arc<HostInner>, (usize, PluginError)> {
        // The generation that owns the plugins owns the host; a dropped host means it retired.
        self.host.upgrade().ok_or_else(|| (0, PluginError::new(ErrorKind::Unavailable, format!("plugin `{}` is unavailable: its host stopped", names[0]))))
    }
}

#[async_trait]
impl HookBatch for JsBatch {
    async fn on_request(&self, plugins: &[Arc<str>], req: &mut Request, cx: &RequestContext) -> Result<Flow, (usize, PluginError)> {
        on_request(&*self.host(plugins)?, plugins, req, cx).await
    }

    async fn on_response(&self, plugins: &[Arc<str>], res: &mut Response, cx: &RequestContext) -> Result<(), (usize, PluginError)> {
        on_response(&*self.host(plugins)?, plugins, res, cx).await
    }
}
