//! Downloads: a file streamed from disk, or folders streamed as one zip built while it is sent
//! (a bounded channel between the archiving thread and the response, so memory stays flat
//! whatever the size).

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use futures_util::stream;
use http::{HeaderValue, StatusCode, header};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::zipstream::{ZipStream, already_compressed};

/// Chunks sent to the client; with [`QUEUE`] of them in flight at most a few MiB are buffered.
const CHUNK: usize = 256 * 1024;
const QUEUE: usize = 4;

/// One thing to put in an archive.
#[derive(Debug, Clone)]
pub struct Item {
    /// The file or folder (already checked to be inside its root).
    pub abs: PathBuf,
    /// Its name in the archive; empty puts a folder's content at the top level.
    pub name: String,
    /// Names left out below it (the built-ins, the manifest's and its version's `excludes`).
    pub excludes: Arc<Vec<String>>,
}

/// `Content-Disposition: attachment` with an ASCII fallback and the UTF-8 name (RFC 6266).
pub fn disposition(file_name: &str) -> HeaderValue {
    let ascii: String = file_name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let encoded = percent_encoding::utf8_percent_encode(file_name, percent_encoding::NON_ALPHANUMERIC);
    HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// Streams one file.
///
/// # Errors
/// The file cannot be opened.
pub async fn file_response(abs: PathBuf, file_name: &str) -> io::Result<axum::response::Response> {
    let file = tokio::fs::File::open(&abs).await?;
    let len = file.metadata().await?.len();
    let body = stream::unfold((file, vec![0u8; CHUNK]), |(mut file, mut buf)| async move {
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => Some((Ok::<_, io::Error>(Bytes::copy_from_slice(&buf[..n])), (file, buf))),
            Err(e) => Some((Err(e), (file, buf))),
        }
    });
    let mut res = axum::response::Response::new(Body::from_stream(body));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::CONTENT_DISPOSITION, disposition(file_name));
    Ok(res)
}

/// Feeds the archive into the response in [`CHUNK`]s; a closed channel (the client left) stops
/// the archiving thread with `BrokenPipe`.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Whether a walked entry is left out of archives: excluded names, the original's `.dirinfo`
/// caches and this plugin's own staging folders.
pub fn skipped(name: &str, excludes: &[String]) -> bool {
    name == ".dirinfo" || name.starts_with(crate::STAGING_PREFIX) || excludes.iter().any(|e| e == name)
}

fn write_items(items: &[Item], out: ChannelWriter) -> io::Result<()> {
    let mut zip = ZipStream::new(out);
    for item in items {
        let top = std::fs::symlink_metadata(&item.abs)?;
        if !top.is_dir() {
            let mut f = std::fs::File::open(&item.abs)?;
            zip.add_file(&item.name, top.modified()?, top.len(), !already_compressed(&item.name), &mut f)?;
            continue;
        }
        if !item.name.is_empty() {
            zip.add_dir(&item.name, top.modified()?)?;
        }
        let walk = walkdir::WalkDir::new(&item.abs)
            .follow_links(false)
            .sort_by_file_name()
            .min_depth(1)
            .into_iter()
            .filter_entry(|e| !skipped(&e.file_name().to_string_lossy(), &item.excludes));
        for e in walk {
            let e = e.map_err(io::Error::other)?;
            let rel = e.path().strip_prefix(&item.abs).map_err(io::Error::other)?;
            let mut name = item.name.clone();
            for part in rel.components() {
                if !name.is_empty() {
                    name.push('/');
                }
                name.push_str(&part.as_os_str().to_string_lossy());
            }
            let ft = e.file_type();
            // Links are left out: following one could copy files from outside the root.
            if ft.is_symlink() {
                continue;
            }
            let meta = e.metadata().map_err(io::Error::other)?;
            if ft.is_dir() {
                zip.add_dir(&name, meta.modified()?)?;
            } else if ft.is_file() {
                let mut f = std::fs::File::open(e.path())?;
                zip.add_file(&name, meta.modified()?, meta.len(), !already_compressed(&name), &mut f)?;
            }
        }
    }
    zip.finish()?.flush()
}

/// Streams `items` as one zip named `file_name`.
pub fn zip_response(items: Vec<Item>, file_name: &str) -> axum::response::Response {
    let (tx, mut rx) = mpsc::channel::<io::Result<Bytes>>(QUEUE);
    let err_tx = tx.clone();
    tokio::task::spawn_blocking(move || {
        let out = ChannelWriter { tx, buf: Vec::with_capacity(CHUNK) };
        if let Err(e) = write_items(&items, out) {
            if e.kind() == io::ErrorKind::BrokenPipe {
                tracing::debug!("Zip download cancelled by the client.");
            } else {
                tracing::warn!(error = %e, "Zip download failed while streaming.");
                // The response has started: an error chunk aborts it, so the client sees a broken
                // download instead of a truncated zip that looks complete.
                let _ = err_tx.blocking_send(Err(e));
            }
        }
    });
    let body = stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut res = axum::response::Response::new(Body::from_stream(body));
    *res.status_mut() = StatusCode::OK;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    h.insert(header::CONTENT_DISPOSITION, disposition(file_name));
    res
}
