//! Converting requests and responses to and from the protocol's head-plus-bytes form.

use axum::body::Body;
use bytes::Bytes;
use buntime_core::{Request, Response};
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};

use crate::protocol::HeaderPairs;

/// Returns the header pairs of `headers`, values decoded lossily.
pub(crate) fn pairs(headers: &HeaderMap) -> HeaderPairs {
    headers.iter().map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect()
}

/// Returns the absolute URL a JS `Request` needs: the URI if absolute, else `http://<Host><path>`.
pub(crate) fn absolute_url(req: &Request) -> String {
    let uri = req.uri();
    if uri.scheme().is_some() {
        return uri.to_string();
    }
    let host = req
        .headers()
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.parse::<http::uri::Authority>().is_ok())
        .or_else(|| uri.authority().map(http::uri::Authority::as_str))
        .unwrap_or("localhost");
    let pq = uri.path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
    format!("http://{host}{pq}")
}

/// A request body that could not be buffered, with the answer the client gets.
#[derive(Debug)]
pub(crate) struct BodyError {
    too_large: bool,
}

impl BodyError {
    /// Returns the response: 413 `Payload Too Large` past the limit, else 400.
    pub(crate) fn response(&self) -> Response {
        if self.too_large {
            buntime_core::respond::text(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large")
        } else {
            buntime_core::respond::json_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", "cannot read the request body")
        }
    }
}

/// Takes `req`'s body, fully buffered (the pipeline has already capped its size), and puts an
/// identical body back.
///
/// # Errors
/// The body exceeds its limit or cannot be read.
pub(crate) async fn buffer_request_body(req: &mut Request) -> Result<Bytes, BodyError> {
    let body = std::mem::take(req.body_mut());
    let bytes = to_bytes(body).await?;
    *req.body_mut() = Body::from(bytes.clone());
    Ok(bytes)
}

/// Buffers a body; a length-limit failure is reported as too large.
pub(crate) async fn to_bytes(body: Body) -> Result<Bytes, BodyError> {
    axum::body::to_bytes(body, usize::MAX).await.map_err(|e| BodyError { too_large: buntime_core::body::is_limit_error(&e) })
}

/// Copies JS headers onto `map`, skipping framing headers (the body is re-framed here) and
/// anything that is not a valid header.
pub(crate) fn apply_headers(map: &mut HeaderMap, headers: &HeaderPairs) {
    for (k, v) in headers {
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) else { continue };
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            continue;
        }
        map.append(name, value);
    }
}

/// Builds a response from a JS status, headers and body.
pub(crate) fn response(status: Option<u16>, headers: &HeaderPairs, body: Bytes) -> Response {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status.and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::OK);
    apply_headers(res.headers_mut(), headers);
    res
}

/// Builds a request from a JS method, URL (only its path and query are kept), headers and body.
pub(crate) fn js_request(method: Option<&str>, url: Option<&str>, headers: &HeaderPairs, body: Bytes) -> Request {
    let mut req = Request::new(Body::from(body));
    *req.method_mut() = method.and_then(|m| Method::from_bytes(m.as_bytes()).ok()).unwrap_or(Method::GET);
    *req.uri_mut() = url
        .and_then(|u| u.parse::<Uri>().ok())
        .and_then(|u| u.path_and_query().and_then(|pq| pq.as_str().parse::<Uri>().ok()))
        .unwrap_or_else(|| Uri::from_static("/"));
    apply_headers(req.headers_mut(), headers);
    req
}

/// Builds the request an `onRequest` hook returned, keeping the original's extensions.
pub(crate) fn replaced_request(original: &mut Request, method: Option<&str>, url: Option<&str>, headers: &HeaderPairs, body: Bytes) -> Request {
    let mut req = Request::new(Body::from(body));
    *req.method_mut() = method.and_then(|m| Method::from_bytes(m.as_bytes()).ok()).unwrap_or_else(|| original.method().clone());
    // Keep the runtime's origin-form URI: only the path and query of the JS URL matter here.
    let uri = url
        .and_then(|u| u.parse::<Uri>().ok())
        .and_then(|u| u.path_and_query().map(|pq| pq.as_str().to_owned()))
        .and_then(|pq| pq.parse::<Uri>().ok())
        .unwrap_or_else(|| original.uri().clone());
    *req.uri_mut() = uri;
    *req.version_mut() = original.version();
    apply_headers(req.headers_mut(), headers);
    *req.extensions_mut() = std::mem::take(original.extensions_mut());
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_url_uses_the_host_header_and_keeps_the_query() {
        let req = http::Request::builder().uri("/a/b?x=1").header("host", "example.test:8000").body(Body::empty()).unwrap();
        assert_eq!(absolute_url(&req), "http://example.test:8000/a/b?x=1");
        let req = http::Request::builder().uri("/").header("host", "bad host").body(Body::empty()).unwrap();
        assert_eq!(absolute_url(&req), "http://localhost/");
    }

    #[test]
    fn js_headers_skip_framing_and_invalid_entries_and_keep_duplicates() {
        let res = response(
            Some(201),
            &vec![
                ("content-length".into(), "999".into()),
                ("set-cookie".into(), "a=1".into()),
                ("set-cookie".into(), "b=2".into()),
                ("bad name".into(), "x".into()),
            ],
            Bytes::from_static(b"hi"),
        );
        assert_eq!(res.status(), 201);
        assert!(res.headers().get("content-length").is_none());
        assert_eq!(res.headers().get_all("set-cookie").iter().count(), 2);
        assert_eq!(response(Some(1000), &vec![], Bytes::new()).status(), 200);
    }

    #[test]
    fn a_replaced_request_takes_method_path_and_headers_but_keeps_extensions() {
        let mut original = http::Request::builder().uri("/x?q=1").body(Body::empty()).unwrap();
        original.extensions_mut().insert(7u8);
        let req = replaced_request(&mut original, Some("POST"), Some("http://h/y?z=2"), &vec![("x-a".into(), "1".into())], Bytes::from_static(b"b"));
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri(), "/y?z=2");
        assert_eq!(req.headers()["x-a"], "1");
        assert_eq!(req.extensions().get::<u8>(), Some(&7));
    }
}
