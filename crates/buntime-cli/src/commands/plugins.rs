//! `buntime plugins list|deploy|remove|reload` against a remote runtime.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Value, json};

use super::apps::{deploy, percent_encode};
use super::{Target, cell, emit, table};
use crate::client::Client;
use crate::failure::{Failure, Kind, Outcome};
use crate::pack::Overrides;

#[derive(Subcommand, Debug)]
pub(crate) enum PluginsCmd {
    /// List the loaded plugins (load order) and the installed plugin directories.
    List,
    /// Upload a plugin (directory or archive), then reload so it loads.
    Deploy {
        source: PathBuf,
        /// Install only; load it with a later `buntime plugins reload`.
        #[arg(long)]
        no_reload: bool,
    },
    /// Delete a plugin's directory, then reload so it unloads.
    Remove {
        /// The plugin directory name: `name` or `@scope/name`.
        name: String,
        #[arg(long)]
        no_reload: bool,
    },
    /// Set `enabled: true` in a plugin's manifest, then reload so it loads.
    Enable {
        /// The plugin directory name: `name` or `@scope/name`.
        name: String,
        #[arg(long)]
        no_reload: bool,
    },
    /// Set `enabled: false` in a plugin's manifest, then reload so it unloads.
    Disable {
        /// The plugin directory name: `name` or `@scope/name`.
        name: String,
        #[arg(long)]
        no_reload: bool,
    },
    /// Re-scan the plugin dirs and swap in a new generation (the old one keeps serving on errors).
    Reload,
}

pub(crate) fn run(cmd: PluginsCmd, target: &Target) -> Outcome {
    let (remote, client) = target.connect()?;
    match cmd {
        PluginsCmd::List => {
            let loaded = client.get("/plugins/loaded")?;
            // The directory listing needs `plugins:read`; the loaded list is public.
            let installed = match client.get("/plugins") {
                Ok(v) => v,
                Err(f) if f.kind == Kind::Auth => Value::Null,
                Err(f) => return Err(f),
            };
            let out = json!({ "loaded": loaded, "installed": installed });
            emit(target.json, &out, || list_text(&loaded, &installed));
        }
        PluginsCmd::Deploy { source, no_reload } => {
            let res = deploy(
                &client,
                &source,
                &Overrides::default(),
                "/plugins/upload",
                !target.json,
            )?;
            let p = &res["data"]["plugin"];
            let installed = format!(
                "Installed plugin {} {} on `{remote}` ({}).\n",
                cell(&p["name"]),
                cell(&p["version"]),
                cell(&p["installedAt"])
            );
            after_change(&client, target.json, res.clone(), installed, no_reload)?;
        }
        PluginsCmd::Remove { name, no_reload } => {
            let res = client.delete(&plugin_path(&name)?)?;
            after_change(
                &client,
                target.json,
                res,
                format!("Removed plugin {name} from `{remote}`.\n"),
                no_reload,
            )?;
        }
        PluginsCmd::Enable { name, no_reload } => {
            let res = client.post(&format!("{}/enable", plugin_path(&name)?), &Value::Null)?;
            after_change(
                &client,
                target.json,
                res,
                format!("Enabled plugin {name} on `{remote}`.\n"),
                no_reload,
            )?;
        }
        PluginsCmd::Disable { name, no_reload } => {
            let res = client.post(&format!("{}/disable", plugin_path(&name)?), &Value::Null)?;
            after_change(
                &client,
                target.json,
                res,
                format!("Disabled plugin {name} on `{remote}`.\n"),
                no_reload,
            )?;
        }
        PluginsCmd::Reload => {
            let report = reload(&client)?;
            emit(target.json, &report, || reload_text(&report));
        }
    }
    Ok(())
}

/// `/plugins/{name}` with the name as one encoded segment (`@scope/name` included).
fn plugin_path(name: &str) -> Outcome<String> {
    if name.is_empty() || name.split('/').count() > 2 {
        return Err(Failure::usage(format!(
            "`{name}` is not `name` or `@scope/name`"
        )));
    }
    Ok(format!("/plugins/{}", percent_encode(name)))
}

/// Prints what changed, then reloads unless told not to.
fn after_change(
    client: &Client,
    json_out: bool,
    res: Value,
    done: String,
    no_reload: bool,
) -> Outcome {
    if no_reload {
        emit(json_out, &res, || {
            format!("{done}Run `buntime plugins reload` to apply it.\n")
        });
        return Ok(());
    }
    let report = reload(client)?;
    emit(
        json_out,
        &json!({ "result": res, "reload": report }),
        || format!("{done}{}", reload_text(&report)),
    );
    Ok(())
}

/// POST /plugins/reload; a 422 report is printed and fails the command (exit 1).
fn reload(client: &Client) -> Outcome<Value> {
    let (status, report) = client.post_report("/plugins/reload")?;
    if status.is_success() {
        return Ok(report);
    }
    let mut msg = format!(
        "the reload failed; generation {} keeps serving:",
        cell(&report["generation"])
    );
    for e in report["errors"].as_array().into_iter().flatten() {
        let who = [&e["plugin"], &e["file"], &e["key"]]
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| cell(v))
            .collect::<Vec<_>>()
            .join(" ");
        msg.push_str(&format!("\n  {who}: {}", cell(&e["message"])));
    }
    Err(Failure::failed(msg))
}

fn reload_text(r: &Value) -> String {
    let count = r["plugins"].as_array().map_or(0, Vec::len);
    let mut s = format!(
        "Reloaded: generation {} with {count} plugins in {} ms.\n",
        cell(&r["generation"]),
        cell(&r["elapsedMs"])
    );
    for w in r["warnings"].as_array().into_iter().flatten() {
        s.push_str(&format!("warning: {}\n", cell(w)));
    }
    s
}

fn list_text(loaded: &Value, installed: &Value) -> String {
    let rows: Vec<Vec<String>> = loaded
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            vec![
                cell(&p["name"]),
                cell(&p["version"]),
                cell(&p["kind"]),
                cell(&p["base"]),
                cell(&p["dependencies"]),
            ]
        })
        .collect();
    let mut s = if rows.is_empty() {
        "No plugins loaded.\n".to_owned()
    } else {
        table(&["NAME", "VERSION", "KIND", "BASE", "DEPENDS ON"], &rows)
    };
    match installed.as_array() {
        Some(dirs) => {
            s.push_str("\nInstalled directories:\n");
            let rows: Vec<Vec<String>> = dirs
                .iter()
                .map(|d| vec![cell(&d["name"]), cell(&d["path"])])
                .collect();
            s.push_str(&table(&["DIR", "PATH"], &rows));
        }
        None => s.push_str("\n(installed directories need a key with plugins:read)\n"),
    }
    s
}
