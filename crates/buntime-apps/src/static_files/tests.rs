#![allow(clippy::type_complexity)]

use std::collections::BTreeMap;
use std::io::Read;

use super::*;

struct Fixture {
    _tmp: tempfile::TempDir,
    outside: PathBuf,
    site: StaticSite,
    files: StaticFiles,
}

const INDEX: &str = "<html><head><title>spa</title></head><body>app</body></html>";

fn fixture(injection: Option<Injection>) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("app");
    let write = |rel: &str, body: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    };
    write("index.html", INDEX.as_bytes());
    write("assets/app.js", "console.log('hello');\n".repeat(100).as_bytes());
    write("assets/style.css", b"body{}");
    write("assets/logo.svg", b"<svg></svg>");
    write("assets/data.json", b"{}");
    write("assets/img.png", b"\x89PNG");
    write("assets/font.woff2", b"wOF2");
    write("docs/index.html", b"<html><head></head>docs</html>");
    write(".env", b"SECRET=1");
    write("manifest.yaml", b"env: {API_KEY: secret}");
    write("%2e%2e/odd.txt", b"odd");
    std::fs::write(tmp.path().join("secret.txt"), b"top secret").unwrap();
    std::os::unix::fs::symlink(tmp.path().join("secret.txt"), root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(tmp.path(), root.join("linkdir")).unwrap();
    let root = std::fs::canonicalize(&root).unwrap();
    let site = StaticSite { entry: root.join("index.html"), root, injection, fallback_any_get: false };
    Fixture { outside: tmp.path().join("secret.txt"), _tmp: tmp, site, files: StaticFiles::new() }
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
    }
    h
}

async fn get(f: &Fixture, path: &str, h: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
    let res = f.files.serve(&f.site, &Method::GET, &headers(h), path).await;
    let (parts, body) = res.into_parts();
    let bytes = http_body_util::BodyExt::collect(body).await.unwrap().to_bytes();
    (parts.status, parts.headers, bytes.to_vec())
}

const NAV: &[(&str, &str)] = &[("accept", "text/html,application/xhtml+xml")];

#[tokio::test]
async fn files_are_served_with_their_mime_types() {
    let f = fixture(None);
    let cases: &[(&str, &str)] = &[
        ("/", "text/html; charset=utf-8"),
        ("", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/style.css", "text/css; charset=utf-8"),
        ("/assets/logo.svg", "image/svg+xml; charset=utf-8"),
        ("/assets/data.json", "application/json; charset=utf-8"),
        ("/assets/img.png", "image/png"),
        ("/assets/font.woff2", "font/woff2"),
        ("/docs", "text/html; charset=utf-8"),
    ];
    for (path, mime) in cases {
        let (status, h, _) = get(&f, path, &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(h[header::CONTENT_TYPE], *mime, "{path}");
        assert!(h.contains_key(header::ETAG) && h.contains_key(header::LAST_MODIFIED), "{path}");
    }
}

#[tokio::test]
async fn spa_fallback_serves_the_entry_only_for_navigations() {
    let f = fixture(None);
    let cases: &[(&str, &[(&str, &str)], StatusCode, bool)] = &[
        ("/dashboard/settings", NAV, StatusCode::OK, true),
        ("/dashboard", &[("sec-fetch-mode", "navigate")], StatusCode::OK, true),
        ("/dashboard", &[("sec-fetch-dest", "document")], StatusCode::OK, true),
        ("/dashboard", &[("accept", "application/json")], StatusCode::NOT_FOUND, false),
        ("/dashboard", &[], StatusCode::NOT_FOUND, false),
        ("/assets/missing.js", NAV, StatusCode::NOT_FOUND, false),
        ("/assets/missing.js", &[], StatusCode::NOT_FOUND, false),
        ("/missing.css", &[("sec-fetch-dest", "document")], StatusCode::NOT_FOUND, false),
    ];
    for (path, h, status, is_entry) in cases {
        let (got, _, body) = get(&f, path, h).await;
        assert_eq!(got, *status, "{path} {h:?}");
        assert_eq!(body == INDEX.as_bytes(), *is_entry, "{path} {h:?}");
    }
}

#[tokio::test]
async fn a_plugin_ui_falls_back_for_any_extensionless_get_but_not_for_missing_files() {
    let mut f = fixture(None);
    f.site.fallback_any_get = true;
    let cases: &[(&str, &[(&str, &str)], StatusCode, bool)] = &[
        ("/login", &[], StatusCode::OK, true),
        ("/auth/callback", &[("accept", "application/json")], StatusCode::OK, true),
        ("/assets/missing.js", &[], StatusCode::NOT_FOUND, false),
        ("/missing.css", NAV, StatusCode::NOT_FOUND, false),
    ];
    for (path, h, status, is_entry) in cases {
        let (got, _, body) = get(&f, path, h).await;
        assert_eq!(got, *status, "{path} {h:?}");
        assert_eq!(body == INDEX.as_bytes(), *is_entry, "{path} {h:?}");
    }
}

#[tokio::test]
async fn traversal_attempts_never_leave_the_root() {
    let f = fixture(None);
    let secret = std::fs::read(&f.outside).unwrap();
    let cases: &[(&str, StatusCode)] = &[
        ("/../secret.txt", StatusCode::FORBIDDEN),
        ("/assets/../../secret.txt", StatusCode::FORBIDDEN),
        ("/%2e%2e/secret.txt", StatusCode::FORBIDDEN),
        ("/%2E%2E/secret.txt", StatusCode::FORBIDDEN),
        ("/..%2fsecret.txt", StatusCode::FORBIDDEN),
        ("/..%2Fsecret.txt", StatusCode::FORBIDDEN),
        ("/assets%2f..%2f..%2fsecret.txt", StatusCode::FORBIDDEN),
        ("/..%5csecret.txt", StatusCode::FORBIDDEN),
        ("/a%00b", StatusCode::FORBIDDEN),
        ("/link.txt", StatusCode::FORBIDDEN),
        ("/linkdir/secret.txt", StatusCode::FORBIDDEN),
        ("/.env", StatusCode::NOT_FOUND),
        ("/manifest.yaml", StatusCode::NOT_FOUND),
        ("/assets/%2eenv", StatusCode::NOT_FOUND),
        ("/%ff%fe", StatusCode::NOT_FOUND),
        ("/%252e%252e/secret.txt", StatusCode::NOT_FOUND),
    ];
    for (path, status) in cases {
        for h in [&[][..], NAV] {
            let (got, _, body) = get(&f, path, h).await;
            assert_eq!(got, *status, "{path} {h:?}");
            assert_ne!(body, secret, "{path} leaked the secret");
        }
    }
    let (status, _, body) = get(&f, "/%252e%252e/odd.txt", &[]).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"odd"[..]), "double encoding decodes once");
}

#[tokio::test]
async fn validators_give_304() {
    let f = fixture(None);
    let (_, h, _) = get(&f, "/assets/app.js", &[]).await;
    let etag = h[header::ETAG].to_str().unwrap().to_owned();
    let lm = h[header::LAST_MODIFIED].to_str().unwrap().to_owned();
    let cases: Vec<(Vec<(&str, &str)>, StatusCode)> = vec![
        (vec![("if-none-match", etag.as_str())], StatusCode::NOT_MODIFIED),
        (vec![("if-none-match", "\"other\", *")], StatusCode::NOT_MODIFIED),
        (vec![("if-none-match", "\"other\"")], StatusCode::OK),
        (vec![("if-modified-since", lm.as_str())], StatusCode::NOT_MODIFIED),
        (vec![("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT")], StatusCode::OK),
        (vec![("if-none-match", "\"other\""), ("if-modified-since", lm.as_str())], StatusCode::OK),
    ];
    for (h, status) in cases {
        let (got, _, body) = get(&f, "/assets/app.js", &h).await;
        assert_eq!(got, status, "{h:?}");
        if got == StatusCode::NOT_MODIFIED {
            assert!(body.is_empty());
        }
    }
}

#[tokio::test]
async fn text_is_compressed_when_accepted() {
    let f = fixture(None);
    let plain = std::fs::read(f.site.root.join("assets/app.js")).unwrap();
    let (_, h, body) = get(&f, "/assets/app.js", &[("accept-encoding", "gzip, deflate")]).await;
    assert_eq!(h[header::CONTENT_ENCODING], "gzip");
    assert_eq!(h[header::VARY], "Accept-Encoding");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out).unwrap();
    assert_eq!(out, plain);

    let (_, h, body) = get(&f, "/assets/app.js", &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(h[header::CONTENT_ENCODING], "br");
    let mut out = Vec::new();
    brotli::Decompressor::new(&body[..], 4096).read_to_end(&mut out).unwrap();
    assert_eq!(out, plain);

    for ae in ["identity", "br;q=0, gzip;q=0"] {
        let (_, h, body) = get(&f, "/assets/app.js", &[("accept-encoding", ae)]).await;
        assert!(!h.contains_key(header::CONTENT_ENCODING), "{ae}");
        assert_eq!(body, plain);
    }
    let (_, h, _) = get(&f, "/assets/img.png", &[("accept-encoding", "gzip, br")]).await;
    assert!(!h.contains_key(header::CONTENT_ENCODING), "binary types are not compressed");
}

#[tokio::test]
async fn head_has_headers_and_no_body_and_posts_are_refused() {
    let f = fixture(None);
    let res = f.files.serve(&f.site, &Method::HEAD, &HeaderMap::new(), "/assets/app.js").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key(header::CONTENT_LENGTH));
    let body = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
    assert!(body.is_empty());
    let res = f.files.serve(&f.site, &Method::POST, &HeaderMap::new(), "/").await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    // A plugin UI (which only sees paths its plugin's routes did not claim): not found, as the
    // plugin's API would answer.
    let mut ui = f.site.clone();
    ui.fallback_any_get = true;
    let res = f.files.serve(&ui, &Method::POST, &HeaderMap::new(), "/v2/pipeline").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn html_gets_the_injection_and_assets_do_not() {
    let env: BTreeMap<String, String> = [("PUBLIC_API".to_owned(), "https://x".to_owned())].into();
    let f = fixture(Injection::new(true, "/spa@1", &env));
    let (_, _, body) = get(&f, "/", &[]).await;
    let body = String::from_utf8(body).unwrap();
    assert!(body.contains("<head><base href=\"/spa@1/\" />"), "{body}");
    assert!(body.contains("window.__env__={\"PUBLIC_API\":\"https://x\"};</script></head>"), "{body}");
    let (_, _, body) = get(&f, "/deep/link", NAV).await;
    assert!(String::from_utf8(body).unwrap().contains("<base href"));
    let (_, _, body) = get(&f, "/assets/style.css", &[]).await;
    assert_eq!(body, b"body{}");
}

#[tokio::test]
async fn a_missing_entry_is_404() {
    let mut f = fixture(None);
    f.site.entry = f.site.root.join("nope.html");
    assert_eq!(get(&f, "/", &[]).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&f, "/route", NAV).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn changed_files_are_picked_up_after_revalidation() {
    let f = fixture(None);
    assert_eq!(get(&f, "/assets/style.css", &[]).await.2, b"body{}");
    std::fs::write(f.site.root.join("assets/style.css"), b"body{color:red}").unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&f, "/assets/style.css", &[]).await.2, b"body{color:red}");
}

#[tokio::test]
async fn large_files_stream_from_disk() {
    let f = fixture(None);
    let big: Vec<u8> = (0..(MAX_CACHED_FILE as usize + 100_000)).map(|i| (i % 251) as u8).collect();
    std::fs::write(f.site.root.join("assets/big.bin"), &big).unwrap();
    let (status, h, body) = get(&f, "/assets/big.bin", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h[header::CONTENT_LENGTH], big.len().to_string().as_str());
    assert_eq!(body, big);
}
