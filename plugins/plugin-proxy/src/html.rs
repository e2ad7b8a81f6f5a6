//! Streamed rewriting of proxied HTML: `<base href>` injection and root-relative paths made
//! relative, chunk by chunk with lol_html (the page is never held whole).

use std::sync::{Arc, Mutex};

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use lol_html::html_content::ContentType;
use lol_html::{element, send};

/// What to rewrite in a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewrite {
    /// `<base href="{base}/">` right after `<head>` (one trailing slash, whatever `base` ends with).
    pub base: Option<String>,
    /// `src="/x"` and `href="/x"` become `./x`; protocol-relative `//host` stays.
    pub relative_paths: bool,
}

impl Rewrite {
    /// Returns whether there is anything to do.
    pub fn is_noop(&self) -> bool {
        self.base.is_none() && !self.relative_paths
    }
}

/// Returns `href` for `<base>`: the path with exactly one trailing slash.
pub fn base_href(base: &str) -> String {
    format!("{}/", base.trim_end_matches('/'))
}

/// Returns `./x` for a root-relative `/x`; `None` for anything else (`//host/x`, `x`, `https:`).
pub fn relative(value: &str) -> Option<String> {
    let rest = value.strip_prefix('/')?;
    (!rest.starts_with('/')).then(|| format!("./{rest}"))
}

fn rewriter(
    rewrite: &Rewrite,
    out: Arc<Mutex<Vec<u8>>>,
) -> send::HtmlRewriter<'static, impl lol_html::OutputSink + Send + use<>> {
    let mut handlers: Vec<(
        std::borrow::Cow<'static, lol_html::Selector>,
        send::ElementContentHandlers<'static>,
    )> = Vec::new();
    if let Some(base) = &rewrite.base {
        let tag = format!(r#"<base href="{}">"#, base_href(base));
        handlers.push(element!("head", move |el: &mut send::Element<'_, '_>| {
            el.prepend(&tag, ContentType::Html);
            Ok(())
        }));
    }
    if rewrite.relative_paths {
        for attr in ["src", "href"] {
            let selector = format!("[{attr}]");
            handlers.push((
                std::borrow::Cow::Owned(selector.parse().expect("an attribute selector parses")),
                send::ElementContentHandlers::default().element(
                    move |el: &mut send::Element<'_, '_>| {
                        if let Some(v) = el.get_attribute(attr).as_deref().and_then(relative) {
                            el.set_attribute(attr, &v)?;
                        }
                        Ok(())
                    },
                ),
            ));
        }
    }
    let settings = send::Settings {
        element_content_handlers: handlers,
        ..send::Settings::new_send()
    };
    send::HtmlRewriter::new(settings, move |chunk: &[u8]| {
        if let Ok(mut buf) = out.lock() {
            buf.extend_from_slice(chunk);
        }
    })
}

/// Rewrites `body` as it streams: each upstream chunk yields what the rewriter could emit so far.
/// An upstream error ends the stream with that error (the client sees a cut response).
pub fn stream(body: Body, rewrite: &Rewrite) -> Body {
    let out = Arc::new(Mutex::new(Vec::new()));
    let rewriter = rewriter(rewrite, out.clone());
    let state = (Some(rewriter), body.into_data_stream(), out);
    let stream = futures_util::stream::unfold(state, |(mut rw, mut upstream, out)| async move {
        rw.as_ref()?;
        let fail = |e: String| Err(std::io::Error::other(e));
        loop {
            match upstream.next().await {
                Some(Ok(chunk)) => {
                    if let Err(e) = rw.as_mut()?.write(&chunk) {
                        return Some((fail(format!("HTML rewriting: {e}")), (None, upstream, out)));
                    }
                }
                Some(Err(e)) => {
                    return Some((fail(format!("upstream body: {e}")), (None, upstream, out)));
                }
                None => {
                    if let Err(e) = rw.take()?.end() {
                        return Some((fail(format!("HTML rewriting: {e}")), (None, upstream, out)));
                    }
                    let rest = drain(&out);
                    return Some((Ok(Bytes::from(rest)), (None, upstream, out)));
                }
            }
            let ready = drain(&out);
            if !ready.is_empty() {
                return Some((Ok(Bytes::from(ready)), (rw, upstream, out)));
            }
        }
    });
    Body::from_stream(stream)
}

fn drain(out: &Mutex<Vec<u8>>) -> Vec<u8> {
    out.lock()
        .map(|mut b| std::mem::take(&mut *b))
        .unwrap_or_default()
}

/// Rewrites a whole page (tests and small bodies).
pub fn rewrite_str(html: &str, rewrite: &Rewrite) -> String {
    let out = Arc::new(Mutex::new(Vec::new()));
    let mut rw = rewriter(rewrite, out.clone());
    let ok = rw.write(html.as_bytes()).is_ok() && rw.end().is_ok();
    let bytes = out.lock().map(|b| b.clone()).unwrap_or_default();
    if ok {
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        html.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_is_injected_after_head_with_a_single_trailing_slash() {
        let rw = Rewrite {
            base: Some("/app//".into()),
            relative_paths: false,
        };
        assert_eq!(
            rewrite_str("<html><head><title>t</title></head></html>", &rw),
            r#"<html><head><base href="/app/"><title>t</title></head></html>"#
        );
        assert_eq!(base_href("/"), "/");
    }

    #[test]
    fn root_relative_paths_become_relative_and_protocol_relative_ones_stay() {
        let rw = Rewrite {
            base: None,
            relative_paths: true,
        };
        let html = r#"<script src="/a.js"></script><a href="//cdn.example/x">x</a><link href="/s.css"><img src="b.png"><a href="https://e.x/">e</a>"#;
        assert_eq!(
            rewrite_str(html, &rw),
            r#"<script src="./a.js"></script><a href="//cdn.example/x">x</a><link href="./s.css"><img src="b.png"><a href="https://e.x/">e</a>"#
        );
    }

    #[tokio::test]
    async fn a_page_split_mid_tag_is_rewritten_as_it_streams() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = [
            "<html><he",
            "ad><scr",
            "ipt src=\"/x.js\"></script></head>",
            "<body>done</body></html>",
        ]
        .into_iter()
        .map(|c| Ok(Bytes::from(c)))
        .collect();
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        let rw = Rewrite {
            base: Some("/p".into()),
            relative_paths: true,
        };
        let out = axum::body::to_bytes(stream(body, &rw), usize::MAX)
            .await
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"<html><head><base href="/p/"><script src="./x.js"></script></head><body>done</body></html>"#
        );
    }
}
