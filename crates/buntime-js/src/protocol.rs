//! Wire types and framing of the core ↔ plugin-host protocol (no I/O beyond reading one frame).
//!
//! A frame is `u32 BE length-of-rest | u32 BE header-length | header (UTF-8 JSON) | body (bytes)`.
//! The header's `t` names the message; request/response bodies travel as the raw body bytes. See
//! `docs/plugin-host-protocol.md`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

use buntime_core::services::ServiceShape;

use tokio::io::{AsyncRead, AsyncReadExt};

/// The oldest protocol version this core speaks.
pub const PROTOCOL_MIN: u32 = 1;
/// The newest protocol version this core speaks.
pub const PROTOCOL_MAX: u32 = 1;
/// The largest frame either side accepts (header plus body).
pub const MAX_FRAME_BYTES: usize = 128 * 1024 * 1024;
/// The largest JSON header either side accepts.
pub const MAX_HEADER_BYTES: usize = 16 * 1024 * 1024;

/// A framing or decoding failure; the connection is unusable after one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The peer closed the connection between frames.
    #[error("connection closed")]
    Closed,
    /// Reading failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    /// A length field is out of bounds.
    #[error("bad frame: {0}")]
    Bad(String),
    /// The header is not a JSON object with a string `t`.
    #[error("bad frame header: {0}")]
    Header(String),
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    kind: String,
    id: Option<u64>,
    /// The raw header (a JSON object with a string `t`), parsed on demand.
    pub header: Bytes,
    /// The body bytes (empty when none).
    pub body: Bytes,
}

/// The routing fields every header has.
#[derive(Deserialize)]
struct Head {
    t: String,
    #[serde(default)]
    id: Option<u64>,
}

impl Frame {
    /// Returns the message type (`t`).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Returns the message id, if any.
    pub fn id(&self) -> Option<u64> {
        self.id
    }

    /// Decodes the header into `T`.
    ///
    /// # Errors
    /// The header does not have `T`'s shape.
    pub fn parse<T: for<'de> Deserialize<'de>>(&self) -> Result<T, FrameError> {
        serde_json::from_slice(&self.header).map_err(|e| FrameError::Header(format!("`{}`: {e}", self.kind)))
    }

    /// Returns the header as a JSON value.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.header).unwrap_or(Value::Null)
    }
}

/// Encodes a frame from a serialisable header and a body.
///
/// # Errors
/// The header cannot be serialised or the frame is larger than [`MAX_FRAME_BYTES`].
pub fn encode<H: Serialize + ?Sized>(header: &H, body: &[u8]) -> Result<Vec<u8>, FrameError> {
    let h = serde_json::to_vec(header).map_err(|e| FrameError::Header(e.to_string()))?;
    let rest = 4 + h.len() + body.len();
    if rest > MAX_FRAME_BYTES {
        return Err(FrameError::Bad(format!("frame of {rest} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")));
    }
    let mut out = Vec::with_capacity(4 + rest);
    out.extend_from_slice(&(rest as u32).to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(body);
    Ok(out)
}

/// Decodes one frame from the start of `buf`, returning it and the bytes consumed, or `None` when
/// `buf` does not hold a whole frame yet.
///
/// # Errors
/// A length is out of bounds or the header is not a JSON object with a string `t`.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let rest = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let hlen = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    check_lengths(rest, hlen)?;
    if buf.len() < 4 + rest {
        return Ok(None);
    }
    let data = Bytes::copy_from_slice(&buf[8..4 + rest]);
    Ok(Some((frame_of(data, hlen)?, 4 + rest)))
}

/// Reads one frame from `r`.
///
/// # Errors
/// [`FrameError::Closed`] at a clean end of stream; otherwise an I/O or format error.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Frame, FrameError> {
    let mut len = [0u8; 8];
    match r.read_exact(&mut len[..4]).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    r.read_exact(&mut len[4..]).await?;
    let rest = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let hlen = u32::from_be_bytes([len[4], len[5], len[6], len[7]]) as usize;
    check_lengths(rest, hlen)?;
    let mut data = vec![0u8; rest - 4];
    r.read_exact(&mut data).await?;
    frame_of(Bytes::from(data), hlen)
}

fn check_lengths(rest: usize, hlen: usize) -> Result<(), FrameError> {
    if !(4..=MAX_FRAME_BYTES).contains(&rest) {
        return Err(FrameError::Bad(format!("frame length {rest} is outside 4..={MAX_FRAME_BYTES}")));
    }
    if hlen > rest - 4 || hlen > MAX_HEADER_BYTES {
        return Err(FrameError::Bad(format!("header length {hlen} does not fit a frame of {rest} bytes")));
    }
    Ok(())
}

fn frame_of(data: Bytes, hlen: usize) -> Result<Frame, FrameError> {
    let head: Head = serde_json::from_slice(&data[..hlen]).map_err(|e| FrameError::Header(format!("expected a JSON object with a string `t`: {e}")))?;
    Ok(Frame { kind: head.t, id: head.id, header: data.slice(..hlen), body: data.slice(hlen..) })
}

/// Picks the protocol version both sides speak: the highest in the overlap of the ranges.
pub fn negotiate(host_min: u32, host_max: u32) -> Option<u32> {
    let lo = host_min.max(PROTOCOL_MIN);
    let hi = host_max.min(PROTOCOL_MAX);
    (lo <= hi).then_some(hi)
}

/// A version range (`{"min":1,"max":1}`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionRange {
    /// Oldest version spoken.
    pub min: u32,
    /// Newest version spoken.
    pub max: u32,
}

/// The host's first frame: `{"t":"hello","protocol":{min,max},"bun":"1.4.5","pid":123}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Hello {
    /// The versions the host speaks.
    pub protocol: VersionRange,
    /// The Bun version running the host.
    #[serde(default)]
    pub bun: String,
    /// The host's process id.
    #[serde(default)]
    pub pid: u32,
}

/// Header name/value pairs, in order, duplicates kept (`[["set-cookie","a"],["set-cookie","b"]]`).
pub type HeaderPairs = Vec<(String, String)>;

/// Messages the core sends (each carries an `id` the host answers with `ok` or `error`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "t", rename_all = "camelCase")]
pub enum CoreRequest<'a> {
    /// Import a plugin, call its factory and `onInit`, register what it provides.
    #[serde(rename_all = "camelCase")]
    Load {
        /// Plugin name.
        name: &'a str,
        /// Plugin directory.
        dir: &'a str,
        /// Absolute module path.
        entry: &'a str,
        /// Manifest `base`.
        base: Option<&'a str>,
        /// Plugin options (factory argument and `ctx.config`).
        config: &'a Map<String, Value>,
        /// `ctx.globalConfig`.
        global_config: &'a Value,
        /// `ctx.runtime`.
        runtime: &'a Value,
        /// `onInit` timeout enforced by the host.
        init_timeout_ms: u64,
        /// Native plugins whose services `ctx.getPlugin` proxies.
        services: &'a [String],
        /// The synchronous parts of those services, by plugin (only the non-empty ones).
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        shapes: &'a BTreeMap<String, ServiceShape>,
        /// Whether the runtime has a worker pool (`ctx.pool` is defined, read through `pool` calls).
        pool: bool,
        /// Withheld variables the manifest opted in (`allowEnv`), set in the host before the import.
        env: &'a BTreeMap<String, String>,
    },
    /// Tell the host which native plugins provide services.
    Services {
        /// Provider names.
        names: &'a [String],
        /// The synchronous parts of those services, by plugin (only the non-empty ones).
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        shapes: &'a BTreeMap<String, ServiceShape>,
    },
    /// Call a plugin's `server.fetch` (the unstripped request; routes go over HTTP instead).
    Fetch {
        /// Plugin name.
        plugin: &'a str,
        /// HTTP method.
        method: &'a str,
        /// Absolute URL.
        url: &'a str,
        /// Request headers.
        headers: &'a HeaderPairs,
    },
    /// Call `onRequest(req, app)`.
    OnRequest {
        /// Plugin name (the first of `plugins`).
        plugin: &'a str,
        /// Consecutive plugins whose hooks run in this one call, in order (sent when more than one).
        #[serde(skip_serializing_if = "is_single", serialize_with = "names")]
        plugins: &'a [Arc<str>],
        /// HTTP method.
        method: &'a str,
        /// Absolute URL.
        url: &'a str,
        /// Request headers.
        headers: &'a HeaderPairs,
        /// The `AppInfo`, if the request resolved to an app.
        app: Option<&'a Value>,
    },
    /// Call `onResponse(res, app)`.
    OnResponse {
        /// Plugin name (the first of `plugins`).
        plugin: &'a str,
        /// Consecutive plugins whose hooks run in this one call, in order (sent when more than one).
        #[serde(skip_serializing_if = "is_single", serialize_with = "names")]
        plugins: &'a [Arc<str>],
        /// Response status.
        status: u16,
        /// Response headers.
        headers: &'a HeaderPairs,
        /// The `AppInfo`, if any.
        app: Option<&'a Value>,
        /// The body streams: it is not in the frame, and the hook gets a live body instead.
        live: bool,
    },
    /// Call a method of a JS plugin's `provides()` value.
    Invoke {
        /// Provider name.
        plugin: &'a str,
        /// Method name.
        method: &'a str,
        /// JSON arguments.
        args: &'a [Value],
    },
    /// Call `onServerStart(server)`.
    OnServerStart {
        /// Plugin name.
        plugin: &'a str,
        /// `{hostname, port, url}`.
        server: &'a Value,
    },
    /// Call `onShutdown()`.
    OnShutdown {
        /// Plugin name.
        plugin: &'a str,
    },
    /// Call `onWorkerSpawn(worker)`.
    OnWorkerSpawn {
        /// Plugin name.
        plugin: &'a str,
        /// The `WorkerNotice` (`key`, `workerId`, `dir`, `ephemeral`, `reason`).
        worker: &'a Value,
    },
    /// Call `onWorkerTerminate(worker)`.
    OnWorkerTerminate {
        /// Plugin name.
        plugin: &'a str,
        /// The `WorkerNotice`, `reason` saying why it stopped.
        worker: &'a Value,
    },
    /// Liveness check.
    Ping,
}

impl CoreRequest<'_> {
    /// Returns the message type (`t`), e.g. `onRequest`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Load { .. } => "load",
            Self::Services { .. } => "services",
            Self::Fetch { .. } => "fetch",
            Self::OnRequest { .. } => "onRequest",
            Self::OnResponse { .. } => "onResponse",
            Self::Invoke { .. } => "invoke",
            Self::OnServerStart { .. } => "onServerStart",
            Self::OnShutdown { .. } => "onShutdown",
            Self::OnWorkerSpawn { .. } => "onWorkerSpawn",
            Self::OnWorkerTerminate { .. } => "onWorkerTerminate",
            Self::Ping => "ping",
        }
    }

    /// Returns the plugin the message is for (the one being loaded, for `load`).
    pub fn plugin(&self) -> Option<&str> {
        match self {
            Self::Load { name, .. } => Some(name),
            Self::Fetch { plugin, .. }
            | Self::OnRequest { plugin, .. }
            | Self::OnResponse { plugin, .. }
            | Self::Invoke { plugin, .. }
            | Self::OnServerStart { plugin, .. }
            | Self::OnShutdown { plugin }
            | Self::OnWorkerSpawn { plugin, .. }
            | Self::OnWorkerTerminate { plugin, .. } => Some(plugin),
            Self::Services { .. } | Self::Ping => None,
        }
    }
}

/// A [`CoreRequest`] with its id, as written on the wire.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    /// The call id the reply carries.
    pub id: u64,
    /// The message.
    #[serde(flatten)]
    pub msg: &'a CoreRequest<'a>,
}

/// What `load` answers: which hooks the plugin has.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct PluginHooks {
    /// Has `onRequest`.
    pub on_request: bool,
    /// Has `onResponse`.
    pub on_response: bool,
    /// Has `onShutdown`.
    pub on_shutdown: bool,
    /// Has `onServerStart`.
    pub on_server_start: bool,
    /// Has `onWorkerSpawn`.
    pub on_worker_spawn: bool,
    /// Has `onWorkerTerminate`.
    pub on_worker_terminate: bool,
    /// Has `routes` (anything with `fetch`).
    pub routes: bool,
    /// Has `server.fetch`.
    pub server_fetch: bool,
    /// Has `provides()`.
    pub provides: bool,
}

/// The `ok` reply to `load`.
#[derive(Debug, Clone, Deserialize)]
pub struct LoadReply {
    /// The hooks found.
    pub hooks: PluginHooks,
    /// The plugin's menus after `onInit` (its `menus` field, else `config.menus`).
    #[serde(default)]
    pub menus: Option<Value>,
}

/// The `ok` reply to `fetch`, and the `respond`/`replace` shapes of hook replies.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpReply {
    /// What a hook decided (`continue`, `replace`, `respond`, `keep`); absent for `fetch`.
    #[serde(default)]
    pub action: Option<String>,
    /// Status, for responses.
    #[serde(default)]
    pub status: Option<u16>,
    /// Method, for a replaced request.
    #[serde(default)]
    pub method: Option<String>,
    /// URL, for a replaced request.
    #[serde(default)]
    pub url: Option<String>,
    /// Headers.
    #[serde(default)]
    pub headers: HeaderPairs,
    /// For `onResponse`'s `replace`: the response keeps its own body (no body in the frame),
    /// only its status and headers change.
    #[serde(default, rename = "keepBody")]
    pub keep_body: bool,
    /// For a chain of hooks: the index of the one that answered (`respond`) or threw (`error`).
    #[serde(default)]
    pub by: usize,
    /// `onRequest` hooks that threw and were skipped.
    #[serde(default)]
    pub errors: Vec<HookThrow>,
    /// For `error`: what the hook threw.
    #[serde(default)]
    pub message: Option<String>,
}

/// A hook of a chain that threw.
#[derive(Debug, Clone, Deserialize)]
pub struct HookThrow {
    /// Its index in the chain.
    pub index: usize,
    /// The JS error message.
    pub message: String,
}

fn is_single(plugins: &&[Arc<str>]) -> bool {
    plugins.len() <= 1
}

fn names<S: serde::Serializer>(plugins: &&[Arc<str>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(plugins.iter().map(|n| &**n))
}

/// A `log` frame from the host.
#[derive(Debug, Clone, Deserialize)]
pub struct LogLine {
    /// The plugin that logged.
    pub plugin: String,
    /// `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The message.
    pub message: String,
    /// Optional structured data.
    #[serde(default)]
    pub meta: Option<Value>,
}

/// A `call` frame from the host: a JS plugin calling a native plugin's service.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceCall {
    /// The call id to answer.
    pub id: u64,
    /// The providing plugin.
    pub plugin: String,
    /// The method.
    pub method: String,
    /// JSON arguments.
    #[serde(default)]
    pub args: Vec<Value>,
}

/// An `error` reply.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorReply {
    /// The JS error message.
    pub message: String,
    /// Its stack, if any.
    #[serde(default)]
    pub stack: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encode_then_decode_round_trips_header_and_body() {
        let headers: HeaderPairs = vec![("a".into(), "1".into()), ("set-cookie".into(), "x".into()), ("set-cookie".into(), "y".into())];
        let msg = CoreRequest::Fetch { plugin: "p", method: "POST", url: "http://h/x", headers: &headers };
        let bytes = encode(&Envelope { id: 7, msg: &msg }, b"\x00body\xff").unwrap();
        let (frame, used) = decode(&bytes).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(frame.kind(), "fetch");
        assert_eq!(frame.id(), Some(7));
        assert_eq!(frame.json()["headers"], json!([["a", "1"], ["set-cookie", "x"], ["set-cookie", "y"]]));
        assert_eq!(&frame.body[..], b"\x00body\xff");
    }

    #[test]
    fn decode_waits_for_a_whole_frame() {
        let bytes = encode(&json!({"t": "ping", "id": 1}), b"abc").unwrap();
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).unwrap().is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn decode_rejects_lengths_out_of_bounds_without_panicking() {
        let mut huge = ((MAX_FRAME_BYTES + 1) as u32).to_be_bytes().to_vec();
        huge.extend_from_slice(&[0, 0, 0, 0]);
        assert!(matches!(decode(&huge), Err(FrameError::Bad(_))));
        let mut bad_hlen = 10u32.to_be_bytes().to_vec();
        bad_hlen.extend_from_slice(&100u32.to_be_bytes());
        bad_hlen.extend_from_slice(&[0; 6]);
        assert!(matches!(decode(&bad_hlen), Err(FrameError::Bad(_))));
        let mut short = 2u32.to_be_bytes().to_vec();
        short.extend_from_slice(&[0; 8]);
        assert!(matches!(decode(&short), Err(FrameError::Bad(_))));
    }

    #[test]
    fn headers_must_be_objects_with_a_type() {
        for header in [json!([1]), json!({"id": 1}), json!({"t": 5})] {
            let bytes = encode(&header, b"").unwrap();
            assert!(matches!(decode(&bytes), Err(FrameError::Header(_))), "{header}");
        }
        let mut junk = encode(&json!({"t": "x"}), b"").unwrap();
        junk[8] = b'!';
        assert!(matches!(decode(&junk), Err(FrameError::Header(_))));
    }

    #[tokio::test]
    async fn read_frame_reads_frames_back_to_back_and_reports_a_clean_close() {
        let mut bytes = encode(&json!({"t": "a"}), b"1").unwrap();
        bytes.extend(encode(&json!({"t": "b"}), b"").unwrap());
        let mut r = &bytes[..];
        assert_eq!(read_frame(&mut r).await.unwrap().kind(), "a");
        let b = read_frame(&mut r).await.unwrap();
        assert_eq!((b.kind(), b.body.len()), ("b", 0));
        assert!(matches!(read_frame(&mut r).await, Err(FrameError::Closed)));
    }

    #[test]
    fn negotiation_picks_the_highest_common_version() {
        assert_eq!(negotiate(1, 1), Some(1));
        assert_eq!(negotiate(1, 9), Some(PROTOCOL_MAX));
        assert_eq!(negotiate(PROTOCOL_MAX + 1, PROTOCOL_MAX + 3), None);
    }

    #[test]
    fn messages_serialise_in_camel_case_with_their_type() {
        let cfg = Map::new();
        let v = json!({});
        let msg = CoreRequest::Load {
            name: "n",
            dir: "/d",
            entry: "/d/plugin.ts",
            base: None,
            config: &cfg,
            global_config: &v,
            runtime: &v,
            init_timeout_ms: 5,
            services: &[],
            shapes: &BTreeMap::new(),
            pool: true,
            env: &BTreeMap::new(),
        };
        let out = serde_json::to_value(Envelope { id: 1, msg: &msg }).unwrap();
        assert_eq!(out["t"], "load");
        assert_eq!(out["initTimeoutMs"], 5);
        assert_eq!(out["globalConfig"], json!({}));
        assert_eq!(out["pool"], true);
        assert_eq!(out["env"], json!({}));
        assert_eq!((msg.kind(), msg.plugin()), ("load", Some("n")));
        let hooks: LoadReply = serde_json::from_value(json!({"hooks": {"onRequest": true, "serverFetch": true}})).unwrap();
        assert!(hooks.hooks.on_request && hooks.hooks.server_fetch && !hooks.hooks.routes);
        assert_eq!(serde_json::to_value(CoreRequest::OnShutdown { plugin: "p" }).unwrap(), json!({"t": "onShutdown", "plugin": "p"}));
    }
}
