//! REST routes for apps and plugins (spec §7.2, §7.3, §10.2): listing, uploads and deletes.

use std::path::{Path, PathBuf};

use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use buntime_core::{Response, respond};
use http::StatusCode;
use serde_json::{Value, json};

use crate::archive::{self, ArchiveKind, Limits};
use crate::backend::Apps;
use crate::config::read_manifest;
use crate::range::parse_label;
use crate::resolver::{candidates, is_safe_name, key_for, list_apps, read_package_json};

/// Largest upload accepted (the compressed archive).
pub const MAX_UPLOAD_BYTES: usize = 100 * 1024 * 1024;

/// Builds the router, with paths relative to the API path (the server nests it and authenticates):
/// `GET /apps`, `POST /apps/upload`, `DELETE /apps/{scope}/{name}[/{version}]`,
/// `POST /plugins/upload`, `DELETE /plugins/{name}`, `POST /plugins/{name}/enable|disable`.
/// The routes carry their OpenAPI descriptions, so the server's document lists them.
pub fn router(apps: Apps) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(upload_app))
        .routes(routes!(delete_app))
        .routes(routes!(delete_version))
        .routes(routes!(upload_plugin))
        .routes(routes!(delete_plugin))
        .routes(routes!(toggle::enable_plugin))
        .routes(routes!(toggle::disable_plugin))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
        .with_state(apps)
}

/// An error reply: status, code and message.
#[derive(Debug)]
struct Fail(StatusCode, &'static str, String);

impl Fail {
    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self(StatusCode::BAD_REQUEST, code, message.into())
    }

    fn into_response(self) -> Response {
        respond::json_error(self.0, self.1, &self.2)
    }
}

/// Lists installed apps with their versions, across every worker dir.
#[utoipa::path(get, path = "/apps", tag = "Apps", summary = "List apps",
    description = "Permission: `apps:read`.",
    responses((status = 200, description = "`[{name, path, versions: [...]}]`")))]
async fn list(State(apps): State<Apps>) -> Response {
    let dirs = apps.runtime_config().worker_dirs.clone();
    let listing = tokio::task::spawn_blocking(move || list_apps(&dirs)).await.unwrap_or_default();
    respond::json(StatusCode::OK, &serde_json::to_value(listing).unwrap_or(Value::Array(Vec::new())))
}

/// What is being installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    App,
    Plugin,
}

/// A finished install.
#[derive(Debug)]
struct Installed {
    name: String,
    version: String,
    path: PathBuf,
    /// Pool keys whose workers must be retired (the replaced app's and the new one's).
    keys: Vec<String>,
}

/// The first directory whose basename is not hidden, else the first one.
fn target_root(dirs: &[PathBuf]) -> Option<&PathBuf> {
    dirs.iter()
        .find(|d| d.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.')))
        .or_else(|| dirs.first())
}

/// Installs an app from an archive (`.tgz`, `.tar.gz`, `.zip`) into the first worker dir.
#[utoipa::path(post, path = "/apps/upload", tag = "Apps", summary = "Upload an app",
    description = "Permission: `apps:install`. Multipart field `file`. Entries may not escape the target (`..`, absolute paths, links); sizes and file counts are capped; a bad archive changes nothing. Running workers of a replaced version are retired gracefully.",
    responses((status = 200, description = "`{success: true, data: {app: {installedAt, name, version}}}`"),
        (status = 400, description = "`NO_FILE_PROVIDED`, `INVALID_FILE_TYPE`, `INVALID_ARCHIVE`, `INVALID_MANIFEST`, `MISSING_PACKAGE_NAME`, `INVALID_PACKAGE_NAME`, `INVALID_VERSION`, `PATH_TRAVERSAL`, `NO_WORKER_DIRS`"),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`"),
        (status = 429, description = "`TOO_MANY_UPLOADS`: `RUNTIME_MAX_UPLOADS` uploads are in progress")))]
async fn upload_app(State(apps): State<Apps>, multipart: Result<Multipart, MultipartRejection>) -> Response {
    upload(apps, multipart, Kind::App).await
}

/// Installs a plugin from an archive into the first plugin dir (reload to load it).
#[utoipa::path(post, path = "/plugins/upload", tag = "Plugins", summary = "Upload a plugin",
    description = "Permission: `plugins:install`. Multipart field `file`. Same archive rules as app uploads. Call `POST /plugins/reload` to load it.",
    responses((status = 200, description = "`{success: true, data: {plugin: {installedAt, name, version}}}`"),
        (status = 400, description = "`NO_FILE_PROVIDED`, `INVALID_FILE_TYPE`, `INVALID_ARCHIVE`, `INVALID_MANIFEST`, `MISSING_PACKAGE_NAME`, `INVALID_PACKAGE_NAME`, `PATH_TRAVERSAL`, `NO_PLUGIN_DIRS`"),
        (status = 409, description = "`PLUGIN_CONFLICT`: the target directory holds another plugin"),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`"),
        (status = 429, description = "`TOO_MANY_UPLOADS`: `RUNTIME_MAX_UPLOADS` uploads are in progress")))]
async fn upload_plugin(State(apps): State<Apps>, multipart: Result<Multipart, MultipartRejection>) -> Response {
    upload(apps, multipart, Kind::Plugin).await
}

async fn upload(apps: Apps, multipart: Result<Multipart, MultipartRejection>, kind: Kind) -> Response {
    let dirs = match kind {
        Kind::App => &apps.runtime_config().worker_dirs,
        Kind::Plugin => &apps.runtime_config().plugin_dirs,
    };
    let Some(root) = target_root(dirs).cloned() else {
        return match kind {
            Kind::App => Fail::bad("NO_WORKER_DIRS", "No worker directories are configured (set RUNTIME_WORKER_DIRS)."),
            Kind::Plugin => Fail::bad("NO_PLUGIN_DIRS", "No plugin directories are configured (set RUNTIME_PLUGIN_DIRS)."),
        }
        .into_response();
    };
    // Taken before the body is read: a refused upload costs nothing.
    let Some(_slot) = apps.try_upload_slot() else {
        let mut res = respond::json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_UPLOADS",
            &format!("{} uploads are already in progress (RUNTIME_MAX_UPLOADS); retry when one finishes.", apps.runtime_config().max_uploads),
        );
        res.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("5"));
        return res;
    };
    let (file_name, data) = match read_file_field(multipart).await {
        Ok(f) => f,
        Err(f) => return f.into_response(),
    };
    let Some(archive_kind) = ArchiveKind::from_file_name(&file_name) else {
        return Fail::bad("INVALID_FILE_TYPE", format!("`{file_name}` is not a .tgz, .tar.gz or .zip archive.")).into_response();
    };
    let guard = apps.lock_installs().await;
    let result = tokio::task::spawn_blocking(move || install(&root, &data, archive_kind, kind)).await;
    drop(guard);
    let installed = match result {
        Ok(Ok(i)) => i,
        Ok(Err(f)) => return f.into_response(),
        Err(_) => return Fail(StatusCode::INTERNAL_SERVER_ERROR, "INSTALL_FAILED", "The install task failed.".into()).into_response(),
    };
    apps.invalidate();
    for key in &installed.keys {
        apps.retire(key).await;
    }
    apps.announce(vec![installed.path.clone()], installed.keys.clone());
    tracing::info!(name = %installed.name, version = %installed.version, path = %installed.path.display(), "Installed upload.");
    let item = json!({ "installedAt": installed.path, "name": installed.name, "version": installed.version });
    let data = match kind {
        Kind::App => json!({ "app": item }),
        Kind::Plugin => json!({ "plugin": item }),
    };
    respond::json(StatusCode::OK, &json!({ "success": true, "data": data }))
}

async fn read_file_field(multipart: Result<Multipart, MultipartRejection>) -> Result<(String, bytes::Bytes), Fail> {
    let no_file = || Fail::bad("NO_FILE_PROVIDED", "Send the archive as multipart/form-data field `file`.");
    let mut multipart = multipart.map_err(|_| no_file())?;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => return Err(no_file()),
            Err(e) => {
                return Err(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Fail(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", format!("Uploads are limited to {MAX_UPLOAD_BYTES} bytes."))
                } else {
                    Fail::bad("INVALID_UPLOAD", format!("The multipart body cannot be read: {}", e.body_text()))
                });
            }
        };
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or_default().to_owned();
        let data = field.bytes().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Fail(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", format!("Uploads are limited to {MAX_UPLOAD_BYTES} bytes."))
            } else {
                Fail::bad("INVALID_UPLOAD", format!("The file cannot be read: {}", e.body_text()))
            }
        })?;
        return Ok((name, data));
    }
}

/// Splits and validates `[@scope/]name`.
fn split_name(full: &str) -> Option<(Option<&str>, &str)> {
    match full.strip_prefix('@') {
        Some(rest) => {
            let (scope, name) = rest.split_once('/')?;
            (is_safe_name(scope) && is_safe_name(name)).then(|| (Some(&full[..=scope.len()]), name))
        }
        None => is_safe_name(full).then_some((None, full)),
    }
}

/// Reads `name` and `version` from the manifest, each missing one filled from `package.json`.
///
/// # Errors
/// The manifest exists but cannot be used (not YAML, too large or deep, a key twice, …): a 400
/// `INVALID_MANIFEST` naming the file (relative to the archive) and the parser's position.
fn package_info(dir: &Path) -> Result<(Option<String>, Option<String>), Fail> {
    let get = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let manifest = match read_manifest(dir) {
        Ok(found) => found.map(|(_, m)| Value::Object(m)).unwrap_or(Value::Null),
        Err((file, p)) => {
            let rel = file.strip_prefix(dir).unwrap_or(&file).display().to_string();
            let key = if p.key.starts_with('(') { String::new() } else { format!(" key `{}`", p.key) };
            return Err(Fail::bad("INVALID_MANIFEST", format!("`{rel}`{key} {}; fix: {}.", p.message, p.fix)));
        }
    };
    let pkg = read_package_json(&dir.join("package.json")).unwrap_or(Value::Null);
    Ok((get(&manifest, "name").or_else(|| get(&pkg, "name")), get(&manifest, "version").or_else(|| get(&pkg, "version"))))
}

/// Creates the missing directories between `root` and `path`'s parent, one level at a time,
/// refusing to pass through anything but real directories (a symlink could lead outside `root`).
fn make_parents(root: &Path, path: &Path) -> Result<(), Fail> {
    let traversal = || Fail::bad("PATH_TRAVERSAL", format!("`{}` is outside `{}`.", path.display(), root.display()));
    let rel = path.parent().and_then(|p| p.strip_prefix(root).ok()).ok_or_else(traversal)?;
    let mut at = root.to_owned();
    for c in rel.components() {
        let std::path::Component::Normal(name) = c else { return Err(traversal()) };
        at.push(name);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(traversal()),
            Err(_) => std::fs::create_dir(&at).map_err(|e| {
                Fail(StatusCode::INTERNAL_SERVER_ERROR, "INSTALL_FAILED", format!("cannot create `{}`: {e}", at.display()))
            })?,
        }
    }
    Ok(())
}

/// Checks that `path`'s parent (which must exist) resolves inside `root`.
fn contained(root: &Path, path: &Path) -> Result<(), Fail> {
    let traversal = || Fail::bad("PATH_TRAVERSAL", format!("`{}` is outside `{}`.", path.display(), root.display()));
    let root = std::fs::canonicalize(root).map_err(|_| traversal())?;
    let parent = path.parent().ok_or_else(traversal)?;
    let parent = std::fs::canonicalize(parent).map_err(|_| traversal())?;
    if !parent.starts_with(&root) || path.file_name().is_none() {
        return Err(traversal());
    }
    Ok(())
}

fn install(root: &Path, data: &[u8], archive_kind: ArchiveKind, kind: Kind) -> Result<Installed, Fail> {
    let io = |what: &str, e: std::io::Error| Fail(StatusCode::INTERNAL_SERVER_ERROR, "INSTALL_FAILED", format!("{what}: {e}"));
    std::fs::create_dir_all(root).map_err(|e| io("cannot create the target directory", e))?;
    // Extract next to the final location (same filesystem, so the final move is a rename); the
    // hidden temp dir is removed on every exit path.
    let tmp = tempfile::Builder::new().prefix(".buntime-upload-").tempdir_in(root).map_err(|e| io("cannot create a temporary directory", e))?;
    let dest = tmp.path().join("content");
    std::fs::create_dir(&dest).map_err(|e| io("cannot create a temporary directory", e))?;
    let content = archive::extract(data, archive_kind, &dest, Limits::default()).map_err(|e| Fail::bad("INVALID_ARCHIVE", e.to_string()))?;

    let (name, version) = package_info(&content)?;
    let name = name.ok_or_else(|| Fail::bad("MISSING_PACKAGE_NAME", "The archive has no `name` in manifest.yaml or package.json."))?;
    let Some((scope, bare)) = split_name(&name) else {
        return Err(Fail::bad("INVALID_PACKAGE_NAME", format!("`{name}` is not a valid name: use `name` or `@scope/name` with letters, digits, `.`, `_`, `-`, `~`.")));
    };
    let version = version.unwrap_or_else(|| "latest".to_owned());
    let mut path = root.to_owned();
    if let Some(s) = scope {
        path.push(s);
    }
    path.push(bare);
    if kind == Kind::App {
        if version != "latest" && parse_label(&version).is_none() {
            return Err(Fail::bad("INVALID_VERSION", format!("`{version}` is not a semver version (like `1.2.3`) or `latest`.")));
        }
        path.push(&version);
    }
    make_parents(root, &path)?;
    contained(root, &path)?;

    let mut keys = Vec::new();
    let exists = std::fs::symlink_metadata(&path).is_ok();
    if kind == Kind::Plugin && exists {
        refuse_other_plugin(&path, &name)?;
    }
    if kind == Kind::App {
        if exists {
            keys.push(key_for(&name, &version, &path));
        }
        let new_key = key_for(&name, &version, &content);
        if !keys.contains(&new_key) {
            keys.push(new_key);
        }
    }
    if exists {
        let old = tmp.path().join("previous");
        std::fs::rename(&path, &old).map_err(|e| io("cannot move the installed version aside", e))?;
        if let Err(e) = std::fs::rename(&content, &path) {
            let _ = std::fs::rename(&old, &path);
            return Err(io("cannot move the upload into place", e));
        }
    } else {
        std::fs::rename(&content, &path).map_err(|e| io("cannot move the upload into place", e))?;
    }
    Ok(Installed { name, version, path, keys })
}

/// Refuses to replace `path` unless it holds plugin `name` (a plugin's directory name need not
/// match its manifest name, so `hello` may hold `@acme/plugin-hello`).
fn refuse_other_plugin(path: &Path, name: &str) -> Result<(), Fail> {
    let conflict = |what: String| {
        Fail(
            StatusCode::CONFLICT,
            "PLUGIN_CONFLICT",
            format!("`{}` already holds {what}; uploading plugin `{name}` would replace it. Delete it first (DELETE /api/plugins/...) or rename the upload.", path.display()),
        )
    };
    match package_info(path) {
        Ok((Some(existing), _)) if existing == name => Ok(()),
        Ok((Some(existing), _)) => Err(conflict(format!("plugin `{existing}`"))),
        Ok((None, _)) => Err(conflict("a directory without a plugin name".to_owned())),
        Err(Fail(_, _, why)) => Err(conflict(format!("a plugin whose manifest cannot be read ({why})"))),
    }
}

/// Removes an app (every version); `scope` is `@scope`, or `_` for unscoped apps.
#[utoipa::path(delete, path = "/apps/{scope}/{name}", tag = "Apps", summary = "Delete an app",
    description = "Permission: `apps:remove`. Names that would leave the worker dirs are rejected.",
    params(("scope" = String, Path, description = "`@scope` or `_`"), ("name" = String, Path, description = "The app name")),
    responses((status = 200, description = "`{success: true}`"), (status = 400, description = "`INVALID_NAME`, or `INVALID_SCOPE` when the scope is neither `@scope` nor `_`"), (status = 404, description = "`APP_NOT_FOUND`")))]
async fn delete_app(State(apps): State<Apps>, axum::extract::Path((scope, name)): axum::extract::Path<(String, String)>) -> Response {
    remove_app(apps, &scope, &name, None).await
}

/// Removes one version of an app.
#[utoipa::path(delete, path = "/apps/{scope}/{name}/{version}", tag = "Apps", summary = "Delete an app version",
    description = "Permission: `apps:remove`.",
    params(("scope" = String, Path, description = "`@scope` or `_`"), ("name" = String, Path, description = "The app name"), ("version" = String, Path, description = "The version folder")),
    responses((status = 200, description = "`{success: true}`"), (status = 400, description = "`INVALID_NAME`, or `INVALID_SCOPE` when the scope is neither `@scope` nor `_`"), (status = 404, description = "`VERSION_NOT_FOUND`")))]
async fn delete_version(
    State(apps): State<Apps>,
    axum::extract::Path((scope, name, version)): axum::extract::Path<(String, String, String)>,
) -> Response {
    remove_app(apps, &scope, &name, Some(&version)).await
}

async fn remove_app(apps: Apps, scope: &str, name: &str, version: Option<&str>) -> Response {
    if name.trim().is_empty() || scope.trim().is_empty() || version.is_some_and(|v| v.trim().is_empty()) {
        return Fail::bad("MISSING_PARAMS", "Give the scope (`_` for none), the name and optionally the version.").into_response();
    }
    if scope != "_" && !scope.starts_with('@') {
        return Fail::bad(
            "INVALID_SCOPE",
            format!("`{scope}` is not a scope: use `@scope` for a scoped app or `_` for an unscoped one (DELETE /api/apps/_/{name})."),
        )
        .into_response();
    }
    let scope = scope.starts_with('@').then_some(scope);
    if scope.is_some_and(|s| !is_safe_name(&s[1..])) || !is_safe_name(name) || version.is_some_and(|v| !is_safe_name(v)) {
        return Fail::bad("INVALID_NAME", "Names may only use letters, digits, `.`, `_`, `-`, `~` and may not start with `.`.").into_response();
    }
    let full = match scope {
        Some(s) => format!("{s}/{name}"),
        None => name.to_owned(),
    };
    let not_found = match version {
        Some(v) => Fail(StatusCode::NOT_FOUND, "VERSION_NOT_FOUND", format!("Version `{v}` of app `{full}` is not installed.")),
        None => Fail(StatusCode::NOT_FOUND, "APP_NOT_FOUND", format!("App `{full}` is not installed.")),
    };
    let dirs = apps.runtime_config().worker_dirs.clone();
    let (scope, name, version) = (scope.map(str::to_owned), name.to_owned(), version.map(str::to_owned));
    let guard = apps.lock_installs().await;
    let result = tokio::task::spawn_blocking(move || find_and_remove(&dirs, scope.as_deref(), &name, version.as_deref(), &full)).await;
    drop(guard);
    match result {
        Ok(Ok(Some((paths, keys)))) => {
            apps.invalidate();
            for k in &keys {
                apps.retire(k).await;
            }
            apps.announce(paths, keys);
            respond::json(StatusCode::OK, &json!({ "success": true }))
        }
        Ok(Ok(None)) => not_found.into_response(),
        Ok(Err(f)) => f.into_response(),
        Err(_) => Fail(StatusCode::INTERNAL_SERVER_ERROR, "DELETE_FAILED", "The delete task failed.".into()).into_response(),
    }
}

/// The directories a delete removed, and their pool keys.
type Removed = (Vec<PathBuf>, Vec<String>);

/// Removes the app (every version: nested dir and flat `name@*` dirs) or one version from the
/// first worker dir that has it. Returns what was removed, `None` if nothing was found.
fn find_and_remove(dirs: &[PathBuf], scope: Option<&str>, name: &str, version: Option<&str>, full: &str) -> Result<Option<Removed>, Fail> {
    let all = candidates(dirs, scope, name);
    for wd in dirs {
        let parent = match scope {
            Some(s) => wd.join(s),
            None => wd.clone(),
        };
        let mut targets = Vec::new();
        match version {
            Some(v) => {
                let nested = parent.join(name).join(v);
                let flat = parent.join(format!("{name}@{v}"));
                if let Some(t) = [nested, flat].into_iter().find(|p| std::fs::symlink_metadata(p).is_ok()) {
                    targets.push(t);
                }
            }
            None => {
                let nested = parent.join(name);
                if std::fs::symlink_metadata(&nested).is_ok() {
                    targets.push(nested);
                }
                if let Ok(entries) = std::fs::read_dir(&parent) {
                    let prefix = format!("{name}@");
                    let mut flat: Vec<PathBuf> =
                        entries.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(&prefix)).map(|e| e.path()).collect();
                    flat.sort();
                    targets.extend(flat);
                }
            }
        }
        if targets.is_empty() {
            continue;
        }
        let keys: Vec<String> = all
            .iter()
            .filter(|c| targets.iter().any(|t| c.dir.starts_with(t)))
            .map(|c| key_for(full, &c.label, &c.dir))
            .collect();
        for t in &targets {
            remove(wd, t)?;
        }
        return Ok(Some((targets, keys)));
    }
    Ok(None)
}

/// Removes `path` (a directory or a symlink, never followed) after checking it lies inside `root`.
/// Directories are first renamed into a hidden temp dir, so they vanish from routing at once.
fn remove(root: &Path, path: &Path) -> Result<(), Fail> {
    contained(root, path)?;
    let io = |e: std::io::Error| Fail(StatusCode::INTERNAL_SERVER_ERROR, "DELETE_FAILED", format!("cannot remove `{}`: {e}", path.display()));
    let meta = std::fs::symlink_metadata(path).map_err(io)?;
    if !meta.is_dir() {
        return std::fs::remove_file(path).map_err(io);
    }
    let trash = tempfile::Builder::new().prefix(".buntime-trash-").tempdir_in(root).map_err(io)?;
    std::fs::rename(path, trash.path().join("removed")).map_err(io)?;
    // Dropping `trash` deletes the renamed directory recursively.
    drop(trash);
    Ok(())
}

/// Removes a plugin directory (it stays loaded until the next reload).
#[utoipa::path(delete, path = "/plugins/{name}", tag = "Plugins", summary = "Delete a plugin",
    description = "Permission: `plugins:remove`. The name is URL-decoded (`%40s%2Fp` is `@s/p`); names that would leave the plugin dirs are rejected.",
    params(("name" = String, Path, description = "The plugin directory name, `@scope/name` URL-encoded")),
    responses((status = 200, description = "`{success: true}`"), (status = 400, description = "`INVALID_NAME`"), (status = 404, description = "`PLUGIN_NOT_FOUND`")))]
async fn delete_plugin(State(apps): State<Apps>, axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let name = name.trim().to_owned();
    if name.is_empty() {
        return Fail::bad("MISSING_NAME", "Give the plugin name.").into_response();
    }
    let Some((scope, bare)) = split_name(&name) else {
        return Fail::bad("INVALID_NAME", "Use `name` or `@scope/name` with letters, digits, `.`, `_`, `-`, `~`.").into_response();
    };
    let rel = match scope {
        Some(s) => Path::new(s).join(bare),
        None => PathBuf::from(bare),
    };
    let dirs = apps.runtime_config().plugin_dirs.clone();
    let guard = apps.lock_installs().await;
    let result = tokio::task::spawn_blocking(move || {
        for pd in &dirs {
            let path = pd.join(&rel);
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() || m.is_symlink()) {
                return remove(pd, &path).map(|()| true);
            }
        }
        Ok(false)
    })
    .await;
    drop(guard);
    match result {
        Ok(Ok(true)) => respond::json(StatusCode::OK, &json!({ "success": true })),
        Ok(Ok(false)) => Fail(StatusCode::NOT_FOUND, "PLUGIN_NOT_FOUND", format!("Plugin `{name}` is not installed.")).into_response(),
        Ok(Err(f)) => f.into_response(),
        Err(_) => Fail(StatusCode::INTERNAL_SERVER_ERROR, "DELETE_FAILED", "The delete task failed.".into()).into_response(),
    }
}

mod toggle;

#[cfg(test)]
mod tests;
