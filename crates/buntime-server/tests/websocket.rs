//! WebSockets through the real listener and pipeline: a native plugin's route upgrades, frames
//! echo both ways, close codes pass through, a socket stays on its generation over a reload and is
//! closed with 1001 when that generation retires or the runtime stops.

mod support;

use futures_util::{SinkExt, StreamExt};
use support::{Fixture, post};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(h: &buntime_server::RuntimeHandle, path: &str) -> Socket {
    let url = format!("{}{path}", h.url()).replacen("http://", "ws://", 1);
    let (socket, res) = tokio_tungstenite::connect_async(url).await.expect("upgrade failed");
    assert_eq!(res.status(), 101);
    assert!(res.headers().contains_key("x-buntime-generation"), "the 101 is stamped like any answer");
    socket
}

/// The next data or close frame (pings and pongs skipped).
async fn next(socket: &mut Socket) -> Message {
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(5), socket.next()).await.expect("no frame within 5 s");
        match msg.expect("socket ended").expect("socket failed") {
            Message::Ping(_) | Message::Pong(_) => {}
            m => return m,
        }
    }
}

async fn ask(socket: &mut Socket, text: &str) -> String {
    socket.send(Message::text(text)).await.unwrap();
    match next(socket).await {
        Message::Text(t) => t.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

#[tokio::test]
async fn a_native_plugin_route_echoes_text_and_binary_frames() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start().await;
    let mut socket = connect(&h, "/web/ws").await;
    assert_eq!(ask(&mut socket, "hello").await, "hello");
    let big = "x".repeat(200_000);
    assert_eq!(ask(&mut socket, &big).await, big, "a frame larger than one read");
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    socket.send(Message::binary(bytes.clone())).await.unwrap();
    match next(&mut socket).await {
        Message::Binary(b) => assert_eq!(b.as_ref(), bytes.as_slice()),
        other => panic!("expected binary, got {other:?}"),
    }
    // The HTTP side of the same runtime still answers while the socket is open.
    assert_eq!(support::get(&h, "/web/echo").await.status, 200);
}

#[tokio::test]
async fn the_plugins_close_code_reaches_the_client() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start().await;
    let mut socket = connect(&h, "/web/ws").await;
    socket.send(Message::text("close:4001")).await.unwrap();
    match next(&mut socket).await {
        Message::Close(Some(frame)) => assert_eq!((u16::from(frame.code), frame.reason.as_str()), (4001, "asked to")),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn the_clients_close_code_reaches_the_plugin_and_is_echoed() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start().await;
    let mut socket = connect(&h, "/web/ws").await;
    socket.send(Message::Close(Some(CloseFrame { code: CloseCode::from(4002), reason: "bye".into() }))).await.unwrap();
    match next(&mut socket).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4002),
        other => panic!("expected the close echoed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_socket_survives_a_plugin_reload_on_its_generation() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start().await;
    let mut old = connect(&h, "/web/ws").await;
    assert_eq!(ask(&mut old, "whoami").await, "web:1");
    let res = post(&h, "/api/plugins/reload").await;
    assert_eq!(res.status, 200, "{}", res.body);
    let mut new = connect(&h, "/web/ws").await;
    assert_eq!(ask(&mut new, "whoami").await, "web:2", "new sockets go to the new generation");
    assert_eq!(ask(&mut old, "whoami").await, "web:1", "the open socket stays on its generation");
    assert_eq!(ask(&mut old, "still here").await, "still here");
}

#[tokio::test]
async fn a_plain_get_to_a_websocket_route_is_refused_not_hung() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start().await;
    let res = support::get(&h, "/web/ws").await;
    assert!(res.status >= 400 && res.status < 500, "status {}", res.status);
}

async fn expect_going_away(socket: &mut Socket) {
    match next(socket).await {
        Message::Close(Some(frame)) => assert_eq!((u16::from(frame.code), frame.reason.as_str()), (1001, "server going away")),
        other => panic!("expected a 1001 close, got {other:?}"),
    }
}

#[tokio::test]
async fn a_socket_on_a_retired_generation_is_closed_with_1001_after_the_drain_grace() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start_with(&[("RUNTIME_SHUTDOWN_GRACE_MS", "600")]).await;
    let mut old = connect(&h, "/web/ws").await;
    assert_eq!(ask(&mut old, "whoami").await, "web:1");
    let reloaded = std::time::Instant::now();
    assert_eq!(post(&h, "/api/plugins/reload").await.status, 200);
    assert_eq!(ask(&mut old, "whoami").await, "web:1", "inside the grace the socket still works");
    assert!(f.journal.matching("shutdown:web:1").is_empty(), "generation 1 waits for its socket");
    expect_going_away(&mut old).await;
    let waited = reloaded.elapsed();
    assert!(waited >= std::time::Duration::from_millis(500), "closed after {waited:?}, before the grace ended");
    // The handler let go of the socket, so generation 1's plugins shut down right after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while f.journal.matching("shutdown:web:1").is_empty() {
        assert!(std::time::Instant::now() < deadline, "generation 1 never shut down: {:?}", f.journal.entries());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut new = connect(&h, "/web/ws").await;
    assert_eq!(ask(&mut new, "whoami").await, "web:2", "the live generation's sockets are untouched");
}

#[tokio::test]
async fn a_retired_generation_without_sockets_shuts_down_without_waiting_for_the_grace() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start_with(&[("RUNTIME_SHUTDOWN_GRACE_MS", "30000")]).await;
    let mut socket = connect(&h, "/web/ws").await;
    socket.close(None).await.unwrap();
    while let Some(Ok(_)) = socket.next().await {}
    assert_eq!(post(&h, "/api/plugins/reload").await.status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while f.journal.matching("shutdown:web:1").is_empty() {
        assert!(std::time::Instant::now() < deadline, "a closed socket must not hold its generation for the 30 s grace");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn shutdown_closes_open_sockets_with_1001() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start_with(&[("RUNTIME_SHUTDOWN_GRACE_MS", "10000")]).await;
    let mut socket = connect(&h, "/web/ws").await;
    assert_eq!(ask(&mut socket, "whoami").await, "web:1");
    let started = std::time::Instant::now();
    let stopping = tokio::spawn(h.shutdown());
    expect_going_away(&mut socket).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "sockets are closed at the start of the drain, not after the grace");
    tokio::time::timeout(std::time::Duration::from_secs(10), stopping).await.expect("shutdown hung").unwrap().unwrap();
    assert_eq!(f.journal.matching("shutdown:web:1").len(), 1);
}

#[tokio::test]
async fn an_on_request_hook_can_accept_the_upgrade_and_its_socket_gets_1001_on_shutdown() {
    let f = Fixture::new();
    f.plugin("a", "name: gate\nbase: /gate\naction: upgrade\n");
    let h = f.start_with(&[("RUNTIME_SHUTDOWN_GRACE_MS", "10000")]).await;
    let mut socket = connect(&h, "/gate/anything").await;
    assert_eq!(ask(&mut socket, "whoami").await, "hook gate:1", "the hook's handler holds the socket");
    assert_eq!(ask(&mut socket, "echo me").await, "echo me");
    assert_eq!(support::get(&h, "/gate/plain").await.status, 404, "plain requests pass the hook");
    let stopping = tokio::spawn(h.shutdown());
    expect_going_away(&mut socket).await;
    stopping.await.unwrap().unwrap();
}

#[tokio::test]
async fn upgrades_over_the_runtimes_socket_limit_are_answered_503_across_generations() {
    let f = Fixture::new();
    f.plugin("a", "name: web\nbase: /web\nroutes: true\n");
    let h = f.start_with(&[("RUNTIME_MAX_WEBSOCKETS", "2")]).await;
    let mut old = connect(&h, "/web/ws").await;
    assert_eq!(post(&h, "/api/plugins/reload").await.status, 200);
    let mut new = connect(&h, "/web/ws").await;
    let url = format!("{}/web/ws", h.url()).replacen("http://", "ws://", 1);
    match tokio_tungstenite::connect_async(url.clone()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 503);
            assert_eq!(res.headers()["retry-after"], "5");
            let body: serde_json::Value = serde_json::from_slice(res.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["code"], "TOO_MANY_WEBSOCKETS", "{body}");
        }
        other => panic!("a third socket must be refused, got {other:?}"),
    }
    assert_eq!(ask(&mut old, "whoami").await, "web:1", "open sockets are untouched by the refusal");
    assert_eq!(support::get(&h, "/web/echo").await.status, 200, "plain HTTP is not limited");
    new.close(None).await.unwrap();
    while let Some(Ok(_)) = new.next().await {}
    let mut again = connect(&h, "/web/ws").await;
    assert_eq!(ask(&mut again, "whoami").await, "web:2", "a closed socket frees its place");
}
