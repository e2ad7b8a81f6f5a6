//! One live connection to a plugin host: a batching writer task, a reader task, and calls matched
//! to replies by id, each with a timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, oneshot};

use crate::error::CallError;
use crate::protocol::{
    CoreRequest, Envelope, ErrorReply, Frame, FrameError, Hello, LogLine, PROTOCOL_MAX, PROTOCOL_MIN, ServiceCall, encode, negotiate, read_frame,
};

type Waiter = oneshot::Sender<Result<Frame, CallError>>;

/// A call waiting for its reply, and what it is (for naming the culprit when the host stalls).
struct Pending {
    tx: Waiter,
    kind: &'static str,
    plugin: Option<String>,
}

/// What a connection reports to its owner.
pub(crate) trait ConnEvents: Send + Sync + 'static {
    /// A plugin logged a line.
    fn log(&self, line: LogLine);
    /// A JS plugin calls a native service; answer with [`Conn::answer`].
    fn call(&self, conn: Arc<Conn>, call: ServiceCall);
    /// The host asks for a worker pool snapshot (`ctx.pool`); answer with [`Conn::answer`].
    fn pool(&self, conn: Arc<Conn>, id: u64);
    /// Answers `poolFetch` (serve a request with an app by directory) and `resolveApp`.
    fn apps(&self, conn: Arc<Conn>, frame: Frame);
    /// The connection ended (the host exited or broke the protocol).
    fn closed(&self, conn: &Conn, reason: String);
}

/// A connection to one host process.
pub(crate) struct Conn {
    out: Outbox,
    pending: Mutex<HashMap<u64, Pending>>,
    next_id: AtomicU64,
    closed: AtomicBool,
    /// Set when the core killed the host because it stopped answering (heartbeat or load timeout).
    stalled: AtomicBool,
    /// The host's process id.
    pub(crate) pid: u32,
    /// The negotiated protocol version.
    pub(crate) version: u32,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("pid", &self.pid).field("version", &self.version).field("closed", &self.is_closed()).finish_non_exhaustive()
    }
}

/// Reads the host's `hello`, answers `welcome` (or `reject`), and returns the greeting and version.
pub(crate) async fn handshake(stream: &mut UnixStream, within: Duration) -> Result<(Hello, u32), String> {
    let frame = match tokio::time::timeout(within, read_frame(stream)).await {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => return Err(format!("no greeting: {e}")),
        Err(_) => return Err(format!("no greeting within {}ms", within.as_millis())),
    };
    if frame.kind() != "hello" {
        return Err(format!("expected `hello`, got `{}`", frame.kind()));
    }
    let hello: Hello = frame.parse().map_err(|e| e.to_string())?;
    let Some(version) = negotiate(hello.protocol.min, hello.protocol.max) else {
        let reason = format!(
            "protocol versions {}..={} are not supported by this runtime ({PROTOCOL_MIN}..={PROTOCOL_MAX})",
            hello.protocol.min, hello.protocol.max
        );
        let reject = encode(&serde_json::json!({"t": "reject", "reason": reason}), b"").map_err(|e| e.to_string())?;
        let _ = stream.write_all(&reject).await;
        return Err(reason);
    };
    let welcome = encode(&serde_json::json!({"t": "welcome", "protocol": version}), b"").map_err(|e| e.to_string())?;
    stream.write_all(&welcome).await.map_err(|e| format!("cannot answer the greeting: {e}"))?;
    Ok((hello, version))
}

impl Conn {
    /// Starts the reader and writer tasks over a greeted stream.
    pub(crate) fn start(stream: UnixStream, pid: u32, version: u32, events: Arc<dyn ConnEvents>) -> Arc<Self> {
        let (read, write) = stream.into_split();
        let write = Arc::new(write);
        let out = Outbox { write: write.clone(), state: Mutex::default(), wake: Arc::new(Notify::new()) };
        let conn = Arc::new(Self { out, pending: Mutex::default(), next_id: AtomicU64::new(1), closed: AtomicBool::new(false), stalled: AtomicBool::new(false), pid, version });
        tokio::spawn(write_loop(write, Arc::downgrade(&conn), conn.out.wake.clone()));
        tokio::spawn(read_loop(read, Arc::downgrade(&conn), events));
        conn
    }

    /// Returns whether the connection has ended.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the connection as killed by the core for not answering (before the kill, so the
    /// close event and failed calls can tell a stall from an exit).
    pub(crate) fn mark_stalled(&self) {
        self.stalled.store(true, Ordering::Release);
    }

    /// Returns whether the core killed this host for not answering.
    pub(crate) fn is_stalled(&self) -> bool {
        self.stalled.load(Ordering::Acquire)
    }

    /// Returns the calls in flight other than heartbeats, as `(plugin, message type)`, oldest first.
    pub(crate) fn in_flight(&self) -> Vec<(String, &'static str)> {
        let mut calls: Vec<(u64, String, &'static str)> = self
            .waiters()
            .iter()
            .filter(|(_, p)| p.kind != "ping")
            .map(|(id, p)| (*id, p.plugin.clone().unwrap_or_default(), p.kind))
            .collect();
        calls.sort_unstable_by_key(|c| c.0);
        calls.into_iter().map(|(_, plugin, kind)| (plugin, kind)).collect()
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Pending>> {
        // A poisoned map only means a holder panicked mid-insert; the map itself stays valid.
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends `msg` with `body` and waits up to `timeout` for the `ok` reply.
    pub(crate) async fn call(&self, msg: &CoreRequest<'_>, body: &[u8], timeout: Duration) -> Result<Frame, CallError> {
        if self.is_closed() {
            return Err(CallError::HostDown);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let bytes = encode(&Envelope { id, msg }, body).map_err(|e| CallError::Protocol(e.to_string()))?;
        let (tx, rx) = oneshot::channel();
        self.waiters().insert(id, Pending { tx, kind: msg.kind(), plugin: msg.plugin().map(str::to_owned) });
        if !self.out.send(bytes) || self.is_closed() {
            self.waiters().remove(&id);
            return Err(CallError::HostDown);
        }
        let reply = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => reply?,
            Ok(Err(_)) => return Err(CallError::HostDown),
            Err(_) => {
                self.waiters().remove(&id);
                return Err(CallError::Timeout(timeout));
            }
        };
        match reply.kind() {
            "ok" => Ok(reply),
            "error" => {
                let e: ErrorReply = reply.parse().map_err(|e| CallError::Protocol(e.to_string()))?;
                Err(CallError::Remote { message: e.message, stack: e.stack })
            }
            other => Err(CallError::Protocol(format!("unexpected reply `{other}`"))),
        }
    }

    /// Answers a host-initiated `call` with a value or an error message.
    pub(crate) fn answer(&self, id: u64, result: Result<Value, String>) {
        let header = match result {
            Ok(value) => serde_json::json!({"t": "ok", "id": id, "value": value}),
            Err(message) => serde_json::json!({"t": "error", "id": id, "message": message}),
        };
        if let Ok(bytes) = encode(&header, b"") {
            self.out.send(bytes);
        }
    }

    /// Answers a host-initiated call with a header (its `t` and `id` set here) and a body.
    pub(crate) fn answer_with_body(&self, id: u64, mut header: Value, body: &[u8]) {
        header["t"] = Value::from("ok");
        header["id"] = Value::from(id);
        match encode(&header, body) {
            Ok(bytes) => {
                self.out.send(bytes);
            }
            Err(e) => self.answer(id, Err(e.to_string())),
        }
    }

    /// Sends a message that expects no reply (`exit`).
    pub(crate) fn notify(&self, header: &Value) {
        if let Ok(bytes) = encode(header, b"") {
            self.out.send(bytes);
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let waiters: Vec<Waiter> = self.waiters().drain().map(|(_, w)| w.tx).collect();
        for w in waiters {
            let _ = w.send(Err(CallError::HostDown));
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Lets the writer task see the connection is gone and end (dropping the write half).
        self.out.wake.notify_one();
    }
}

/// Outgoing frames: written straight from the caller's task when the socket takes them (no task
/// hop on the hot path), else queued for the writer task, which then keeps the order.
struct Outbox {
    write: Arc<OwnedWriteHalf>,
    state: Mutex<OutState>,
    wake: Arc<Notify>,
}

#[derive(Default)]
struct OutState {
    backlog: Vec<u8>,
    busy: bool,
    broken: bool,
}

impl Outbox {
    /// Queues or writes `frame`; returns false when the socket is broken.
    fn send(&self, frame: Vec<u8>) -> bool {
        let mut st = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if st.broken {
            return false;
        }
        if st.busy {
            st.backlog.extend_from_slice(&frame);
            return true;
        }
        let written = match self.write.try_write(&frame) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            Err(_) => {
                st.broken = true;
                return false;
            }
        };
        if written < frame.len() {
            st.backlog.extend_from_slice(&frame[written..]);
            st.busy = true;
            self.wake.notify_one();
        }
        true
    }
}

async fn write_loop(write: Arc<OwnedWriteHalf>, conn: std::sync::Weak<Conn>, wake: Arc<Notify>) {
    loop {
        wake.notified().await;
        loop {
            let Some(c) = conn.upgrade() else { return };
            let chunk = {
                let mut st = c.out.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if st.backlog.is_empty() {
                    st.busy = false;
                    break;
                }
                std::mem::take(&mut st.backlog)
            };
            drop(c);
            let mut at = 0;
            while at < chunk.len() {
                if write.writable().await.is_err() {
                    return;
                }
                match write.try_write(&chunk[at..]) {
                    Ok(n) => at += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        if let Some(conn) = conn.upgrade() {
                            conn.out.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).broken = true;
                        }
                        return;
                    }
                }
            }
        }
    }
}

async fn read_loop(read: OwnedReadHalf, conn: std::sync::Weak<Conn>, events: Arc<dyn ConnEvents>) {
    let mut r = BufReader::with_capacity(64 * 1024, read);
    let reason = loop {
        let frame = match read_frame(&mut r).await {
            Ok(f) => f,
            Err(FrameError::Closed) => break "the host closed the connection".to_owned(),
            Err(e) => break e.to_string(),
        };
        let Some(conn) = conn.upgrade() else { return };
        match frame.kind() {
            "ok" | "error" => {
                let waiter = frame.id().and_then(|id| conn.waiters().remove(&id));
                if let Some(w) = waiter {
                    let _ = w.tx.send(Ok(frame));
                }
            }
            "log" => match frame.parse::<LogLine>() {
                Ok(line) => events.log(line),
                Err(e) => tracing::warn!(error = %e, "Plugin host sent a malformed log line."),
            },
            "call" => match frame.parse::<ServiceCall>() {
                Ok(call) => events.call(conn.clone(), call),
                Err(e) => tracing::warn!(error = %e, "Plugin host sent a malformed service call."),
            },
            "pool" => match frame.id() {
                Some(id) => events.pool(conn, id),
                None => tracing::warn!("Plugin host asked for pool metrics without a call id; ignored."),
            },
            "poolFetch" | "resolveApp" => events.apps(conn, frame),
            other => tracing::warn!(kind = other, "Plugin host sent an unknown message; ignored."),
        }
    };
    if let Some(conn) = conn.upgrade() {
        // Report first, so anyone who sees a failed call also sees the host marked down.
        conn.closed.store(true, Ordering::Release);
        events.closed(&conn, reason);
        conn.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::read_frame;
    use serde_json::json;

    struct Recorder {
        logs: Mutex<Vec<String>>,
        closed: Mutex<Vec<String>>,
    }

    impl ConnEvents for Recorder {
        fn log(&self, line: LogLine) {
            self.logs.lock().unwrap().push(format!("{}:{}:{}", line.plugin, line.level, line.message));
        }
        fn call(&self, conn: Arc<Conn>, call: ServiceCall) {
            conn.answer(call.id, if call.method == "fail" { Err("no".into()) } else { Ok(json!(call.args.len())) });
        }
        fn pool(&self, conn: Arc<Conn>, id: u64) {
            conn.answer(id, Ok(json!({"metrics": {"hits": 1}})));
        }
        fn apps(&self, _conn: Arc<Conn>, _frame: Frame) {}
        fn closed(&self, _conn: &Conn, reason: String) {
            self.closed.lock().unwrap().push(reason);
        }
    }

    fn recorder() -> Arc<Recorder> {
        Arc::new(Recorder { logs: Mutex::default(), closed: Mutex::default() })
    }

    async fn write(s: &mut UnixStream, header: Value, body: &[u8]) {
        s.write_all(&encode(&header, body).unwrap()).await.unwrap();
    }

    #[tokio::test]
    async fn handshake_welcomes_a_compatible_host_and_rejects_an_incompatible_one() {
        let (mut core, mut host) = UnixStream::pair().unwrap();
        write(&mut host, json!({"t": "hello", "protocol": {"min": 1, "max": 3}, "bun": "1.4.5", "pid": 9}), b"").await;
        let (hello, version) = handshake(&mut core, Duration::from_secs(1)).await.unwrap();
        assert_eq!((hello.pid, version), (9, PROTOCOL_MAX));
        assert_eq!(read_frame(&mut host).await.unwrap().kind(), "welcome");

        let (mut core, mut host) = UnixStream::pair().unwrap();
        write(&mut host, json!({"t": "hello", "protocol": {"min": 99, "max": 99}}), b"").await;
        let err = handshake(&mut core, Duration::from_secs(1)).await.unwrap_err();
        assert!(err.contains("99..=99"), "{err}");
        assert_eq!(read_frame(&mut host).await.unwrap().kind(), "reject");

        let (mut core, _host) = UnixStream::pair().unwrap();
        let err = handshake(&mut core, Duration::from_millis(20)).await.unwrap_err();
        assert!(err.contains("no greeting within 20ms"), "{err}");
    }

    #[tokio::test]
    async fn replies_match_calls_by_id_in_any_order_and_host_messages_are_dispatched() {
        let (core, mut host) = UnixStream::pair().unwrap();
        let events = recorder();
        let conn = Conn::start(core, 1, 1, events.clone());
        let (c1, c2) = (conn.clone(), conn.clone());
        let first = tokio::spawn(async move { c1.call(&CoreRequest::Ping, b"a", Duration::from_secs(5)).await });
        let a = read_frame(&mut host).await.unwrap();
        let second = tokio::spawn(async move { c2.call(&CoreRequest::OnShutdown { plugin: "p" }, b"", Duration::from_secs(5)).await });
        let b = read_frame(&mut host).await.unwrap();
        assert_eq!((a.kind(), &a.body[..], b.kind()), ("ping", &b"a"[..], "onShutdown"));
        write(&mut host, json!({"t": "log", "plugin": "p", "level": "info", "message": "hi"}), b"").await;
        write(&mut host, json!({"t": "error", "id": b.id(), "message": "boom"}), b"").await;
        write(&mut host, json!({"t": "ok", "id": a.id(), "x": 1}), b"reply").await;
        write(&mut host, json!({"t": "call", "id": 5, "plugin": "n", "method": "m", "args": [1, 2]}), b"").await;
        write(&mut host, json!({"t": "pool", "id": 6}), b"").await;
        let ok = first.await.unwrap().unwrap();
        assert_eq!((ok.json()["x"].clone(), &ok.body[..]), (json!(1), &b"reply"[..]));
        assert!(matches!(second.await.unwrap(), Err(CallError::Remote { message, .. }) if message == "boom"));
        let answer = read_frame(&mut host).await.unwrap();
        assert_eq!((answer.kind(), answer.id(), answer.json()["value"].clone()), ("ok", Some(5), json!(2)));
        let pool = read_frame(&mut host).await.unwrap();
        assert_eq!((pool.kind(), pool.id(), pool.json()["value"]["metrics"]["hits"].clone()), ("ok", Some(6), json!(1)));
        assert_eq!(*events.logs.lock().unwrap(), ["p:info:hi"]);
    }

    #[tokio::test]
    async fn a_silent_host_times_out_and_a_closed_one_fails_every_pending_call() {
        let (core, host) = UnixStream::pair().unwrap();
        let events = recorder();
        let conn = Conn::start(core, 1, 1, events.clone());
        let err = conn.call(&CoreRequest::Ping, b"", Duration::from_millis(20)).await.unwrap_err();
        assert!(matches!(err, CallError::Timeout(_)) && err.is_unavailable());
        let c = conn.clone();
        let pending = tokio::spawn(async move { c.call(&CoreRequest::Ping, b"", Duration::from_secs(30)).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(host);
        assert!(matches!(pending.await.unwrap(), Err(CallError::HostDown)));
        assert!(conn.is_closed());
        assert!(matches!(conn.call(&CoreRequest::Ping, b"", Duration::from_secs(1)).await, Err(CallError::HostDown)));
        assert_eq!(events.closed.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn frames_larger_than_the_socket_buffer_arrive_whole_and_in_order() {
        let (core, mut host) = UnixStream::pair().unwrap();
        let conn = Conn::start(core, 1, 1, recorder());
        let big = vec![7u8; 4 * 1024 * 1024];
        let calls: Vec<_> = (0..3)
            .map(|i| {
                let (c, body) = (conn.clone(), if i == 1 { big.clone() } else { vec![i as u8] });
                tokio::spawn(async move { c.call(&CoreRequest::Ping, &body, Duration::from_secs(30)).await })
            })
            .collect();
        let mut seen = Vec::new();
        for _ in 0..3 {
            let f = read_frame(&mut host).await.unwrap();
            seen.push(f.body.len());
            write(&mut host, json!({"t": "ok", "id": f.id()}), b"").await;
        }
        seen.sort_unstable();
        assert_eq!(seen, [1, 1, big.len()]);
        for c in calls {
            c.await.unwrap().unwrap();
        }
    }

    #[tokio::test]
    async fn a_malformed_frame_ends_the_connection() {
        let (core, mut host) = UnixStream::pair().unwrap();
        let events = recorder();
        let conn = Conn::start(core, 1, 1, events.clone());
        host.write_all(&[0, 0, 0, 1, 0, 0, 0, 0]).await.unwrap();
        for _ in 0..100 {
            if conn.is_closed() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(conn.is_closed());
        assert!(events.closed.lock().unwrap()[0].contains("bad frame"));
    }
}
