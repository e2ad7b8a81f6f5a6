//! The OpenAPI 3.1 document of the REST API (built from the mounted routes) and the readable
//! reference page that renders it.

use std::sync::Arc;

use axum::{Extension, Json};
use axum::response::Html;
use axum::routing::get;
use utoipa::openapi::{OpenApi, Server, tag::Tag};

/// The document's own routes, described by the annotations below and mounted by [`serve`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(openapi_json, docs_page))]
struct DocRoutes;

/// The OpenAPI document of every REST route, as JSON.
#[utoipa::path(get, path = "/openapi.json", tag = "Docs", summary = "OpenAPI document",
    responses((status = 200, description = "This OpenAPI 3.1 document")))]
async fn openapi_json(Extension(doc): Extension<Arc<serde_json::Value>>) -> Json<serde_json::Value> {
    Json((*doc).clone())
}

/// A readable reference page for the OpenAPI document.
#[utoipa::path(get, path = "/docs", tag = "Docs", summary = "API reference page",
    responses((status = 200, description = "HTML", content_type = "text/html")))]
async fn docs_page(Extension(page): Extension<Arc<Page>>) -> Html<String> {
    Html(page.0.clone())
}

/// The rendered reference page.
#[derive(Debug)]
struct Page(String);

/// Adds the document's own routes and fills in its metadata.
pub(crate) fn finish(mut doc: OpenApi, api_path: &str) -> OpenApi {
    doc.merge(<DocRoutes as utoipa::OpenApi>::openapi());
    doc.info.title = "Buntime API".to_owned();
    doc.info.version = buntime_core::VERSION.to_owned();
    doc.info.description = Some("The REST API of the Buntime runtime. Paths are relative to the server URL.".to_owned());
    // utoipa fills contact and licence from the crate's `authors`; name this project instead.
    doc.info.contact = Some(utoipa::openapi::ContactBuilder::new().name(Some("Buntime")).build());
    doc.servers = Some(vec![Server::new(api_path)]);
    let mut tags: Vec<String> = doc
        .paths
        .paths
        .values()
        .flat_map(|item| operations(item).into_iter().flat_map(|(_, op)| op.tags.clone().unwrap_or_default()))
        .collect();
    tags.sort();
    tags.dedup();
    doc.tags = Some(tags.into_iter().map(Tag::new).collect());
    doc
}

/// Serves the document and the page.
pub(crate) fn serve(doc: OpenApi) -> axum::Router {
    let json = Arc::new(serde_json::to_value(&doc).unwrap_or_default());
    let page = Arc::new(Page(render(&doc)));
    axum::Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs_page))
        .layer(Extension(json))
        .layer(Extension(page))
}

fn operations(item: &utoipa::openapi::PathItem) -> Vec<(&'static str, &utoipa::openapi::path::Operation)> {
    [
        ("GET", &item.get),
        ("POST", &item.post),
        ("PUT", &item.put),
        ("PATCH", &item.patch),
        ("DELETE", &item.delete),
        ("HEAD", &item.head),
        ("OPTIONS", &item.options),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_ref().map(|op| (m, op)))
    .collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Renders a self-contained HTML reference (no scripts, works offline).
fn render(doc: &OpenApi) -> String {
    let server = doc.servers.as_ref().and_then(|s| s.first()).map(|s| s.url.clone()).unwrap_or_default();
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Buntime API Docs</title>\
         <style>body{{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}\
         h1{{color:#5b21b6}}h2{{border-bottom:1px solid #ddd;margin-top:2rem}}.op{{margin:1rem 0;padding:.5rem 1rem;border-left:4px solid #7c3aed;background:#faf7ff}}\
         .m{{font-weight:700;font-family:monospace;margin-right:.5rem}}code{{background:#eee;padding:0 .25rem}}</style></head><body>\
         <h1>Buntime API <small>{}</small></h1><p>Base URL: <code>{}</code>. Machine-readable: <a href=\"{}/openapi.json\">openapi.json</a>.</p>",
        escape(&doc.info.version),
        escape(&server),
        escape(&server)
    );
    let tags: Vec<String> = doc.tags.iter().flatten().map(|t| t.name.clone()).collect();
    for tag in tags {
        html.push_str(&format!("<h2>{}</h2>", escape(&tag)));
        for (path, item) in &doc.paths.paths {
            for (method, op) in operations(item) {
                if !op.tags.iter().flatten().any(|t| *t == tag) {
                    continue;
                }
                html.push_str(&format!(
                    "<div class=\"op\"><div><span class=\"m\">{method}</span><code>{}{}</code> — {}</div>",
                    escape(&server),
                    escape(path),
                    escape(op.summary.as_deref().unwrap_or(""))
                ));
                if let Some(d) = &op.description {
                    html.push_str(&format!("<p>{}</p>", escape(d)));
                }
                html.push_str("<ul>");
                for (status, response) in &op.responses.responses {
                    let text = match response {
                        utoipa::openapi::RefOr::T(r) => r.description.clone(),
                        utoipa::openapi::RefOr::Ref(r) => r.ref_location.clone(),
                    };
                    html.push_str(&format!("<li><b>{}</b> {}</li>", escape(status), escape(&text)));
                }
                html.push_str("</ul></div>");
            }
        }
    }
    html.push_str("</body></html>");
    html
}
