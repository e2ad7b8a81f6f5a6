//! HRANA over WebSocket (the `hrana2` and `hrana3` JSON subprotocols): `hello`, then requests
//! on streams that each pin one connection, run by the same stream-request code as the HTTP side.

use std::collections::{HashMap, VecDeque};

use axum::extract::ws::{CloseFrame, Message};
use buntime_core::websocket::Socket;
use serde_json::{Value as Json, json};

use crate::error::DbError;
use crate::hrana::{self, MAX_STORED_SQL, Stream};
use crate::service::{DatabaseService, Target};

/// The subprotocols served, most preferred first (`hrana3-protobuf` is not served).
pub const SUBPROTOCOLS: [&str; 2] = ["hrana3", "hrana2"];
/// Streams one socket may keep open.
pub const MAX_STREAMS_PER_SOCKET: usize = 256;
/// Cursors one socket may keep open.
pub const MAX_CURSORS_PER_SOCKET: usize = 256;

/// Close code for a message that breaks the protocol (RFC 6455 §7.4.1).
const PROTOCOL_ERROR: u16 = 1002;
/// Close code for a frame of a kind the subprotocol does not use (binary on a JSON protocol).
const UNSUPPORTED_DATA: u16 = 1003;

/// One socket's state: its streams, the SQL it stored and its open cursors' remaining entries.
struct Session {
    adapter: Option<String>,
    tenant: Option<String>,
    hello: bool,
    streams: HashMap<i64, Stream>,
    sqls: HashMap<i64, String>,
    cursors: HashMap<i64, VecDeque<Json>>,
}

/// Serves one upgraded socket until the client closes it (or its generation retires: 1001). `adapter` and `tenant` come from the
/// upgrade request's headers, as on HTTP, and every stream the socket opens uses them.
pub async fn serve(mut socket: Socket, service: DatabaseService, adapter: Option<String>, tenant: Option<String>) {
    let mut session = Session { adapter, tenant, hello: false, streams: HashMap::new(), sqls: HashMap::new(), cursors: HashMap::new() };
    while let Some(Ok(msg)) = socket.recv().await {
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => return close(&mut socket, UNSUPPORTED_DATA, "binary frames are not part of the JSON subprotocols").await,
            // axum answers pings itself. The echo of a client's close is only queued: reading on
            // sends it and then ends the stream (leaving now would reset the connection).
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => continue,
        };
        let reply = match session.message(&service, text.as_str()).await {
            Ok(reply) => reply,
            Err(reason) => return close(&mut socket, PROTOCOL_ERROR, &reason).await,
        };
        if socket.send(Message::Text(reply.to_string().into())).await.is_err() {
            break;
        }
    }
    // Dropping the session drops its streams: open transactions roll back.
}

async fn close(socket: &mut Socket, code: u16, reason: &str) {
    // A close reason may hold at most 123 bytes; keep it on a character boundary.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let frame = CloseFrame { code, reason: reason[..end].to_owned().into() };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

impl Session {
    /// Answers one client message; `Err` is a protocol error that closes the socket (the spec
    /// has no reply for a message it cannot attribute to a request).
    async fn message(&mut self, service: &DatabaseService, text: &str) -> Result<Json, String> {
        let msg: Json = serde_json::from_str(text).map_err(|e| format!("invalid JSON message: {e}"))?;
        match msg.get("type").and_then(Json::as_str) {
            // The JWT is not checked here, as on the HTTP side: the runtime's authentication
            // hooks already ran on the upgrade request.
            Some("hello") => {
                self.hello = true;
                Ok(json!({"type": "hello_ok"}))
            }
            Some("request") if !self.hello => Err("a `request` came before `hello`".into()),
            Some("request") => {
                let id = msg.get("request_id").and_then(Json::as_i64).ok_or("a `request` needs an integer `request_id`")?;
                let request = msg.get("request").filter(|r| r.is_object()).ok_or("a `request` needs a `request` object")?.clone();
                Ok(match self.request(service, request).await {
                    Ok(response) => json!({"type": "response_ok", "request_id": id, "response": response}),
                    Err(e) => json!({"type": "response_error", "request_id": id, "error": hrana::error_json(&e)}),
                })
            }
            Some(other) => Err(format!("unknown message type `{}`", other.chars().take(40).collect::<String>())),
            None => Err("a message needs a `type`".into()),
        }
    }

    async fn request(&mut self, service: &DatabaseService, mut req: Json) -> Result<Json, DbError> {
        let ty = req.get("type").and_then(Json::as_str).unwrap_or_default().to_owned();
        match ty.as_str() {
            "open_stream" => {
                let id = int(&req, "stream_id")?;
                if self.streams.contains_key(&id) {
                    return Err(invalid(format!("stream {id} is already open")));
                }
                if self.streams.len() >= MAX_STREAMS_PER_SOCKET {
                    return Err(invalid(format!("at most {MAX_STREAMS_PER_SOCKET} streams may be open on one socket")));
                }
                let target = Target { adapter: self.adapter.as_deref(), tenant: self.tenant.as_deref() };
                self.streams.insert(id, Stream::new(target));
                Ok(json!({"type": "open_stream"}))
            }
            "close_stream" => {
                // Dropping the stream rolls back a transaction left open on it.
                self.streams.remove(&int(&req, "stream_id")?);
                Ok(json!({"type": "close_stream"}))
            }
            "store_sql" => {
                let id = int(&req, "sql_id")?;
                let sql = req.get("sql").and_then(Json::as_str).ok_or_else(|| invalid("`store_sql` needs a `sql` string".into()))?;
                if self.sqls.len() >= MAX_STORED_SQL && !self.sqls.contains_key(&id) {
                    return Err(DbError::Sql { code: "SQL_STORE_FULL".into(), message: format!("at most {MAX_STORED_SQL} SQL texts may be stored per socket") });
                }
                self.sqls.insert(id, sql.to_owned());
                Ok(json!({"type": "store_sql"}))
            }
            "close_sql" => {
                self.sqls.remove(&int(&req, "sql_id")?);
                Ok(json!({"type": "close_sql"}))
            }
            "execute" | "batch" | "sequence" | "describe" | "get_autocommit" => {
                // The same request as in an HTTP pipeline, plus the `stream_id` it runs on.
                let stream = stream(&mut self.streams, &req)?;
                if let Some(o) = req.as_object_mut() {
                    o.remove("stream_id");
                }
                let out = hrana::run_request(service, stream, &mut self.sqls, req).await;
                stream.release_if_idle().await;
                out
            }
            "open_cursor" => {
                let cursor_id = int(&req, "cursor_id")?;
                if self.cursors.contains_key(&cursor_id) {
                    return Err(invalid(format!("cursor {cursor_id} is already open")));
                }
                if self.cursors.len() >= MAX_CURSORS_PER_SOCKET {
                    return Err(invalid(format!("at most {MAX_CURSORS_PER_SOCKET} cursors may be open on one socket")));
                }
                let batch = req.get_mut("batch").map(Json::take).ok_or_else(|| invalid("`open_cursor` needs a `batch`".into()))?;
                let stream = stream(&mut self.streams, &req)?;
                // The batch runs at once; the cursor hands out its entries as they are fetched.
                let out = hrana::run_request(service, stream, &mut self.sqls, json!({"type": "batch", "batch": batch})).await;
                stream.release_if_idle().await;
                let entries = match out {
                    Ok(response) => cursor_entries(&response["result"]),
                    Err(e) => VecDeque::from([json!({"type": "error", "error": hrana::error_json(&e)})]),
                };
                self.cursors.insert(cursor_id, entries);
                Ok(json!({"type": "open_cursor"}))
            }
            "fetch_cursor" => {
                let cursor_id = int(&req, "cursor_id")?;
                let max = req.get("max_count").and_then(Json::as_u64).unwrap_or(u64::MAX);
                let entries = self.cursors.get_mut(&cursor_id).ok_or_else(|| invalid(format!("cursor {cursor_id} is not open")))?;
                let n = usize::try_from(max).unwrap_or(usize::MAX).min(entries.len());
                let taken: Vec<Json> = entries.drain(..n).collect();
                Ok(json!({"type": "fetch_cursor", "entries": taken, "done": entries.is_empty()}))
            }
            "close_cursor" => {
                self.cursors.remove(&int(&req, "cursor_id")?);
                Ok(json!({"type": "close_cursor"}))
            }
            "" => Err(invalid("a request needs a `type`".into())),
            other => Err(DbError::Sql { code: "UNKNOWN_REQUEST".into(), message: format!("unknown request type `{}`", other.chars().take(40).collect::<String>()) }),
        }
    }

}

fn stream<'a>(streams: &'a mut HashMap<i64, Stream>, req: &Json) -> Result<&'a mut Stream, DbError> {
    let id = int(req, "stream_id")?;
    streams.get_mut(&id).ok_or_else(|| DbError::Sql { code: "STREAM_NOT_FOUND".into(), message: format!("stream {id} is not open") })
}

/// The entries of a cursor over a batch's result (`step_results`/`step_errors`, as the HTTP
/// side answers it): per step that ran, its columns, rows and counts, or its error.
fn cursor_entries(result: &Json) -> VecDeque<Json> {
    let mut entries = VecDeque::new();
    let results = result["step_results"].as_array().map(Vec::as_slice).unwrap_or_default();
    let errors = result["step_errors"].as_array().map(Vec::as_slice).unwrap_or_default();
    for (step, r) in results.iter().enumerate() {
        if let Some(e) = errors.get(step).filter(|e| !e.is_null()) {
            entries.push_back(json!({"type": "step_error", "step": step, "error": e}));
            continue;
        }
        if r.is_null() {
            continue; // skipped by its condition
        }
        entries.push_back(json!({"type": "step_begin", "step": step, "cols": r["cols"]}));
        for row in r["rows"].as_array().into_iter().flatten() {
            entries.push_back(json!({"type": "row", "row": row}));
        }
        entries.push_back(json!({"type": "step_end", "affected_row_count": r["affected_row_count"], "last_insert_rowid": r["last_insert_rowid"]}));
    }
    entries
}

fn int(req: &Json, field: &str) -> Result<i64, DbError> {
    req.get(field).and_then(Json::as_i64).ok_or_else(|| invalid(format!("the request needs an integer `{field}`")))
}

fn invalid(message: String) -> DbError {
    DbError::Sql { code: "INVALID_REQUEST".into(), message }
}
