//! vhosts in the test kit with a fake app backend: a matched host is served by the app the
//! runtime's resolver names, with `x-base: /` and the tenant; anything else passes on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use buntime_core::app::{AppBackend, AppInfo, ResolvedApp};
use buntime_core::{PluginError, Request, Response};
use buntime_plugin_vhosts::VhostsPlugin;
use buntime_testkit::{PluginHarness, StartedHarness, TestResponse};
use serde_json::{Value, json};

/// Knows one app, `site`, in `/apps/site`; serving answers what the app would have seen.
struct FakeApps;

fn site(base: &str) -> ResolvedApp {
    ResolvedApp {
        info: Arc::new(AppInfo {
            name: "site".into(),
            version: "1.0.0".into(),
            dir: PathBuf::from("/apps/site"),
            config: json!({}),
        }),
        base_path: base.into(),
        max_body_bytes: 1 << 20,
        public_routes: None,
        target: Arc::new(()),
    }
}

#[async_trait]
impl AppBackend for FakeApps {
    async fn resolve(&self, path: &str) -> Result<Option<ResolvedApp>, PluginError> {
        Ok((path == "/site" || path.starts_with("/site/")).then(|| site("/site")))
    }
    async fn resolve_plugin_app(
        &self,
        _dir: &Path,
        _base: &str,
        _m: &serde_json::Map<String, Value>,
    ) -> Result<ResolvedApp, PluginError> {
        Err(PluginError::internal("not used"))
    }
    async fn serve(&self, app: &ResolvedApp, req: Request) -> Response {
        let h = |n: &str| {
            req.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let body = json!({"dir": app.info.dir, "base": app.base_path, "path": req.uri().path(), "xBase": h("x-base"), "tenant": h("x-vhost-tenant")});
        Response::new(Body::from(body.to_string()))
    }
    async fn app_at(
        &self,
        dir: &Path,
        _config: Option<&serde_json::Map<String, Value>>,
    ) -> Result<ResolvedApp, PluginError> {
        assert_eq!(
            dir,
            Path::new("/apps/site"),
            "vhosts serves the directory the resolver gave"
        );
        Ok(site("/"))
    }
}

const MANIFEST: &str = "name: \"@buntime/plugin-vhosts\"\nbase: \"\"\nhosts:\n  shop.test: { app: site }\n  \"*.tenants.test\": { app: site }\n  api.test: { app: site, pathPrefix: /v1 }\n  ghost.test: { app: missing }\n";

async fn start() -> StartedHarness {
    PluginHarness::new(MANIFEST, VhostsPlugin::new)
        .apps(Arc::new(FakeApps))
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn get(h: &StartedHarness, host: &str, path: &str, extra: &[(&str, &str)]) -> TestResponse {
    let mut b = http::Request::builder().uri(path).header("host", host);
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    h.send(b.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn a_matched_host_is_served_at_root_by_the_resolved_app() {
    let h = start().await;
    let res = get(&h, "shop.test:8000", "/cart/1", &[]).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.json(),
        json!({"dir": "/apps/site", "base": "/", "path": "/cart/1", "xBase": "/", "tenant": null})
    );
    let res = get(
        &h,
        "eu.acme.tenants.test",
        "/",
        &[("x-vhost-tenant", "forged")],
    )
    .await;
    assert_eq!(res.json()["tenant"], "eu.acme");
    assert_eq!(
        get(&h, "shop.test", "/", &[("x-vhost-tenant", "forged")])
            .await
            .json()["tenant"],
        Value::Null,
        "a client's tenant header never reaches the app"
    );
}

#[tokio::test]
async fn unknown_apps_are_502_and_unmatched_requests_pass_on() {
    let h = start().await;
    let res = get(&h, "ghost.test", "/", &[]).await;
    assert_eq!(
        (res.status.as_u16(), res.json()),
        (502, json!({"error": "Virtual host app not found: missing"}))
    );
    // Nothing else in this harness serves: passing on ends in the pipeline's 404.
    assert_eq!(
        get(&h, "tenants.test", "/", &[]).await.status,
        404,
        "the bare domain is no tenant"
    );
    assert_eq!(get(&h, "other.test", "/", &[]).await.status, 404);
    assert_eq!(
        get(&h, "api.test", "/v2/x", &[]).await.status,
        404,
        "outside pathPrefix"
    );
    assert_eq!(
        get(&h, "api.test", "/v1/x", &[]).await.json()["path"],
        "/v1/x"
    );
}

#[tokio::test]
async fn a_bad_hosts_map_stops_the_plugin_with_every_error_named() {
    let err = PluginHarness::new("name: \"@buntime/plugin-vhosts\"\nbase: \"\"\nhosts:\n  a.test: {}\n  \"*.\": { app: x }\n", VhostsPlugin::new).start().await.unwrap_err().to_string();
    assert!(
        err.contains("`hosts.a.test.app`") && err.contains("`hosts.*.`"),
        "{err}"
    );
}
