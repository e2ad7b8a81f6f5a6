//! Safe extraction of uploaded `.tgz`/`.tar.gz`/`.zip` archives: no escapes, no links, capped sizes.

use std::fs::{self, OpenOptions};
use std::io::{Cursor, Read};
use std::path::{Component, Path, PathBuf};

/// Caps applied while extracting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest total uncompressed size, counted as bytes actually written.
    pub max_bytes: u64,
    /// Most entries (files and directories).
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_bytes: 100 * 1024 * 1024, max_entries: 10_000 }
    }
}

/// An archive format accepted for uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    /// Gzip-compressed tar (`.tgz`, `.tar.gz`).
    TarGz,
    /// Zip (`.zip`).
    Zip,
}

impl ArchiveKind {
    /// Returns the format a file name announces, if accepted.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".tgz") || lower.ends_with(".tar.gz") {
            Some(Self::TarGz)
        } else if lower.ends_with(".zip") {
            Some(Self::Zip)
        } else {
            None
        }
    }
}

/// Why an archive was rejected. Nothing extracted so far may be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArchiveError {
    /// An entry would escape the target or is not a plain file or directory.
    #[error("unsafe archive entry `{entry}`: {reason}")]
    Unsafe {
        /// The entry's name as stored.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The uncompressed content exceeds the size cap.
    #[error("archive content exceeds {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// The archive has too many entries.
    #[error("archive has more than {limit} entries")]
    TooManyEntries {
        /// The cap.
        limit: usize,
    },
    /// The archive holds no files.
    #[error("archive is empty")]
    Empty,
    /// The archive cannot be read.
    #[error("archive cannot be read: {0}")]
    Corrupt(String),
    /// Writing the extracted files failed.
    #[error("cannot write extracted files: {0}")]
    Io(String),
}

/// Extracts `data` into the empty directory `dest` and returns the content root: the single
/// top-level directory when the archive wraps everything in one (such as npm's `package/`), else `dest`.
///
/// # Errors
/// Any unsafe entry (absolute path, `..`, symlink, hard link, device, FIFO, duplicate), a cap
/// exceeded, or a corrupt archive rejects the whole archive; the caller discards `dest`.
pub fn extract(data: &[u8], kind: ArchiveKind, dest: &Path, limits: Limits) -> Result<PathBuf, ArchiveError> {
    let mut state = State { dest, limits, written: 0, entries: 0 };
    match kind {
        ArchiveKind::TarGz => extract_tar(data, &mut state)?,
        ArchiveKind::Zip => extract_zip(data, &mut state)?,
    }
    content_root(dest)
}

struct State<'a> {
    dest: &'a Path,
    limits: Limits,
    written: u64,
    entries: usize,
}

impl State<'_> {
    fn count(&mut self) -> Result<(), ArchiveError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(ArchiveError::TooManyEntries { limit: self.limits.max_entries });
        }
        Ok(())
    }

    fn dir(&mut self, rel: &Path) -> Result<(), ArchiveError> {
        fs::create_dir_all(self.dest.join(rel)).map_err(|e| ArchiveError::Io(e.to_string()))
    }

    fn file(&mut self, name: &str, rel: &Path, reader: &mut dyn Read) -> Result<(), ArchiveError> {
        let path = self.dest.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| ArchiveError::Io(e.to_string()))?;
        }
        let mut out = OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => ArchiveError::Unsafe { entry: name.to_owned(), reason: "duplicate entry" },
            _ => ArchiveError::Io(e.to_string()),
        })?;
        let remaining = self.limits.max_bytes - self.written;
        let n = std::io::copy(&mut reader.take(remaining + 1), &mut out).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        if n > remaining {
            return Err(ArchiveError::TooLarge { limit: self.limits.max_bytes });
        }
        self.written += n;
        Ok(())
    }
}

/// Validates an entry path: only plain relative components; `None` for the archive root itself.
fn safe_relative(name: &str, path: &Path) -> Result<Option<PathBuf>, ArchiveError> {
    let unsafe_entry = |reason| ArchiveError::Unsafe { entry: name.to_owned(), reason };
    if name.contains('\\') || name.contains('\0') {
        return Err(unsafe_entry("backslashes and NUL are not allowed in names"));
    }
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir => return Err(unsafe_entry("`..` escapes the target")),
            Component::RootDir | Component::Prefix(_) => return Err(unsafe_entry("absolute paths are not allowed")),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

fn extract_tar(data: &[u8], state: &mut State<'_>) -> Result<(), ArchiveError> {
    use tar::EntryType;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(data));
    let entries = archive.entries().map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            continue;
        }
        state.count()?;
        let path = entry.path().map_err(|e| ArchiveError::Corrupt(e.to_string()))?.into_owned();
        let name = path.to_string_lossy().into_owned();
        let rel = safe_relative(&name, &path)?;
        match kind {
            EntryType::Directory => {
                if let Some(rel) = rel {
                    state.dir(&rel)?;
                }
            }
            EntryType::Regular | EntryType::Continuous => {
                let rel = rel.ok_or_else(|| ArchiveError::Unsafe { entry: name.clone(), reason: "a file cannot be the archive root" })?;
                state.file(&name, &rel, &mut entry)?;
            }
            EntryType::Symlink => return Err(ArchiveError::Unsafe { entry: name, reason: "symbolic links are not allowed" }),
            EntryType::Link => return Err(ArchiveError::Unsafe { entry: name, reason: "hard links are not allowed" }),
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                return Err(ArchiveError::Unsafe { entry: name, reason: "device files and FIFOs are not allowed" });
            }
            _ => return Err(ArchiveError::Unsafe { entry: name, reason: "unsupported entry type" }),
        }
    }
    Ok(())
}

fn extract_zip(data: &[u8], state: &mut State<'_>) -> Result<(), ArchiveError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(data)).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    if archive.len() > state.limits.max_entries {
        return Err(ArchiveError::TooManyEntries { limit: state.limits.max_entries });
    }
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        state.count()?;
        let name = file.name().map_err(|e| ArchiveError::Corrupt(e.to_string()))?.into_owned();
        let rel = safe_relative(&name, Path::new(&name))?;
        if file.enclosed_name().is_none() {
            return Err(ArchiveError::Unsafe { entry: name, reason: "the path escapes the target" });
        }
        const S_IFMT: u32 = 0o170_000;
        const S_IFREG: u32 = 0o100_000;
        const S_IFDIR: u32 = 0o040_000;
        if let Some(mode) = file.unix_mode()
            && !matches!(mode & S_IFMT, 0 | S_IFREG | S_IFDIR)
        {
            return Err(ArchiveError::Unsafe { entry: name, reason: "symbolic links and special files are not allowed" });
        }
        if file.is_symlink() {
            return Err(ArchiveError::Unsafe { entry: name, reason: "symbolic links are not allowed" });
        }
        if file.is_dir() {
            if let Some(rel) = rel {
                state.dir(&rel)?;
            }
            continue;
        }
        let rel = rel.ok_or_else(|| ArchiveError::Unsafe { entry: name.clone(), reason: "a file cannot be the archive root" })?;
        state.file(&name, &rel, &mut file)?;
    }
    Ok(())
}

fn content_root(dest: &Path) -> Result<PathBuf, ArchiveError> {
    let entries: Vec<_> = fs::read_dir(dest).map_err(|e| ArchiveError::Io(e.to_string()))?.flatten().collect();
    match entries.as_slice() {
        [] => Err(ArchiveError::Empty),
        [only] if only.file_type().is_ok_and(|t| t.is_dir()) => Ok(only.path()),
        _ => Ok(dest.to_owned()),
    }
}

#[cfg(test)]
pub(crate) mod tests;
