//! `buntime apps list|deploy|remove` against a remote runtime.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::Value;

use super::{Target, cell, emit, table};
use crate::client::{Client, Upload};
use crate::failure::{Failure, Outcome};
use crate::pack::{Overrides, Packed, pack};

#[derive(Subcommand, Debug)]
pub(crate) enum AppsCmd {
    /// List the installed apps and their versions.
    List,
    /// Upload an app: a directory (packed on the fly) or a `.tgz`/`.tar.gz`/`.zip` archive.
    Deploy {
        /// The app directory or archive.
        source: PathBuf,
        /// Deploy under this name instead of the manifest's (directories only).
        #[arg(long)]
        name: Option<String>,
        /// Deploy as this version instead of the manifest's (directories only).
        #[arg(long)]
        version: Option<String>,
    },
    /// Remove an app (every version), or one version with `--version`.
    Remove {
        /// `name` or `@scope/name`.
        name: String,
        #[arg(long)]
        version: Option<String>,
    },
}

pub(crate) fn run(cmd: AppsCmd, target: &Target) -> Outcome {
    let (remote, client) = target.connect()?;
    match cmd {
        AppsCmd::List => {
            let apps = client.get("/apps")?;
            emit(target.json, &apps, || list_table(&apps));
        }
        AppsCmd::Deploy {
            source,
            name,
            version,
        } => {
            let res = deploy(
                &client,
                &source,
                &Overrides { name, version },
                "/apps/upload",
                !target.json,
            )?;
            let app = &res["data"]["app"];
            emit(target.json, &res, || {
                format!(
                    "Deployed {} {} to `{remote}` ({}).\n",
                    cell(&app["name"]),
                    cell(&app["version"]),
                    cell(&app["installedAt"])
                )
            });
        }
        AppsCmd::Remove { name, version } => {
            let path = app_path(&name, version.as_deref())?;
            let res = client.delete(&path)?;
            let what = version.map_or_else(|| format!("app {name}"), |v| format!("app {name} {v}"));
            emit(target.json, &res, || {
                format!("Removed {what} from `{remote}`.\n")
            });
        }
    }
    Ok(())
}

fn list_table(apps: &Value) -> String {
    let Some(list) = apps.as_array().filter(|l| !l.is_empty()) else {
        return "No apps installed.\n".to_owned();
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|a| vec![cell(&a["name"]), cell(&a["versions"]), cell(&a["path"])])
        .collect();
    table(&["NAME", "VERSIONS", "PATH"], &rows)
}

/// `DELETE /apps/{scope}/{name}[/{version}]`, with `_` for unscoped names.
pub(crate) fn app_path(name: &str, version: Option<&str>) -> Outcome<String> {
    let enc = |s: &str| percent_encode(s);
    let (scope, bare) = match name.strip_prefix('@') {
        Some(rest) => match rest.split_once('/') {
            Some((s, n)) if !s.is_empty() && !n.is_empty() && !n.contains('/') => {
                (format!("@{}", enc(s)), n)
            }
            _ => {
                return Err(Failure::usage(format!(
                    "`{name}` is not `name` or `@scope/name`"
                )));
            }
        },
        None if !name.is_empty() && !name.contains('/') => ("_".to_owned(), name),
        None => {
            return Err(Failure::usage(format!(
                "`{name}` is not `name` or `@scope/name`"
            )));
        }
    };
    let mut path = format!("/apps/{scope}/{}", enc(bare));
    if let Some(v) = version {
        path.push('/');
        path.push_str(&enc(v));
    }
    Ok(path)
}

/// Encodes everything but unreserved characters, so a name can never add a path segment.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Packs (if a directory), checks the size limit, and uploads to `route`.
pub(crate) fn deploy(
    client: &Client,
    source: &Path,
    overrides: &Overrides,
    route: &str,
    progress: bool,
) -> Outcome<Value> {
    let meta = std::fs::metadata(source)
        .map_err(|e| Failure::usage(format!("`{}`: {e}", source.display())))?;
    // Kept alive until the upload is done: dropping it deletes the temp archive.
    let packed: Option<Packed> = if meta.is_dir() {
        Some(pack(source, overrides)?)
    } else {
        None
    };
    let (file, file_name) = match &packed {
        Some(p) => (p.file.path().to_owned(), p.file_name.clone()),
        None => {
            if !overrides.is_empty() {
                return Err(Failure::usage(
                    "--name and --version work with a directory; for an archive, set them in its manifest.yaml",
                ));
            }
            let file_name = source
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let lower = file_name.to_ascii_lowercase();
            if ![".tgz", ".tar.gz", ".zip"]
                .iter()
                .any(|ext| lower.ends_with(ext))
            {
                return Err(Failure::usage(format!(
                    "`{}` is neither a directory nor a .tgz, .tar.gz or .zip archive",
                    source.display()
                )));
            }
            (source.to_owned(), file_name)
        }
    };
    let size = std::fs::metadata(&file)?.len();
    let limit = buntime_apps::admin::MAX_UPLOAD_BYTES as u64;
    if size > limit {
        return Err(Failure::failed(format!(
            "`{}` is {size} bytes packed; the runtime accepts uploads up to {limit} bytes ({} MiB): leave out what the app does not need",
            source.display(),
            limit / (1024 * 1024)
        )));
    }
    client.upload(
        route,
        &Upload {
            file: &file,
            file_name,
            show_progress: progress,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_paths_encode_names_and_use_underscore_for_unscoped() {
        assert_eq!(app_path("web", None).unwrap(), "/apps/_/web");
        assert_eq!(
            app_path("@acme/web", Some("1.2.0")).unwrap(),
            "/apps/@acme/web/1.2.0"
        );
        assert_eq!(app_path("we b", None).unwrap(), "/apps/_/we%20b");
        for bad in ["", "a/b", "@acme", "@/x", "@a/b/c"] {
            assert!(app_path(bad, None).is_err(), "{bad}");
        }
        assert_eq!(percent_encode("../x"), "..%2Fx");
    }
}
