//! Packs a directory into a `.tar.gz` for upload, in Rust (no external `tar`), optionally with
//! the name and version in its manifest replaced.

use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Map, Value};

use crate::failure::{Failure, Outcome};

/// What to put into the archive's manifest instead of what the directory says.
#[derive(Debug, Default, Clone)]
pub(crate) struct Overrides {
    pub(crate) name: Option<String>,
    pub(crate) version: Option<String>,
}

impl Overrides {
    pub(crate) fn is_empty(&self) -> bool {
        self.name.is_none() && self.version.is_none()
    }
}

/// Directories never worth shipping.
const SKIPPED: &[&str] = &[".git"];

/// A packed directory: the temp file (deleted on drop) and the name to upload it as.
#[derive(Debug)]
pub(crate) struct Packed {
    pub(crate) file: tempfile::NamedTempFile,
    pub(crate) file_name: String,
}

/// Packs `dir` into a temporary `.tar.gz`; symlinks and special files are refused here, with
/// their path, because the runtime refuses them too.
pub(crate) fn pack(dir: &Path, overrides: &Overrides) -> Outcome<Packed> {
    let fail = |e: std::io::Error| Failure::failed(format!("cannot pack `{}`: {e}", dir.display()));
    let file = tempfile::Builder::new()
        .prefix("buntime-upload-")
        .suffix(".tar.gz")
        .tempfile()
        .map_err(fail)?;
    let gz = GzEncoder::new(file.reopen().map_err(fail)?, Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);
    let replaced = patched_manifest(dir, overrides)?;
    let mut files = Vec::new();
    walk(dir, Path::new(""), &mut files)?;
    for rel in &files {
        match &replaced {
            Some((path, bytes)) if path == rel => {
                append_bytes(&mut tar, rel, bytes).map_err(fail)?
            }
            _ => tar
                .append_path_with_name(dir.join(rel), rel)
                .map_err(fail)?,
        }
    }
    if let Some((rel, bytes)) = &replaced
        && !files.contains(rel)
    {
        append_bytes(&mut tar, rel, bytes).map_err(fail)?;
    }
    tar.into_inner()
        .and_then(GzEncoder::finish)
        .map_err(fail)?
        .sync_all()
        .map_err(fail)?;
    let base = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "upload".to_owned());
    Ok(Packed {
        file,
        file_name: format!("{base}.tar.gz"),
    })
}

fn append_bytes<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    rel: &Path,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    tar.append_data(&mut header, rel, bytes)
}

/// Lists regular files and directories under `root/rel`, sorted, so archives are reproducible.
fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Outcome {
    let dir = root.join(rel);
    let fail = |e: std::io::Error| Failure::usage(format!("cannot read `{}`: {e}", dir.display()));
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map_err(fail)?
        .collect::<Result<_, _>>()
        .map_err(fail)?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name();
        let child = rel.join(&name);
        let kind = entry.file_type().map_err(fail)?;
        if kind.is_dir() {
            if SKIPPED.iter().any(|s| name == *s) {
                continue;
            }
            out.push(child.clone());
            walk(root, &child, out)?;
        } else if kind.is_file() {
            out.push(child);
        } else {
            return Err(Failure::usage(format!(
                "`{}` is a symlink or special file; the runtime accepts only regular files and directories: replace it with a copy",
                root.join(&child).display()
            )));
        }
    }
    Ok(())
}

/// The manifest to write instead of the directory's, when `--name`/`--version` are given:
/// `manifest.yaml`/`.yml` with the fields replaced (written as JSON, which is YAML), else
/// `package.json` patched, else a new `manifest.yaml` with just those fields.
fn patched_manifest(dir: &Path, o: &Overrides) -> Outcome<Option<(PathBuf, Vec<u8>)>> {
    if o.is_empty() {
        return Ok(None);
    }
    let (rel, mut value) = match buntime_core::yaml::locate(dir) {
        Ok(Some(found)) => {
            let value = buntime_core::yaml::read(&found.file)
                .map_err(|e| Failure::usage(format!("`{}` {e}", found.file.display())))?;
            (
                found
                    .file
                    .strip_prefix(dir)
                    .unwrap_or(&found.file)
                    .to_owned(),
                value,
            )
        }
        Ok(None) if dir.join("package.json").is_file() => {
            let file = dir.join("package.json");
            let text = std::fs::read(&file)
                .map_err(|e| Failure::usage(format!("cannot read `{}`: {e}", file.display())))?;
            let value = serde_json::from_slice(&text).map_err(|e| {
                Failure::usage(format!("`{}` is not valid JSON: {e}", file.display()))
            })?;
            (PathBuf::from("package.json"), value)
        }
        Ok(None) => (PathBuf::from("manifest.yaml"), Value::Object(Map::new())),
        Err((file, e)) => return Err(Failure::usage(format!("`{}` {e}", file.display()))),
    };
    let Some(map) = value.as_object_mut() else {
        return Err(Failure::usage(format!(
            "`{}` is not a mapping, so --name/--version cannot be set in it",
            dir.join(&rel).display()
        )));
    };
    if let Some(n) = &o.name {
        map.insert("name".to_owned(), Value::String(n.clone()));
    }
    if let Some(v) = &o.version {
        map.insert("version".to_owned(), Value::String(v.clone()));
    }
    let mut bytes =
        serde_json::to_vec_pretty(&value).map_err(|e| Failure::failed(e.to_string()))?;
    bytes.push(b'\n');
    Ok(Some((rel, bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Read;

    fn entries(packed: &Packed) -> Vec<(String, String)> {
        let gz = flate2::read::GzDecoder::new(File::open(packed.file.path()).unwrap());
        let mut archive = tar::Archive::new(gz);
        let mut out = Vec::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let mut text = String::new();
            let _ = e.read_to_string(&mut text);
            out.push((path, text));
        }
        out
    }

    #[test]
    fn packs_files_and_dirs_but_not_git() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("manifest.yaml"),
            "name: app\nversion: 1.0.0\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/index.ts"), "export default {}").unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/HEAD"), "ref").unwrap();
        let packed = pack(dir.path(), &Overrides::default()).unwrap();
        let got = entries(&packed);
        let names: Vec<_> = got
            .iter()
            .map(|(p, _)| p.trim_end_matches('/').to_owned())
            .collect();
        assert_eq!(names, ["manifest.yaml", "src", "src/index.ts"]);
        assert_eq!(got[0].1, "name: app\nversion: 1.0.0\n");
        assert!(packed.file_name.ends_with(".tar.gz"));
    }

    #[test]
    fn overrides_replace_the_manifest_fields_and_keep_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("manifest.yaml"),
            "name: app\nversion: 1.0.0\nentrypoint: index.ts\n",
        )
        .unwrap();
        let o = Overrides {
            name: None,
            version: Some("2.0.0".to_owned()),
        };
        let got = entries(&pack(dir.path(), &o).unwrap());
        let manifest: Value = serde_json::from_str(&got[0].1).unwrap();
        assert_eq!(
            manifest,
            serde_json::json!({"name":"app","version":"2.0.0","entrypoint":"index.ts"})
        );
    }

    #[test]
    fn without_a_manifest_package_json_is_patched_or_a_manifest_written() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("package.json"),
            r#"{"name":"pkg","version":"0.1.0","type":"module"}"#,
        )
        .unwrap();
        let o = Overrides {
            name: Some("@acme/web".to_owned()),
            version: None,
        };
        let got = entries(&pack(dir.path(), &o).unwrap());
        assert_eq!(got.len(), 1);
        let pkg: Value = serde_json::from_str(&got[0].1).unwrap();
        assert_eq!(
            pkg,
            serde_json::json!({"name":"@acme/web","version":"0.1.0","type":"module"})
        );

        let empty = tempfile::tempdir().unwrap();
        std::fs::write(empty.path().join("index.html"), "<p>hi</p>").unwrap();
        let got = entries(
            &pack(
                empty.path(),
                &Overrides {
                    name: Some("site".into()),
                    version: Some("1.0.0".into()),
                },
            )
            .unwrap(),
        );
        assert_eq!(
            got.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
            ["index.html", "manifest.yaml"]
        );
        assert_eq!(
            serde_json::from_str::<Value>(&got[1].1).unwrap(),
            serde_json::json!({"name":"site","version":"1.0.0"})
        );
    }

    #[test]
    fn a_symlink_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("leak")).unwrap();
        let e = pack(dir.path(), &Overrides::default()).unwrap_err();
        assert!(
            e.message.contains("leak") && e.message.contains("symlink"),
            "{e}"
        );
    }
}
