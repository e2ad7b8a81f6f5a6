//! The micro-frontend app shell: which requests are browser navigations for the shell, the
//! excludes that bypass it (env/config, KeyVal, cookie), and serving it through the worker pool.

use std::path::PathBuf;
use std::sync::RwLock;

use buntime_core::{PluginContext, Request, Response};
use buntime_plugin_keyval::{Key, KeyPart, Kv};
use http::{HeaderMap, HeaderValue, Method, header};
use serde_json::{Value, json};

/// The cookie a browser sets to bypass the shell for some apps (any case of this name).
pub const COOKIE: &str = "gateway_shell_excludes";

/// Whether `s` can be an app name: letters, digits, `-` and `_`.
pub fn is_basename(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The first path segment (`/todo/x` → `todo`); `None` for `/`.
pub fn basename(path: &str) -> Option<&str> {
    let seg = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    (!seg.is_empty()).then_some(seg)
}

/// The app names listed in the `gateway_shell_excludes` cookie (name in any case; a comma list,
/// percent-encoded or not); invalid names are ignored.
pub fn cookie_excludes(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            k.trim().eq_ignore_ascii_case(COOKIE).then_some(v)
        })
        .flat_map(|v| {
            let decoded = percent_encoding::percent_decode_str(v.trim().trim_matches('"'))
                .decode_utf8_lossy()
                .into_owned();
            crate::config::split_list(&decoded)
        })
        .filter(|n| is_basename(n))
        .collect()
}

/// Whether a request is a browser navigation the shell serves: a GET or HEAD whose
/// `Sec-Fetch-Dest` is `document`; without that header (older browsers), a single-segment path
/// that accepts HTML. Frames (`iframe`, `embed`, `object`), `fetch()` calls (`empty`) and the
/// runtime's API never are.
pub fn is_navigation(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    if !matches!(*method, Method::GET | Method::HEAD)
        || path == "/api"
        || path.starts_with("/api/")
        || path.starts_with("/.well-known/")
    {
        return false;
    }
    match headers.get("sec-fetch-dest").and_then(|v| v.to_str().ok()) {
        Some(dest) => dest.eq_ignore_ascii_case("document"),
        None => {
            let single = !path.trim_start_matches('/').contains('/');
            let html = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("text/html"));
            single && html
        }
    }
}

/// Where an exclude came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `GATEWAY_SHELL_EXCLUDES` or `shellExcludes`: read-only.
    Env,
    /// Added over the API; kept in KeyVal (in memory without it).
    Keyval,
}

/// The shell's excludes: fixed ones from the environment, managed ones persisted in KeyVal.
#[derive(Debug)]
pub struct Excludes {
    env: Vec<String>,
    managed: RwLock<Vec<(String, Option<u64>)>>,
}

/// Why an exclude could not be added or removed (a 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// The KeyVal key of the managed excludes (a list of names).
pub fn keyval_key() -> Key {
    Key::new(vec![
        KeyPart::String("gateway".into()),
        KeyPart::String("shell".into()),
        KeyPart::String("excludes".into()),
    ])
    .expect("a three-string key is valid")
}

impl Excludes {
    /// Excludes with `env` fixed.
    pub fn new(env: Vec<String>) -> Self {
        Self {
            env,
            managed: RwLock::new(Vec::new()),
        }
    }

    /// Loads the managed excludes from KeyVal (names that are not app names are dropped).
    ///
    /// # Errors
    /// KeyVal failed.
    pub async fn load(&self, kv: &Kv) -> Result<usize, String> {
        let stored = kv.get(&keyval_key()).await.map_err(|e| e.to_string())?;
        let names: Vec<String> = stored
            .and_then(|e| e.value.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str())
            .filter(|n| is_basename(n))
            .map(str::to_owned)
            .collect();
        let n = names.len();
        *self
            .managed
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            names.into_iter().map(|n| (n, None)).collect();
        Ok(n)
    }

    fn managed_names(&self) -> Vec<String> {
        self.managed
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Whether `name` bypasses the shell for a request with `headers`.
    pub fn bypasses(&self, name: &str, headers: &HeaderMap) -> bool {
        self.env.iter().any(|e| e == name)
            || self
                .managed
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .any(|(e, _)| e == name)
            || cookie_excludes(headers).iter().any(|e| e == name)
    }

    /// `[{basename, source, addedAt?}]`: env excludes first.
    pub fn list(&self) -> Vec<Value> {
        let env = self
            .env
            .iter()
            .map(|n| json!({"basename": n, "source": "env"}));
        let managed: Vec<Value> = self
            .managed
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(n, at)| match at {
                Some(at) => json!({"basename": n, "source": "keyval", "addedAt": at}),
                None => json!({"basename": n, "source": "keyval"}),
            })
            .collect();
        env.chain(managed).collect()
    }

    /// The names of every exclude, env first.
    pub fn names(&self) -> Vec<String> {
        self.env
            .iter()
            .cloned()
            .chain(self.managed_names())
            .collect()
    }

    /// The env excludes.
    pub fn env(&self) -> &[String] {
        &self.env
    }

    /// Adds a managed exclude and persists the list to `kv` when there is one. Returns whether it
    /// was new.
    ///
    /// # Errors
    /// An empty or invalid name, one excluded by the environment, or KeyVal failed.
    pub async fn add(&self, name: &str, kv: Option<&Kv>) -> Result<bool, Refused> {
        let name = name.trim();
        if name.is_empty() {
            return Err(Refused("basename is required".into()));
        }
        if !is_basename(name) {
            return Err(Refused(format!(
                "invalid basename `{name}`: use letters, digits, `-` and `_` only"
            )));
        }
        if self.env.iter().any(|e| e == name) {
            return Err(Refused(format!(
                "`{name}` is already excluded by GATEWAY_SHELL_EXCLUDES / shellExcludes"
            )));
        }
        let names = {
            let mut m = self
                .managed
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if m.iter().any(|(e, _)| e == name) {
                return Ok(false);
            }
            m.push((name.to_owned(), Some(crate::now_ms())));
            m.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()
        };
        self.persist(names, kv).await?;
        Ok(true)
    }

    /// Removes a managed exclude; returns whether it was there.
    ///
    /// # Errors
    /// An env exclude (read-only), or KeyVal failed.
    pub async fn remove(&self, name: &str, kv: Option<&Kv>) -> Result<bool, Refused> {
        if self.env.iter().any(|e| e == name) {
            return Err(Refused(format!(
                "`{name}` is excluded by GATEWAY_SHELL_EXCLUDES / shellExcludes and cannot be removed here"
            )));
        }
        let (removed, names) = {
            let mut m = self
                .managed
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let before = m.len();
            m.retain(|(e, _)| e != name);
            (
                m.len() != before,
                m.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
            )
        };
        if removed {
            self.persist(names, kv).await?;
        }
        Ok(removed)
    }

    async fn persist(&self, names: Vec<String>, kv: Option<&Kv>) -> Result<(), Refused> {
        let Some(kv) = kv else { return Ok(()) };
        kv.set(&keyval_key(), json!(names), None)
            .await
            .map(|_| ())
            .map_err(|e| Refused(format!("the excludes could not be saved to KeyVal: {e}")))
    }
}

/// Finds the shell's directory: `dir` as a path when it is a directory, else an app name the
/// runtime's app resolver knows.
pub async fn locate(dir: &str, cx: &PluginContext) -> Option<PathBuf> {
    let path = PathBuf::from(dir);
    if path.is_dir() {
        return Some(path);
    }
    let apps = cx.apps()?;
    match apps.resolve_app(dir).await {
        Ok(Some(app)) => Some(app.info.dir.clone()),
        _ => None,
    }
}

/// Serves `req` with the shell app at `dir` (mounted at `/`, told so with `x-base: /`).
pub async fn serve(cx: &PluginContext, dir: &std::path::Path, mut req: Request) -> Response {
    req.headers_mut()
        .insert("x-base", HeaderValue::from_static("/"));
    cx.pool_fetch(dir, None, req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn basenames_are_first_segments() {
        assert_eq!(basename("/todo/items/1"), Some("todo"));
        assert_eq!(basename("/todo"), Some("todo"));
        assert_eq!(basename("/"), None);
        assert!(is_basename("my_app-2"));
        assert!(!is_basename("a.b") && !is_basename("") && !is_basename("a/b"));
    }

    #[test]
    fn the_cookie_is_read_in_any_case_and_encoded_or_not() {
        assert_eq!(
            cookie_excludes(&headers(&[(
                "cookie",
                "a=1; gateway_shell_excludes=todo,docs"
            )])),
            ["todo", "docs"]
        );
        assert_eq!(
            cookie_excludes(&headers(&[(
                "cookie",
                "GATEWAY_SHELL_EXCLUDES=todo%2Cdocs"
            )])),
            ["todo", "docs"]
        );
        assert_eq!(
            cookie_excludes(&headers(&[
                ("cookie", "Gateway_Shell_Excludes=\"x\"; other=y"),
                ("cookie", "gateway_shell_excludes=../etc, ok")
            ])),
            ["x", "ok"],
            "invalid names are dropped"
        );
        assert!(
            cookie_excludes(&headers(&[("cookie", "gateway_shell_excludesX=todo")])).is_empty()
        );
    }

    #[test]
    fn navigations_are_documents_or_html_single_segments() {
        let get = Method::GET;
        assert!(is_navigation(
            &get,
            "/todo/a/b",
            &headers(&[("sec-fetch-dest", "document")])
        ));
        assert!(!is_navigation(
            &get,
            "/todo",
            &headers(&[("sec-fetch-dest", "iframe")])
        ));
        assert!(
            !is_navigation(&get, "/todo", &headers(&[("sec-fetch-dest", "empty")])),
            "fetch() calls are not navigations"
        );
        assert!(is_navigation(
            &get,
            "/todo",
            &headers(&[("accept", "text/html,*/*")])
        ));
        assert!(!is_navigation(
            &get,
            "/todo/x",
            &headers(&[("accept", "text/html")])
        ));
        assert!(
            !is_navigation(&get, "/todo", &headers(&[])),
            "curl without Accept: text/html"
        );
        assert!(!is_navigation(
            &Method::POST,
            "/todo",
            &headers(&[("sec-fetch-dest", "document")])
        ));
        assert!(!is_navigation(
            &get,
            "/api/health",
            &headers(&[("sec-fetch-dest", "document")])
        ));
    }

    #[tokio::test]
    async fn env_keyval_and_cookie_excludes_all_bypass_and_env_ones_are_read_only() {
        let ex = Excludes::new(vec!["admin".into()]);
        assert!(ex.add("todo", None).await.unwrap());
        assert!(!ex.add("todo", None).await.unwrap(), "added once");
        assert_eq!(
            ex.add("admin", None).await,
            Err(Refused(
                "`admin` is already excluded by GATEWAY_SHELL_EXCLUDES / shellExcludes".into()
            ))
        );
        assert!(
            ex.add("a b", None)
                .await
                .unwrap_err()
                .0
                .contains("invalid basename")
        );
        assert_eq!(
            ex.add(" ", None).await,
            Err(Refused("basename is required".into()))
        );
        let none = HeaderMap::new();
        assert!(
            ex.bypasses("admin", &none)
                && ex.bypasses("todo", &none)
                && !ex.bypasses("docs", &none)
        );
        assert!(ex.bypasses(
            "docs",
            &headers(&[("cookie", "gateway_shell_excludes=docs")])
        ));
        assert_eq!(ex.names(), ["admin", "todo"]);
        assert!(ex.remove("admin", None).await.is_err());
        assert!(ex.remove("todo", None).await.unwrap());
        assert!(!ex.remove("todo", None).await.unwrap());
        assert_eq!(
            ex.list(),
            vec![json!({"basename": "admin", "source": "env"})]
        );
    }
}
