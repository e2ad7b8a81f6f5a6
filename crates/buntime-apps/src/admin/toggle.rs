//! `POST /plugins/{name}/enable|disable`: sets `enabled` in a plugin's manifest (reload to apply),
//! rewriting one line so the rest of the file, comments included, stays as written.

use std::path::{Path, PathBuf};

use axum::extract::State;
use buntime_core::{Response, respond};
use http::StatusCode;
use serde_json::{Value, json};

use super::{Fail, split_name};
use crate::backend::Apps;

/// Enables a plugin: its manifest's `enabled` becomes `true` (reload to load it).
#[utoipa::path(post, path = "/plugins/{name}/enable", tag = "Plugins", summary = "Enable a plugin",
    description = "Permission: `plugins:install`. Sets `enabled: true` in the plugin directory's manifest, changing only that line; `POST /plugins/reload` applies it.",
    params(("name" = String, Path, description = "The plugin directory name, `@scope/name` URL-encoded")),
    responses((status = 200, description = "`{success: true, data: {plugin: {name, enabled, manifest}}}`"),
        (status = 400, description = "`INVALID_NAME`, `NO_MANIFEST`, `INVALID_MANIFEST`"), (status = 404, description = "`PLUGIN_NOT_FOUND`"),
        (status = 422, description = "`MANIFEST_NOT_EDITABLE`: `enabled` is not on a line of its own (flow style); edit it by hand")))]
pub(super) async fn enable_plugin(
    State(apps): State<Apps>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    toggle(apps, name, true).await
}

/// Disables a plugin: its manifest's `enabled` becomes `false` (reload to unload it).
#[utoipa::path(post, path = "/plugins/{name}/disable", tag = "Plugins", summary = "Disable a plugin",
    description = "Permission: `plugins:install`. Sets `enabled: false` in the plugin directory's manifest, changing only that line; `POST /plugins/reload` applies it.",
    params(("name" = String, Path, description = "The plugin directory name, `@scope/name` URL-encoded")),
    responses((status = 200, description = "`{success: true, data: {plugin: {name, enabled, manifest}}}`"),
        (status = 400, description = "`INVALID_NAME`, `NO_MANIFEST`, `INVALID_MANIFEST`"), (status = 404, description = "`PLUGIN_NOT_FOUND`"),
        (status = 422, description = "`MANIFEST_NOT_EDITABLE`: `enabled` is not on a line of its own (flow style); edit it by hand")))]
pub(super) async fn disable_plugin(
    State(apps): State<Apps>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    toggle(apps, name, false).await
}

async fn toggle(apps: Apps, name: String, enabled: bool) -> Response {
    let name = name.trim().to_owned();
    let Some((scope, bare)) = split_name(&name) else {
        return Fail::bad(
            "INVALID_NAME",
            "Use `name` or `@scope/name` with letters, digits, `.`, `_`, `-`, `~`.",
        )
        .into_response();
    };
    let rel = scope.map_or_else(|| PathBuf::from(bare), |s| Path::new(s).join(bare));
    let dirs = apps.runtime_config().plugin_dirs.clone();
    let guard = apps.lock_installs().await;
    let result = tokio::task::spawn_blocking(move || {
        // The same lookup as deletes: the first plugin dir holding a real directory of that name.
        let found = dirs
            .iter()
            .map(|d| d.join(&rel))
            .find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()));
        found.map(|dir| set_enabled(&dir, enabled)).transpose()
    })
    .await;
    drop(guard);
    match result {
        Ok(Ok(Some(manifest))) => respond::json(
            StatusCode::OK,
            &json!({ "success": true, "data": { "plugin": { "name": name, "enabled": enabled, "manifest": manifest } } }),
        ),
        Ok(Ok(None)) => Fail(
            StatusCode::NOT_FOUND,
            "PLUGIN_NOT_FOUND",
            format!("Plugin `{name}` is not installed."),
        )
        .into_response(),
        Ok(Err(f)) => f.into_response(),
        Err(_) => Fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "TOGGLE_FAILED",
            "The task failed.".into(),
        )
        .into_response(),
    }
}

/// Rewrites `dir`'s manifest with `enabled` set; returns the manifest's path.
fn set_enabled(dir: &Path, enabled: bool) -> Result<PathBuf, Fail> {
    let invalid = |file: &Path, e: &dyn std::fmt::Display| {
        Fail::bad("INVALID_MANIFEST", format!("`{}` {e}", file.display()))
    };
    let located = match buntime_core::yaml::locate(dir) {
        Ok(Some(l)) => l,
        Ok(None) => {
            return Err(Fail::bad(
                "NO_MANIFEST",
                format!(
                    "`{}` has no manifest.yaml to set `enabled` in.",
                    dir.display()
                ),
            ));
        }
        Err((file, e)) => return Err(invalid(&file, &e)),
    };
    let file = located.file;
    buntime_core::yaml::read(&file).map_err(|e| invalid(&file, &e))?;
    let io = |e: std::io::Error| {
        Fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "TOGGLE_FAILED",
            format!("cannot rewrite `{}`: {e}", file.display()),
        )
    };
    let text = std::fs::read_to_string(&file).map_err(io)?;
    let new_text = rewrite_enabled(&text, enabled);
    // Only a rewrite that parses to the same manifest with the new flag is written.
    let check = buntime_core::yaml::parse(&new_text)
        .ok()
        .filter(|v| v.get("enabled") == Some(&Value::Bool(enabled)));
    if check.is_none() {
        return Err(Fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "MANIFEST_NOT_EDITABLE",
            format!(
                "`{}` does not have `enabled:` on a line of its own; set `enabled: {enabled}` by hand.",
                file.display()
            ),
        ));
    }
    let tmp = dir.join(format!(
        ".{}.buntime-tmp",
        file.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let perms = std::fs::metadata(&file).map_err(io)?.permissions();
    std::fs::write(&tmp, new_text).map_err(io)?;
    std::fs::set_permissions(&tmp, perms).map_err(io)?;
    // A rename, so a reader never sees half a manifest.
    std::fs::rename(&tmp, &file).map_err(io)?;
    Ok(file)
}

/// Replaces the top-level `enabled:` line (keeping a trailing comment), or appends one.
fn rewrite_enabled(text: &str, enabled: bool) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut done = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let is_key = body
            .strip_prefix("enabled")
            .is_some_and(|rest| rest.trim_start().starts_with(':'));
        if is_key && !done {
            let comment = body.find(" #").map_or("", |i| &body[i..]);
            out.push_str(&format!("enabled: {enabled}{comment}"));
            out.push_str(&line[body.len()..]);
            done = true;
        } else {
            out.push_str(line);
        }
    }
    if !done {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("enabled: {enabled}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enabled_line_is_replaced_and_everything_else_kept() {
        let text = "# my plugin\nname: x\nenabled: true # on by default\nbase: /x\n";
        assert_eq!(
            rewrite_enabled(text, false),
            "# my plugin\nname: x\nenabled: false # on by default\nbase: /x\n"
        );
        assert_eq!(
            rewrite_enabled("name: x\nbase: /x", false),
            "name: x\nbase: /x\nenabled: false\n"
        );
        assert_eq!(
            rewrite_enabled("name: x\r\nenabled: false\r\n", true),
            "name: x\r\nenabled: true\r\n"
        );
        // A nested `enabled` (an option of the plugin) is not the plugin's flag.
        assert_eq!(
            rewrite_enabled("name: x\ncache:\n  enabled: true\n", false),
            "name: x\ncache:\n  enabled: true\nenabled: false\n"
        );
    }

    #[test]
    fn a_flow_style_manifest_is_refused_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("manifest.yaml");
        std::fs::write(&file, "{name: x, enabled: true}\n").unwrap();
        let Fail(status, code, _) = set_enabled(dir.path(), false).unwrap_err();
        assert_eq!(
            (status, code),
            (StatusCode::UNPROCESSABLE_ENTITY, "MANIFEST_NOT_EDITABLE")
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "{name: x, enabled: true}\n"
        );
    }
}
