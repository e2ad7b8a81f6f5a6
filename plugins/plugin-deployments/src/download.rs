//! Downloads: a file streamed from disk, or folders streamed as one zip built while it is sent
//! (a bounded channel between the archiving thread and the response, so memory stays flat
//! whatever the size).

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use bytes::Bytes;
use futures_util::stream;
use http::{HeaderValue, StatusCode, header};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

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

/// File names whose content is already compressed: stored as is, not deflated again.
pub fn already_compressed(name: &str) -> bool {
    const EXT: &[&str] = &[
        "zip", "gz", "tgz", "bz2", "xz", "zst", "7z", "rar", "png", "jpg", "jpeg", "gif", "webp", "avif", "woff", "woff2", "mp3", "mp4", "webm", "br",
    ];
    name.rsplit_once('.').is_some_and(|(_, ext)| EXT.iter().any(|e| ext.eq_ignore_ascii_case(e)))
}

/// Sizes at or past this get zip64 fields (below `u32::MAX`, so a file growing a little while it
/// is read still fits).
const ZIP64_FROM: u64 = 0xFFFF_0000;

/// The entry options for a file or folder last modified at `modified` (UTC; zip's MS-DOS time
/// cannot say before 1980, which becomes 1980-01-01).
fn options(modified: SystemTime, name: &str, size: u64, mode: u32) -> SimpleFileOptions {
    let (method, level) = if already_compressed(name) { (CompressionMethod::Stored, None) } else { (CompressionMethod::Deflated, Some(1)) };
    let time = jiff::Timestamp::try_from(modified)
        .ok()
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).datetime())
        .and_then(|d| {
            let part = |v: i8| u8::try_from(v).unwrap_or(0);
            zip::DateTime::from_date_and_time(u16::try_from(d.year()).ok()?, part(d.month()), part(d.day()), part(d.hour()), part(d.minute()), part(d.second())).ok()
        })
        .unwrap_or_default();
    SimpleFileOptions::default()
        .compression_method(method)
        .compression_level(level)
        .last_modified_time(time)
        .unix_permissions(mode)
        .large_file(size >= ZIP64_FROM)
}

/// Writes `items` as one zip into `out` without seeking: the `zip` crate's stream writer puts
/// each entry's CRC and sizes in a data descriptor after its data (ADR 0006).
fn write_items(items: &[Item], out: ChannelWriter) -> io::Result<()> {
    let mut zip = ZipWriter::new_stream(out);
    let add_file = |zip: &mut ZipWriter<_>, name: &str, path: &std::path::Path, meta: &std::fs::Metadata| -> io::Result<()> {
        let mut f = std::fs::File::open(path)?;
        zip.start_file(name, options(meta.modified()?, name, meta.len(), 0o644)).map_err(io::Error::other)?;
        io::copy(&mut f, zip)?;
        Ok(())
    };
    for item in items {
        let top = std::fs::symlink_metadata(&item.abs)?;
        if !top.is_dir() {
            add_file(&mut zip, &item.name, &item.abs, &top)?;
            continue;
        }
        if !item.name.is_empty() {
            zip.add_directory(item.name.as_str(), options(top.modified()?, "", 0, 0o755)).map_err(io::Error::other)?;
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
                zip.add_directory(name.as_str(), options(meta.modified()?, "", 0, 0o755)).map_err(io::Error::other)?;
            } else if ft.is_file() {
                add_file(&mut zip, &name, e.path(), &meta)?;
            }
        }
    }
    zip.finish().map_err(io::Error::other)?.into_inner().flush()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::Duration;

    /// Runs [`write_items`] on a folder and returns the archive's bytes.
    fn archive_of(items: Vec<Item>) -> Vec<u8> {
        let (tx, mut rx) = mpsc::channel::<io::Result<Bytes>>(QUEUE);
        let writer = std::thread::spawn(move || write_items(&items, ChannelWriter { tx, buf: Vec::new() }));
        let mut bytes = Vec::new();
        while let Some(chunk) = rx.blocking_recv() {
            bytes.extend_from_slice(&chunk.unwrap());
        }
        writer.join().unwrap().unwrap();
        bytes
    }

    #[test]
    fn the_zip_crate_reads_back_what_was_streamed() {
        let dir = tempfile::tempdir().unwrap();
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        std::fs::create_dir(dir.path().join("src")).unwrap();
        let text = "hello ".repeat(1000);
        for (name, body) in [("src/a.txt", text.as_bytes()), ("b.png", b"png".as_slice()), ("empty", b"".as_slice())] {
            std::fs::write(dir.path().join(name), body).unwrap();
            std::fs::File::options().write(true).open(dir.path().join(name)).unwrap().set_modified(t).unwrap();
        }
        std::fs::write(dir.path().join(".dirinfo"), "cache").unwrap();
        let bytes = archive_of(vec![Item { abs: dir.path().to_path_buf(), name: "app".into(), excludes: Arc::new(Vec::new()) }]);
        let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes)).unwrap();
        let mut names: Vec<_> = archive.file_names().map(|n| n.unwrap().into_owned()).collect();
        names.sort();
        assert_eq!(names, ["app/", "app/b.png", "app/empty", "app/src/", "app/src/a.txt"]);
        let mut s = String::new();
        archive.by_name("app/src/a.txt").unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, text);
        assert_eq!(archive.by_name("app/src/a.txt").unwrap().compression(), CompressionMethod::Deflated);
        assert_eq!(archive.by_name("app/b.png").unwrap().compression(), CompressionMethod::Stored);
        assert!(archive.by_name("app/src/").unwrap().is_dir());
        let m = archive.by_name("app/src/a.txt").unwrap().last_modified().unwrap();
        assert_eq!((m.year(), m.month(), m.day(), m.hour(), m.minute()), (2023, 11, 14, 22, 13));
    }

    #[test]
    fn compressed_formats_are_stored() {
        assert!(already_compressed("a.ZIP") && already_compressed("x.tar.gz") && !already_compressed("index.ts") && !already_compressed("README"));
    }
}
