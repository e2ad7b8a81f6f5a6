//! The HTTP client to a remote runtime's REST API: discovery, JSON calls, streamed uploads, and
//! errors turned into messages and exit codes a person can act on.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use reqwest::blocking::{Client as Http, RequestBuilder, Response, multipart};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::failure::{Failure, Kind, Outcome};
use crate::profiles::Profile;

/// A connection to one remote runtime.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: Http,
    url: String,
    api: String,
    token: String,
}

/// Builds the underlying HTTP client for `url`; `insecure` accepts any certificate.
fn http(url: &str, insecure: bool, timeout: Option<Duration>) -> Outcome<Http> {
    // Reading and parsing the CA stores costs more than a whole request on loopback: only https
    // URLs need them.
    let https = url.starts_with("https://");
    Http::builder()
        .tls_built_in_root_certs(https)
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .danger_accept_invalid_certs(insecure)
        .user_agent(concat!("buntime-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Failure::failed(format!("cannot set up the HTTP client: {e}")))
}

/// Normalises a remote URL: http(s) only, no query or fragment, no trailing slash.
pub(crate) fn normalise_url(raw: &str) -> Outcome<String> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| Failure::usage(format!("--url `{raw}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Failure::usage(format!(
            "--url `{raw}` must be an http:// or https:// URL with a host"
        )));
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(Failure::usage(format!(
            "--url `{raw}` may not have credentials, a query or a fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Asks `url` for `/.well-known/buntime` and returns the API base it names (`/api`, `/_/api`).
pub(crate) fn discover(url: &str, insecure: bool) -> Outcome<(String, Value)> {
    let target = format!("{url}/.well-known/buntime");
    let res = http(url, insecure, Some(Duration::from_secs(15)))?
        .get(&target)
        .send()
        .map_err(|e| transport(url, &e))?;
    if !res.status().is_success() {
        return Err(Failure::failed(format!(
            "{target} answered {}: is this a Buntime runtime (and the URL its root)?",
            res.status()
        )));
    }
    let body: Value = res.json().map_err(|_| {
        Failure::failed(format!(
            "{target} did not answer JSON: is this a Buntime runtime?"
        ))
    })?;
    let api = body["api"]
        .as_str()
        .filter(|a| a.starts_with('/'))
        .map(|a| a.trim_end_matches('/').to_owned());
    let api = api.ok_or_else(|| {
        Failure::failed(format!("{target} has no `api` path in its answer: {body}"))
    })?;
    Ok((api, body))
}

/// An upload's source file and how to report progress.
#[derive(Debug)]
pub(crate) struct Upload<'a> {
    pub(crate) file: &'a Path,
    pub(crate) file_name: String,
    pub(crate) show_progress: bool,
}

impl Client {
    pub(crate) fn new(profile: &Profile, token: String) -> Outcome<Self> {
        Ok(Self {
            http: http(&profile.url, profile.insecure, None)?,
            url: profile.url.clone(),
            api: profile.api.clone(),
            token,
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self
            .http
            .request(method, format!("{}{}{path}", self.url, self.api))
            .timeout(Duration::from_secs(60));
        if self.token.is_empty() {
            req
        } else {
            req.bearer_auth(&self.token)
        }
    }

    /// GET `path` (relative to the API base) as JSON.
    pub(crate) fn get(&self, path: &str) -> Outcome<Value> {
        self.send(self.request(Method::GET, path))
    }

    /// POST `body` as JSON.
    pub(crate) fn post(&self, path: &str, body: &Value) -> Outcome<Value> {
        self.send(self.request(Method::POST, path).json(body))
    }

    pub(crate) fn delete(&self, path: &str) -> Outcome<Value> {
        self.send(self.request(Method::DELETE, path))
    }

    /// POST with an empty body; a 422 report (a failed reload) comes back as an answer.
    pub(crate) fn post_report(&self, path: &str) -> Outcome<(StatusCode, Value)> {
        self.send_accepting(
            self.request(Method::POST, path),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    }

    /// GET where a 503 (not ready) comes back as an answer with its JSON.
    pub(crate) fn get_report(&self, path: &str) -> Outcome<(StatusCode, Value)> {
        self.send_accepting(
            self.request(Method::GET, path),
            StatusCode::SERVICE_UNAVAILABLE,
        )
    }

    fn send_accepting(
        &self,
        req: RequestBuilder,
        also: StatusCode,
    ) -> Outcome<(StatusCode, Value)> {
        let res = req.send().map_err(|e| transport(&self.url, &e))?;
        let status = res.status();
        if status == also {
            return Ok((status, res.json().unwrap_or(Value::Null)));
        }
        Ok((status, ok_json(res)?))
    }

    /// Streams `upload.file` as multipart field `file` to `path`, with a progress bar on stderr.
    pub(crate) fn upload(&self, path: &str, upload: &Upload<'_>) -> Outcome<Value> {
        let file = std::fs::File::open(upload.file)
            .map_err(|e| Failure::usage(format!("cannot open `{}`: {e}", upload.file.display())))?;
        let len = file.metadata()?.len();
        let bar = if upload.show_progress {
            indicatif::ProgressBar::new(len)
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(format!("uploading {}", upload.file_name));
        let reader = Progress {
            inner: file,
            bar: bar.clone(),
        };
        let part = multipart::Part::reader_with_length(reader, len)
            .file_name(upload.file_name.clone())
            .mime_str("application/octet-stream")
            .map_err(|e| Failure::failed(e.to_string()))?;
        let form = multipart::Form::new().part("file", part);
        // Large archives on slow links: no overall timeout, the connect timeout still applies.
        let sent = self
            .request(Method::POST, path)
            .timeout(Duration::from_secs(3600))
            .multipart(form)
            .send();
        bar.finish_and_clear();
        match sent {
            Ok(res) => ok_json(res),
            Err(e) => Err(self.refusal_before_body(path).unwrap_or_else(|| upload_error(&self.url, &e))),
        }
    }

    /// Why an upload whose connection closed mid-body was refused, if it was.
    ///
    /// A runtime refuses an upload (401/403 for the key, 413, 429) from its head alone, before
    /// reading the body; reqwest's blocking client then reports the broken body stream instead of
    /// the answer it received. The same POST with an empty body gets the same refusal, which
    /// names the real cause; any other answer says nothing about the failed upload.
    fn refusal_before_body(&self, path: &str) -> Option<Failure> {
        let res = self.request(Method::POST, path).header("content-length", "0").send().ok()?;
        let status = res.status();
        let refused = [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN, StatusCode::PAYLOAD_TOO_LARGE, StatusCode::TOO_MANY_REQUESTS];
        if !refused.contains(&status) {
            return None;
        }
        ok_json(res).err()
    }

    fn send(&self, req: RequestBuilder) -> Outcome<Value> {
        let res = req.send().map_err(|e| transport(&self.url, &e))?;
        ok_json(res)
    }
}

/// Counts bytes into the progress bar as the multipart body reads the file.
struct Progress {
    inner: std::fs::File,
    bar: indicatif::ProgressBar,
}

impl Read for Progress {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// A 2xx JSON answer, or the runtime's error turned into a [`Failure`].
fn ok_json(res: Response) -> Outcome<Value> {
    let status = res.status();
    let text = res.text().unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    Err(answer_error(status, &body, &text))
}

/// Turns an error answer into a message naming the status, the runtime's code and its words.
pub(crate) fn answer_error(status: StatusCode, body: &Value, text: &str) -> Failure {
    let code = body["code"].as_str().unwrap_or("");
    let said = body["message"]
        .as_str()
        .or_else(|| body["error"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let t: String = text.chars().take(200).collect();
            if t.trim().is_empty() {
                status.canonical_reason().unwrap_or("").to_owned()
            } else {
                t
            }
        });
    let said = buntime_auth::cli::printable(&said, 300);
    let tag = if code.is_empty() {
        status.as_u16().to_string()
    } else {
        format!("{} {code}", status.as_u16())
    };
    match status {
        StatusCode::UNAUTHORIZED => Failure::new(
            Kind::Auth,
            format!(
                "the runtime refused the token ({tag}: {said}); check it, or add the remote again with a valid --token"
            ),
        ),
        StatusCode::FORBIDDEN => Failure::new(
            Kind::Auth,
            format!(
                "the token is not allowed to do this ({tag}: {said}); use a key with that permission"
            ),
        ),
        StatusCode::NOT_FOUND => Failure::new(Kind::NotFound, format!("not found ({tag}: {said})")),
        _ => Failure::failed(format!("the runtime answered {tag}: {said}")),
    }
}

/// The innermost cause's words, e.g. `Connection refused (os error 111)` or a rustls message.
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn is_tls(e: &reqwest::Error) -> bool {
    has_rustls_error(e) || {
        let words = root_cause(e).to_ascii_lowercase();
        words.contains("certificate") || words.contains("tls") || words.contains("handshake")
    }
}

/// Whether a rustls error is anywhere in the chain, including inside (nested) `io::Error`s,
/// whose `source()` skips the error they wrap.
fn has_rustls_error(e: &(dyn std::error::Error + 'static)) -> bool {
    if e.is::<rustls::Error>() {
        return true;
    }
    let wrapped = e
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref);
    if wrapped.is_some_and(|w| has_rustls_error(w)) {
        return true;
    }
    e.source().is_some_and(has_rustls_error)
}

/// A request that got no answer: connection refused, DNS, TLS, timeout.
pub(crate) fn transport(url: &str, e: &reqwest::Error) -> Failure {
    let cause = root_cause(e);
    let message = if is_tls(e) {
        format!(
            "TLS error talking to {url}: {cause}; check that the URL is https only if the runtime serves TLS, and for a self-signed certificate add the remote with --insecure"
        )
    } else if e.is_timeout() {
        format!("{url} did not answer in time ({cause})")
    } else if e.is_connect() {
        format!("cannot connect to {url}: {cause}; is the runtime running and the URL right?")
    } else {
        format!("the connection to {url} failed: {cause}")
    };
    Failure::new(Kind::Connection, message)
}

fn upload_error(url: &str, e: &reqwest::Error) -> Failure {
    if e.is_connect() || e.is_timeout() || is_tls(e) {
        return transport(url, e);
    }
    Failure::new(
        Kind::Connection,
        format!(
            "the upload to {url} did not complete: the connection was closed before the runtime answered ({}); nothing was confirmed installed, retry",
            root_cause(e)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_are_normalised_and_odd_ones_refused() {
        assert_eq!(
            normalise_url("http://127.0.0.1:8000/").unwrap(),
            "http://127.0.0.1:8000"
        );
        assert_eq!(
            normalise_url("https://rt.example.com/base/").unwrap(),
            "https://rt.example.com/base"
        );
        for bad in ["ftp://x", "nope", "http://u:p@x", "http://x/?q=1"] {
            assert_eq!(normalise_url(bad).unwrap_err().kind, Kind::Usage, "{bad}");
        }
    }

    #[test]
    fn error_answers_map_to_exit_kinds_with_the_runtimes_words() {
        let e = answer_error(
            StatusCode::UNAUTHORIZED,
            &json!({"code":"AUTH_REQUIRED","error":"Unauthorized"}),
            "",
        );
        assert_eq!(e.kind, Kind::Auth);
        assert!(
            e.message.contains("401 AUTH_REQUIRED") && e.message.contains("--token"),
            "{e}"
        );
        let e = answer_error(
            StatusCode::FORBIDDEN,
            &json!({"code":"PERMISSION_DENIED","error":"Missing permission: apps:install"}),
            "",
        );
        assert!(e.message.contains("apps:install"), "{e}");
        let e = answer_error(
            StatusCode::NOT_FOUND,
            &json!({"code":"APP_NOT_FOUND","message":"App `x` is not installed."}),
            "",
        );
        assert_eq!(e.kind, Kind::NotFound);
        let e = answer_error(StatusCode::BAD_GATEWAY, &Value::Null, "<html>\u{1b}[31m");
        assert_eq!(e.kind, Kind::Failed);
        assert!(
            !e.message.contains('\u{1b}'),
            "escape sequences from the answer are defused: {e}"
        );
    }
}
