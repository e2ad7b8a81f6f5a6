//! One live connection to a plugin host: a batching writer task, a reader task, and calls matched
//! to replies by id, each with a timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use crate::error::CallError;
use crate::protocol::{
    CoreRequest, Envelope, ErrorReply, Frame, FrameError, Hello, LogLine, PROTOCOL_MAX, PROTOCOL_MIN, ServiceCall, encode, negotiate, read_frame,
};

type Waiter = oneshot::Sender<Result<Frame, CallError>>;

/// What a connection reports to its owner.
pub(crate) trait ConnEvents: Send + Sync + 'static {
    /// A plugin logged a line.
    fn log(&self, line: LogLine);
    /// A JS plugin calls a native service; answer with [`Conn::answer`].
    fn call(&self, conn: Arc<Conn>, call: ServiceCall);
    /// The connection ended (the host exited or broke the protocol).
    fn closed(&self, conn: &Conn, reason: String);
}

/// A connection to one host process.
pub(crate) struct Conn {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    pending: Mutex<HashMap<u64, Waiter>>,
    next_id: AtomicU64,
    closed: AtomicBool,
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
        let (tx, rx) = mpsc::unbounded_channel();
        let conn = Arc::new(Self { tx, pending: Mutex::default(), next_id: AtomicU64::new(1), closed: AtomicBool::new(false), pid, version });
        tokio::spawn(write_loop(write, rx));
        tokio::spawn(read_loop(read, Arc::downgrade(&conn), events));
        conn
    }

    /// Returns whether the connection has ended.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waiter>> {
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
        self.waiters().insert(id, tx);
        if self.tx.send(bytes).is_err() || self.is_closed() {
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
            let _ = self.tx.send(bytes);
        }
    }

    /// Sends a message that expects no reply (`exit`).
    pub(crate) fn notify(&self, header: &Value) {
        if let Ok(bytes) = encode(header, b"") {
            let _ = self.tx.send(bytes);
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let waiters: Vec<Waiter> = self.waiters().drain().map(|(_, w)| w).collect();
        for w in waiters {
            let _ = w.send(Err(CallError::HostDown));
        }
    }
}

async fn write_loop(write: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Vec<u8>>) {
    let mut w = BufWriter::with_capacity(64 * 1024, write);
    while let Some(first) = rx.recv().await {
        if w.write_all(&first).await.is_err() {
            return;
        }
        // Batch whatever else is queued into the same write.
        while let Ok(more) = rx.try_recv() {
            if w.write_all(&more).await.is_err() {
                return;
            }
        }
        if w.flush().await.is_err() {
            return;
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
                    let _ = w.send(Ok(frame));
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
            other => tracing::warn!(kind = other, "Plugin host sent an unknown message; ignored."),
        }
    };
    if let Some(conn) = conn.upgrade() {
        conn.close();
        events.closed(&conn, reason);
    }
}
