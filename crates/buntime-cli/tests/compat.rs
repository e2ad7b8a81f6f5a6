//! Compatibility with the original's TypeScript plugins, over HTTP against the real binary: each
//! plugin here is written the way the original's are (a default-export factory returning a
//! `PluginImpl` with `onInit` / `onRequest` / `onResponse` and Hono `routes`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod support;

use support::{PROJECT_BUN, REPO, buntime};

/// A gateway in the original's shape: CORS preflight in `onRequest`, CORS headers in `onResponse`.
const GATEWAY: &str = r#"import { Hono } from "hono";
import type { PluginImpl } from "@buntime/shared/types";

export default function gatewayPlugin(config: any): PluginImpl {
  const cors = config.cors ?? { origin: "*" };
  let pool: any;
  let shell: { dir: string; config: Record<string, unknown> } | null = null;
  const routes = new Hono()
    .get("/api/stats", (c) => c.json({ ok: true }))
    .get("/api/resolve/:spec", async (c) => c.json(await ctxRef.resolveApp(c.req.param("spec"))));
  let ctxRef: any;
  return {
    routes,
    async onInit(ctx: any) {
      ctxRef = ctx;
      pool = ctx.pool;
      // The micro-frontend shell: an app found by the runtime's resolver, served through the pool.
      if (config.shell?.app) shell = await ctx.resolveApp(config.shell.app);
    },
    onRequest(req) {
      if (req.method === "OPTIONS" && req.headers.get("access-control-request-method")) {
        return new Response(null, { status: 204, headers: { "access-control-allow-origin": cors.origin, "access-control-max-age": "600" } });
      }
      const path = new URL(req.url).pathname;
      const excluded = (config.shell?.excludes ?? []).some((e: string) => path === e || path.startsWith(e + "/"));
      if (shell && req.headers.get("sec-fetch-dest") === "document" && !excluded) {
        return pool.fetch(shell.dir, shell.config, req);
      }
    },
    onResponse(res) {
      res.headers.set("access-control-allow-origin", cors.origin);
      res.headers.set("access-control-expose-headers", "x-request-id");
      return res;
    },
  };
}
"#;

/// The gateway's shell app: answers every path it is given.
const SHELL_APP: &str = r#"export default {
  fetch(req: Request) {
    return new Response(`shell for ${new URL(req.url).pathname}`, { headers: { "x-shell": "1" } });
  },
};
"#;

/// A plugin with an SSE route that ticks forever (like the gateway's and metrics' `/api/sse`).
const EVENTS: &str = r#"import { Hono } from "hono";

export default function eventsPlugin(config: Record<string, unknown>) {
  const routes = new Hono()
    .get("/api/sse", () => {
      let timer: ReturnType<typeof setInterval>;
      let n = 0;
      const body = new ReadableStream({
        start(c) {
          const tick = () => c.enqueue(new TextEncoder().encode(`data: tick ${n++}\n\n`));
          tick();
          timer = setInterval(tick, 100);
        },
        cancel() { clearInterval(timer); },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
    })
    .get("/api/config", (c) => c.json(config));
  return { routes };
}
"#;

/// The original's deployments plugin fills `menus[0].items` in `onInit`.
const DEPLOYMENTS: &str = r#"export default function deploymentsPlugin(config: any) {
  return {
    onInit(ctx: any) {
      ctx.config.menus[0].items = [{ title: "Apps", icon: "lucide:box", path: "/deployments/apps" }];
    },
  };
}
"#;

/// Routes under `/auth/api`; everything else under `/auth` is its UI.
const AUTHN: &str = r#"import { Hono } from "hono";

export default function authnPlugin() {
  return { routes: new Hono().get("/api/session", (c) => c.json({ user: null })) };
}
"#;

/// An app that streams server-sent events through the worker pool.
const TICKER_APP: &str = r#"export default {
  fetch() {
    let timer: ReturnType<typeof setInterval>;
    const body = new ReadableStream({
      start(c) {
        const tick = () => c.enqueue(new TextEncoder().encode("data: app tick\n\n"));
        tick();
        timer = setInterval(tick, 100);
      },
      cancel() { clearInterval(timer); },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  },
};
"#;

/// Writes `files` under `root`.
fn write(root: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// The plugin and app tree the tests share.
fn tree(root: &Path) {
    std::os::unix::fs::symlink(Path::new(REPO).join("node_modules"), root.join("node_modules")).unwrap();
    write(
        root,
        &[
            (
                "plugins/gateway/manifest.yaml",
                "name: \"@buntime/plugin-gateway\"\nbase: /gateway\ncors:\n  origin: \"*\"\nshell:\n  app: shell\n  excludes: [/auth, /gateway]\n",
            ),
            ("plugins/gateway/plugin.ts", GATEWAY),
            (
                "plugins/events/manifest.yaml",
                "name: \"@buntime/plugin-events\"\nbase: /events\ndependencies: [\"@buntime/plugin-gateway\"]\nzeta: 1\nalpha: { b: 2, a: 1 }\nmiddle: true\n",
            ),
            ("plugins/events/plugin.ts", EVENTS),
            (
                "plugins/deployments/manifest.yaml",
                "name: \"@buntime/plugin-deployments\"\nbase: /deployments\nmenus:\n  - title: Deployments\n    icon: lucide:rocket\n    path: /deployments\n",
            ),
            ("plugins/deployments/plugin.ts", DEPLOYMENTS),
            // The original's vhosts manifest: `base: ""` is "no base".
            ("plugins/vhosts/manifest.yaml", "name: \"@buntime/plugin-vhosts\"\nbase: \"\"\nhosts: {}\n"),
            ("plugins/vhosts/plugin.ts", "export default () => ({ server: { fetch: () => new Response(null, { status: 404 }) } });\n"),
            // A disabled plugin whose manifest is wrong must never block start-up or a reload.
            ("plugins/off/manifest.yaml", "name: off\nbase: not-a-base\nenabled: false\n"),
            // A plugin with routes and an `entrypoint` UI (the original's authn: `/auth/login` is the UI).
            ("plugins/authn/manifest.yaml", "name: \"@buntime/plugin-authn\"\nbase: /auth\nentrypoint: index.html\n"),
            ("plugins/authn/plugin.ts", AUTHN),
            ("plugins/authn/index.html", "<!doctype html><html><head></head><body>authn ui</body></html>\n"),
            ("apps/shell/manifest.yaml", "ttl: 30s\ntimeout: 10s\nidleTimeout: 15s\n"),
            ("apps/shell/index.ts", SHELL_APP),
            ("apps/ticker/manifest.yaml", "ttl: 30s\ntimeout: 10s\nidleTimeout: 15s\n"),
            ("apps/ticker/index.ts", TICKER_APP),
        ],
    );
}

/// Starts the runtime on a tree made by `setup`, with the project's Bun.
fn start(root: &Path) -> support::Started {
    let (plugins, apps) = (root.join("plugins"), root.join("apps"));
    support::start(buntime(root, &[
        ("BUNTIME_BUN", PROJECT_BUN),
        ("RUNTIME_PLUGIN_DIRS", plugins.to_str().unwrap()),
        ("RUNTIME_WORKER_DIRS", apps.to_str().unwrap()),
    ]))
}

fn skip() -> bool {
    if Path::new(PROJECT_BUN).is_file() {
        return false;
    }
    eprintln!("skipping: Bun is not installed (run scripts/setup.sh)");
    true
}

/// Runs curl with `args` against `url`; returns the status, the response head and the body.
fn curl(url: &str, args: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl").args(["-s", "-i", "-m", "20"]).args(args).arg(url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// Reads an SSE stream for `secs` seconds and returns the head and whatever body arrived.
fn sse(url: &str, secs: u32) -> (String, String) {
    let out = Command::new("curl").args(["-s", "-i", "-N", "-m", &secs.to_string(), url]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_ascii_lowercase(), body.to_owned())
}

/// A runtime serving the plugins and apps of [`tree`] in a fresh directory (kept alive by the
/// returned `TempDir`); `None` when Bun is not installed.
fn started() -> Option<(tempfile::TempDir, support::Started)> {
    if skip() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let rt = start(dir.path());
    Some((dir, rt))
}

/// The `/api/plugins/loaded` entry of plugin `name`.
fn loaded_plugin(rt: &support::Started, name: &str) -> serde_json::Value {
    let (status, _, body) = curl(&format!("{}/api/plugins/loaded", rt.url), &[]);
    assert_eq!(status, 200, "{body}");
    let loaded: serde_json::Value = serde_json::from_str(&body).unwrap();
    loaded.as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name} is loaded: {body}")).clone()
}

#[test]
fn sse_routes_and_sse_apps_stream_at_once_behind_a_cors_on_response() {
    let Some((_dir, rt)) = started() else { return };
    let started = Instant::now();
    let (head, body) = sse(&format!("{}/events/api/sse", rt.url), 2);
    assert!(head.contains("content-type: text/event-stream"), "no head within 2 s: {head:?}");
    assert!(head.contains("access-control-allow-origin: *"), "the gateway's onResponse ran: {head}");
    assert!(body.matches("data: tick").count() >= 3, "the body kept streaming after the hooks: {body:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The same for an app's SSE through the worker pool.
    let (head, body) = sse(&format!("{}/ticker", rt.url), 3);
    assert!(head.contains("content-type: text/event-stream") && head.contains("access-control-allow-origin: *"), "{head}");
    assert!(body.matches("data: app tick").count() >= 3, "{body:?}");
    // Buffered responses still get the headers, their bodies intact.
    let (status, head, body) = curl(&format!("{}/gateway/api/stats", rt.url), &[]);
    assert_eq!((status, body.as_str()), (200, r#"{"ok":true}"#), "{head}");
    assert!(head.contains("access-control-allow-origin: *") && head.contains("access-control-expose-headers: x-request-id"), "{head}");
}

#[test]
fn an_empty_base_loads_and_a_broken_disabled_manifest_never_blocks_a_reload() {
    let Some((_dir, rt)) = started() else { return };
    let vhosts = loaded_plugin(&rt, "@buntime/plugin-vhosts");
    assert!(vhosts.get("base").is_none(), "an empty base is no base: {vhosts}");
    let origin = rt.url.clone();
    let (status, _, body) = curl(&format!("{}/api/plugins/reload", rt.url), &["-X", "POST", "-H", &format!("origin: {origin}")]);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn plugins_loaded_lists_the_menus_as_on_init_left_them() {
    let Some((_dir, rt)) = started() else { return };
    let deployments = loaded_plugin(&rt, "@buntime/plugin-deployments");
    assert_eq!(
        deployments["menus"],
        serde_json::json!([{ "title": "Deployments", "icon": "lucide:rocket", "path": "/deployments",
            "items": [{ "title": "Apps", "icon": "lucide:box", "path": "/deployments/apps" }] }]),
        "{deployments}"
    );
}

#[test]
fn a_plugin_ui_is_served_for_any_get_without_an_extension() {
    let Some((_dir, rt)) = started() else { return };
    // `curl /auth/login`: no Accept, no Sec-Fetch headers, still the UI.
    let (status, _, body) = curl(&format!("{}/auth/login", rt.url), &[]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("authn ui"), "{body}");
    let (status, _, body) = curl(&format!("{}/auth/api/session", rt.url), &[]);
    assert_eq!((status, body.as_str()), (200, r#"{"user":null}"#));
    let (status, _, body) = curl(&format!("{}/auth/assets/missing.js", rt.url), &["-H", "accept: text/html"]);
    assert_eq!(status, 404, "{body}");
}

#[test]
fn a_plugins_config_keeps_the_manifests_key_order() {
    let Some((_dir, rt)) = started() else { return };
    let (status, _, body) = curl(&format!("{}/events/api/config", rt.url), &[]);
    assert_eq!(status, 200, "{body}");
    let at = |needle: &str| body.find(needle).unwrap_or_else(|| panic!("{needle} in {body}"));
    assert!(at(r#""base""#) < at(r#""zeta""#) && at(r#""zeta""#) < at(r#""alpha""#) && at(r#""alpha""#) < at(r#""middle""#), "{body}");
    assert!(body.contains(r#"{"b":2,"a":1}"#), "{body}");
}

#[test]
fn a_gateway_serves_its_shell_through_ctx_pool_fetch_and_resolves_apps() {
    let Some((_dir, rt)) = started() else { return };
    let (status, head, body) = curl(&format!("{}/dashboard/settings?tab=1", rt.url), &["-H", "sec-fetch-dest: document"]);
    assert_eq!((status, body.as_str()), (200, "shell for /dashboard/settings"), "{head}");
    assert!(head.contains("x-shell: 1"), "{head}");
    // Preflight still answers (the hook no longer throws before it).
    let (status, head, _) = curl(&format!("{}/dashboard", rt.url), &["-X", "OPTIONS", "-H", "access-control-request-method: GET"]);
    assert_eq!(status, 204, "{head}");
    // Excluded paths are not the shell.
    let (status, _, body) = curl(&format!("{}/auth/login", rt.url), &["-H", "sec-fetch-dest: document"]);
    assert_eq!(status, 200);
    assert!(body.contains("authn ui"), "{body}");
    // The runtime's app resolver as a plugin API.
    let (status, _, body) = curl(&format!("{}/gateway/api/resolve/shell", rt.url), &[]);
    assert_eq!(status, 200, "{body}");
    let app: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(app["name"], "shell", "{body}");
    assert!(app["dir"].as_str().unwrap().ends_with("/apps/shell"), "{body}");
    assert_eq!(app["config"]["ttl"], 30, "{body}");
    let (_, _, body) = curl(&format!("{}/gateway/api/resolve/nope", rt.url), &[]);
    assert_eq!(body, "null");
}
