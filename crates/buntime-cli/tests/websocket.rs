//! WebSockets to a worker app through the real binary: the app's `server.upgrade()` and
//! `websocket` handlers in Bun.serve style, frames both ways, close codes, a refused upgrade, and
//! 1001 when the runtime stops.

mod support;

use std::path::Path;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use support::{PROJECT_BUN, buntime};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const APP: &str = r#"export default {
  fetch(req, server) {
    const url = new URL(req.url);
    if (url.pathname === "/private") return new Response("sign in first", { status: 401 });
    const data = { who: url.searchParams.get("who") ?? "anon", base: req.headers.get("x-base") };
    if (server.upgrade(req, { data })) return;
    return new Response("plain http");
  },
  websocket: {
    open(ws) { ws.send(`hello ${ws.data.who} at ${ws.data.base}`); },
    message(ws, msg) {
      if (msg === "bye") ws.close(4005, "app says bye");
      else ws.send(msg);
    },
  },
};"#;

/// A runtime serving the echo app at `/chat`, or `None` when Bun is not installed.
fn runtime(dir: &Path) -> Option<support::Started> {
    if !Path::new(PROJECT_BUN).is_file() {
        assert!(std::env::var_os("CI").is_none(), "Bun is missing under CI (run scripts/setup.sh)");
        eprintln!("skipping: Bun is not installed (run scripts/setup.sh)");
        return None;
    }
    let app = dir.join("apps/chat");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("manifest.yaml"), "ttl: 30s\ntimeout: 10s\n").unwrap();
    std::fs::write(app.join("index.ts"), APP).unwrap();
    let apps = dir.join("apps");
    Some(support::start(buntime(dir, &[("RUNTIME_WORKER_DIRS", apps.to_str().unwrap()), ("BUNTIME_BUN", PROJECT_BUN)])))
}

async fn connect(url: &str, path: &str) -> Socket {
    let url = format!("{url}{path}").replacen("http://", "ws://", 1);
    let (socket, res) = tokio_tungstenite::connect_async(url).await.expect("upgrade failed");
    assert_eq!(res.status(), 101);
    socket
}

/// The next data or close frame (pings and pongs skipped).
async fn next(socket: &mut Socket) -> Message {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("no frame within 10 s");
        match msg.expect("socket ended").expect("socket failed") {
            Message::Ping(_) | Message::Pong(_) => {}
            m => return m,
        }
    }
}

fn close_of(msg: Message) -> (u16, String) {
    match msg {
        Message::Close(Some(f)) => (u16::from(f.code), f.reason.as_str().to_owned()),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_app_upgrades_in_bun_serve_style_and_frames_flow_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let Some(rt) = runtime(dir.path()) else { return };
    let mut socket = connect(&rt.url, "/chat?who=ada").await;
    assert_eq!(next(&mut socket).await, Message::text("hello ada at /chat"), "upgrade data and x-base reach the app");
    socket.send(Message::text("ping?")).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::text("ping?"));
    let big = "y".repeat(300_000);
    socket.send(Message::text(big.clone())).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::text(big), "a message larger than one read");
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    socket.send(Message::binary(bytes.clone())).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::binary(bytes));
    // Plain HTTP to the same app still answers while the socket is open.
    let out = std::process::Command::new("curl").args(["-s", &format!("{}/chat", rt.url)]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "plain http");
    socket.send(Message::text("bye")).await.unwrap();
    assert_eq!(close_of(next(&mut socket).await), (4005, "app says bye".to_owned()), "the app's close code reaches the client");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_clients_close_code_reaches_the_app_and_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let Some(rt) = runtime(dir.path()) else { return };
    let mut socket = connect(&rt.url, "/chat").await;
    next(&mut socket).await;
    socket.send(Message::Close(Some(CloseFrame { code: CloseCode::from(4002), reason: "client leaves".into() }))).await.unwrap();
    assert_eq!(close_of(next(&mut socket).await).0, 4002);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_the_app_refuses_is_its_http_answer() {
    let dir = tempfile::tempdir().unwrap();
    let Some(rt) = runtime(dir.path()) else { return };
    let url = format!("{}/chat/private", rt.url).replacen("http://", "ws://", 1);
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 401);
            assert_eq!(res.body().as_deref(), Some(b"sign in first".as_slice()));
        }
        other => panic!("expected the app's 401, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_closes_sockets_to_workers_with_1001() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut rt) = runtime(dir.path()) else { return };
    let mut socket = connect(&rt.url, "/chat").await;
    next(&mut socket).await;
    std::process::Command::new("kill").args(["-TERM", &rt.child.id().to_string()]).status().unwrap();
    assert_eq!(close_of(next(&mut socket).await), (1001, "server going away".to_owned()));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while rt.child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "the runtime did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const HONO_PLUGIN: &str = r#"
import { Hono } from "hono";
import { upgradeWebSocket, websocket } from "hono/bun";
const routes = new Hono().get("/ws", upgradeWebSocket((c) => ({
  onOpen(_e, ws) { ws.send(`hono hello ${c.req.query("who")}`); },
  onMessage(e, ws) { e.data === "bye" ? ws.close(4010, "hono bye") : ws.send(`hono: ${e.data}`); },
})));
export default { routes, websocket };
"#;

const BUN_STYLE_PLUGIN: &str = r#"
let server;
export default {
  onServerStart(s) { server = s; },
  routes: {
    fetch(req) {
      const topic = new URL(req.url).searchParams.get("room") ?? "lobby";
      if (server.upgrade(req, { data: { topic } })) return;
      return new Response(`no upgrade; server at ${server.url} port ${server.port}`);
    },
  },
  websocket: {
    open(ws) { ws.subscribe(ws.data.topic); ws.send(`joined ${ws.data.topic}`); },
    message(ws, msg) { server.publish(ws.data.topic, `${ws.data.topic}: ${msg}`); },
  },
};
"#;

/// A runtime whose plugin dir holds the two TypeScript plugins above, or `None` without Bun.
fn js_runtime(dir: &Path) -> Option<support::Started> {
    if !Path::new(PROJECT_BUN).is_file() {
        assert!(std::env::var_os("CI").is_none(), "Bun is missing under CI (run scripts/setup.sh)");
        eprintln!("skipping: Bun is not installed (run scripts/setup.sh)");
        return None;
    }
    let plugins = dir.join("plugins");
    for (name, code) in [("hono-ws", HONO_PLUGIN), ("bun-ws", BUN_STYLE_PLUGIN)] {
        let d = plugins.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("manifest.yaml"), format!("name: {name}\nbase: /{name}\n")).unwrap();
        std::fs::write(d.join("plugin.ts"), code).unwrap();
        std::os::unix::fs::symlink(Path::new(support::REPO).join("node_modules"), d.join("node_modules")).unwrap();
    }
    Some(support::start(buntime(dir, &[("RUNTIME_PLUGIN_DIRS", plugins.to_str().unwrap()), ("BUNTIME_BUN", PROJECT_BUN)])))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typescript_plugins_hono_upgrade_websocket_route_works_through_the_plugin_host() {
    let dir = tempfile::tempdir().unwrap();
    let Some(rt) = js_runtime(dir.path()) else { return };
    let mut socket = connect(&rt.url, "/hono-ws/ws?who=lin").await;
    assert_eq!(next(&mut socket).await, Message::text("hono hello lin"));
    socket.send(Message::text("hi")).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::text("hono: hi"));
    socket.send(Message::text("bye")).await.unwrap();
    assert_eq!(close_of(next(&mut socket).await), (4010, "hono bye".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_originals_on_server_start_upgrade_publish_and_websocket_handlers_work() {
    let dir = tempfile::tempdir().unwrap();
    let Some(rt) = js_runtime(dir.path()) else { return };
    let mut a = connect(&rt.url, "/bun-ws/?room=r1").await;
    let mut b = connect(&rt.url, "/bun-ws/?room=r1").await;
    let mut other = connect(&rt.url, "/bun-ws/?room=r2").await;
    for s in [&mut a, &mut b] {
        assert_eq!(next(s).await, Message::text("joined r1"));
    }
    assert_eq!(next(&mut other).await, Message::text("joined r2"));
    a.send(Message::text("hello room")).await.unwrap();
    assert_eq!(next(&mut b).await, Message::text("r1: hello room"), "publish reaches the room's other socket");
    assert_eq!(next(&mut a).await, Message::text("r1: hello room"), "and the sender, as Bun's publish does");
    other.send(Message::text("elsewhere")).await.unwrap();
    assert_eq!(next(&mut other).await, Message::text("r2: elsewhere"), "rooms are apart");
    // Plain HTTP to the same route answers normally and sees the runtime's own address.
    let out = std::process::Command::new("curl").args(["-s", &format!("{}/bun-ws/", rt.url)]).output().unwrap();
    let port = rt.url.rsplit(':').next().unwrap().trim_end_matches('/');
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("no upgrade; server at {}/ port {port}", rt.url));
}
