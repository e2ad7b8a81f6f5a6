//! HRANA over WebSocket (hrana3 JSON) against the plugin's routes on a real listener: streams
//! pin a connection so a transaction spans messages, cursors, stored SQL and protocol errors.

mod support;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Serves the plugin's router (as mounted at its base) on 127.0.0.1; returns its address.
async fn listen(db: &support::Db) -> std::net::SocketAddr {
    let router = db.h.generation().plugins[0].router.clone().expect("the database plugin has routes");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// Connects offering `protocol` (a `Sec-WebSocket-Protocol` list) and says `hello`; the server
/// picks the first of hrana3 and hrana2 the list holds (hrana3-protobuf is not served).
async fn connect(addr: std::net::SocketAddr, path: &str, protocol: &str) -> Socket {
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", protocol.parse().unwrap());
    let (mut socket, res) = tokio_tungstenite::connect_async(req).await.expect("upgrade failed");
    let picked = if protocol.contains("hrana3,") || protocol.ends_with("hrana3") { "hrana3" } else { "hrana2" };
    assert_eq!(res.headers()["sec-websocket-protocol"], picked);
    socket.send(Message::text(json!({"type": "hello", "jwt": null}).to_string())).await.unwrap();
    assert_eq!(recv(&mut socket).await, json!({"type": "hello_ok"}));
    socket
}

async fn recv(socket: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(5), socket.next()).await.expect("no message within 5 s");
        match msg.expect("socket ended").expect("socket failed") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Sends one request and returns its response (`response_ok`'s `response`, or the whole
/// `response_error` message).
async fn request(socket: &mut Socket, id: i64, request: Value) -> Value {
    socket.send(Message::text(json!({"type": "request", "request_id": id, "request": request}).to_string())).await.unwrap();
    let reply = recv(socket).await;
    assert_eq!(reply["request_id"], id, "{reply}");
    if reply["type"] == "response_ok" { reply["response"].clone() } else { reply }
}

fn execute(stream: i64, sql: &str) -> Value {
    json!({"type": "execute", "stream_id": stream, "stmt": {"sql": sql}})
}

fn count(res: &Value) -> Value {
    res["result"]["rows"][0][0]["value"].clone()
}

#[tokio::test]
async fn a_stream_pins_its_connection_so_begin_commit_spans_messages() {
    let db = support::start().await;
    let addr = listen(&db).await;
    let mut ws = connect(addr, "/api/ws", "hrana3").await;
    assert_eq!(request(&mut ws, 1, json!({"type": "open_stream", "stream_id": 1})).await, json!({"type": "open_stream"}));
    assert_eq!(request(&mut ws, 2, json!({"type": "open_stream", "stream_id": 2})).await, json!({"type": "open_stream"}));
    request(&mut ws, 3, execute(1, "CREATE TABLE t (v)")).await;
    request(&mut ws, 4, execute(1, "BEGIN")).await;
    let inserted = request(&mut ws, 5, execute(1, "INSERT INTO t VALUES (1)")).await;
    assert_eq!(inserted["result"]["affected_row_count"], 1, "{inserted}");
    let auto = request(&mut ws, 6, json!({"type": "get_autocommit", "stream_id": 1})).await;
    assert_eq!(auto, json!({"type": "get_autocommit", "is_autocommit": false}));
    assert_eq!(count(&request(&mut ws, 7, execute(2, "SELECT count(*) FROM t")).await), "0", "the other stream does not see the uncommitted row");
    request(&mut ws, 8, execute(1, "COMMIT")).await;
    assert_eq!(count(&request(&mut ws, 9, execute(2, "SELECT count(*) FROM t")).await), "1", "committed, now it does");
    // A transaction left open when its stream closes rolls back.
    request(&mut ws, 10, execute(1, "BEGIN")).await;
    request(&mut ws, 11, execute(1, "INSERT INTO t VALUES (2)")).await;
    assert_eq!(request(&mut ws, 12, json!({"type": "close_stream", "stream_id": 1})).await, json!({"type": "close_stream"}));
    assert_eq!(count(&request(&mut ws, 13, execute(2, "SELECT count(*) FROM t")).await), "1");
    // The HTTP side sees the same data.
    let (_, body) = db.pipeline("/database/api/v3/pipeline", None, json!([support::exec("SELECT count(*) FROM t"), {"type": "close"}])).await;
    assert_eq!(body["results"][0]["response"]["result"]["rows"][0][0]["value"], "1");
}

#[tokio::test]
async fn batches_cursors_stored_sql_and_describe() {
    let db = support::start().await;
    let addr = listen(&db).await;
    // `ws://host/database/api` (what @libsql/client is given) connects to `/api` itself.
    let mut ws = connect(addr, "/api", "hrana3-protobuf, hrana3, hrana2").await;
    request(&mut ws, 1, json!({"type": "open_stream", "stream_id": 7})).await;
    assert_eq!(request(&mut ws, 2, json!({"type": "store_sql", "sql_id": 3, "sql": "INSERT INTO t VALUES (?)"})).await, json!({"type": "store_sql"}));
    let seq = request(&mut ws, 3, json!({"type": "sequence", "stream_id": 7, "sql": "CREATE TABLE t (v); INSERT INTO t VALUES ('a');"})).await;
    assert_eq!(seq, json!({"type": "sequence"}));
    let stored = json!({"type": "execute", "stream_id": 7, "stmt": {"sql_id": 3, "args": [{"type": "text", "value": "b"}]}});
    assert_eq!(request(&mut ws, 4, stored).await["result"]["last_insert_rowid"], "2");
    let batch = json!({"steps": [
        {"stmt": {"sql": "SELECT v FROM t ORDER BY v"}},
        {"stmt": {"sql": "SELECT nope FROM t"}},
        {"condition": {"type": "ok", "step": 1}, "stmt": {"sql": "SELECT 1"}},
    ]});
    let res = request(&mut ws, 5, json!({"type": "batch", "stream_id": 7, "batch": batch.clone()})).await;
    assert_eq!(res["result"]["step_results"][0]["rows"], json!([[{"type": "text", "value": "a"}], [{"type": "text", "value": "b"}]]), "{res}");
    assert!(res["result"]["step_errors"][1]["message"].as_str().unwrap().contains("nope"), "{res}");
    assert_eq!(res["result"]["step_results"][2], Value::Null, "skipped by its condition");
    // hrana3 clients run batches through cursors.
    assert_eq!(request(&mut ws, 6, json!({"type": "open_cursor", "stream_id": 7, "cursor_id": 1, "batch": batch})).await, json!({"type": "open_cursor"}));
    let first = request(&mut ws, 7, json!({"type": "fetch_cursor", "cursor_id": 1, "max_count": 2})).await;
    assert_eq!(first["entries"][0]["type"], "step_begin", "{first}");
    assert_eq!(first["entries"][1], json!({"type": "row", "row": [{"type": "text", "value": "a"}]}));
    assert_eq!(first["done"], false);
    let rest = request(&mut ws, 8, json!({"type": "fetch_cursor", "cursor_id": 1, "max_count": 100})).await;
    let types: Vec<&str> = rest["entries"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["row", "step_end", "step_error"], "{rest}");
    assert_eq!(rest["done"], true);
    assert_eq!(request(&mut ws, 9, json!({"type": "close_cursor", "cursor_id": 1})).await, json!({"type": "close_cursor"}));
    let described = request(&mut ws, 10, json!({"type": "describe", "stream_id": 7, "sql": "SELECT v FROM t WHERE v = ?"})).await;
    assert_eq!(described["result"]["params"].as_array().map(Vec::len), Some(1), "{described}");
}

#[tokio::test]
async fn request_errors_answer_in_band_and_malformed_messages_close_with_1002() {
    let db = support::start().await;
    let addr = listen(&db).await;
    let mut ws = connect(addr, "/api/ws", "hrana2").await;
    let err = request(&mut ws, 1, execute(9, "SELECT 1")).await;
    assert_eq!(err["type"], "response_error");
    assert_eq!(err["error"]["code"], "STREAM_NOT_FOUND", "{err}");
    request(&mut ws, 2, json!({"type": "open_stream", "stream_id": 1})).await;
    let err = request(&mut ws, 3, execute(1, "SELEC nonsense")).await;
    assert_eq!(err["type"], "response_error", "{err}");
    let err = request(&mut ws, 4, json!({"type": "frobnicate"})).await;
    assert_eq!(err["error"]["code"], "UNKNOWN_REQUEST", "{err}");
    // The socket still works after errors.
    assert_eq!(count(&request(&mut ws, 5, execute(1, "SELECT 42")).await), "42");
    ws.send(Message::text("{not json")).await.unwrap();
    match tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await.unwrap() {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(u16::from(frame.code), 1002);
            assert!(frame.reason.as_str().contains("invalid JSON"), "{}", frame.reason);
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // The plugin keeps serving.
    let mut again = connect(addr, "/api/ws", "hrana3").await;
    request(&mut again, 1, json!({"type": "open_stream", "stream_id": 1})).await;
    assert_eq!(count(&request(&mut again, 2, execute(1, "SELECT 1")).await), "1");
}

#[tokio::test]
async fn an_upgrade_without_a_hrana_subprotocol_is_refused() {
    let db = support::start().await;
    let addr = listen(&db).await;
    let err = tokio_tungstenite::connect_async(format!("ws://{addr}/api/ws")).await.expect_err("no subprotocol offered");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(res) => assert_eq!(res.status(), 400),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

#[tokio::test]
async fn namespace_header_of_the_upgrade_selects_the_tenant() {
    let db = support::start().await;
    let addr = listen(&db).await;
    let mut req = format!("ws://{addr}/api/ws").into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", "hrana3".parse().unwrap());
    req.headers_mut().insert("x-database-namespace", "acme".parse().unwrap());
    let (mut acme, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    acme.send(Message::text(json!({"type": "hello"}).to_string())).await.unwrap();
    recv(&mut acme).await;
    request(&mut acme, 1, json!({"type": "open_stream", "stream_id": 1})).await;
    let created = request(&mut acme, 2, execute(1, "CREATE TABLE only_acme (v)")).await;
    assert_eq!(created["type"], "execute", "{created}");
    let mut root = connect(addr, "/api/ws", "hrana3").await;
    request(&mut root, 1, json!({"type": "open_stream", "stream_id": 1})).await;
    let err = request(&mut root, 2, execute(1, "SELECT * FROM only_acme")).await;
    assert_eq!(err["type"], "response_error", "the root database has no such table: {err}");
}
