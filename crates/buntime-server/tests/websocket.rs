//! WebSockets through the real listener and pipeline: a native plugin's route upgrades, frames
//! echo both ways, close codes pass through, and a socket stays on its generation over a reload.

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
