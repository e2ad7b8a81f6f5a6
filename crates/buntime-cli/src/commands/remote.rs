//! `buntime remote add|list|use|remove`: the profiles of the runtimes this user manages.

use clap::Subcommand;
use serde_json::json;

use super::{cell, emit, table};
use crate::client::{discover, normalise_url};
use crate::failure::{Failure, Outcome};
use crate::profiles::{Profile, Profiles, check_name};

#[derive(Subcommand, Debug)]
pub(crate) enum RemoteCmd {
    /// Add (or replace) a remote; its API base is found through `/.well-known/buntime`.
    Add {
        /// A short name for the remote (letters, digits, `-`, `_`, `.`).
        name: String,
        /// Where the runtime is served, e.g. `https://rt.example.com`.
        #[arg(long)]
        url: String,
        /// An API key (`btk_…`) or the master key; stored in a file only you can read. `-` reads
        /// it from stdin (keeps it out of the shell history and the process list).
        #[arg(long, env = "BUNTIME_TOKEN", hide_env_values = true)]
        token: String,
        /// Accept any TLS certificate (self-signed test setups only).
        #[arg(long)]
        insecure: bool,
    },
    /// List the remotes (`*` marks the current one).
    List,
    /// Make a remote the current one.
    Use { name: String },
    /// Forget a remote and delete its token.
    Remove { name: String },
}

/// The token as given, or the first line of stdin for `-`; never empty.
fn read_token(token: String) -> Outcome<String> {
    let token = if token == "-" {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line
    } else {
        token
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(Failure::usage("--token is empty"));
    }
    Ok(token)
}

pub(crate) fn run(cmd: RemoteCmd, json_out: bool) -> Outcome {
    let mut profiles = Profiles::open()?;
    match cmd {
        RemoteCmd::Add {
            name,
            url,
            token,
            insecure,
        } => {
            check_name(&name)?;
            let token = read_token(token)?;
            let url = normalise_url(&url)?;
            let (api, found) = discover(&url, insecure)?;
            let version = found["version"].clone();
            let replaced = profiles.add(
                &name,
                Profile {
                    url: url.clone(),
                    api: api.clone(),
                    insecure,
                },
                &token,
            )?;
            let current = profiles.current() == Some(name.as_str());
            let out = json!({ "name": name, "url": url, "api": api, "insecure": insecure, "version": version, "current": current, "replaced": replaced });
            emit(json_out, &out, || {
                let verb = if replaced { "Updated" } else { "Added" };
                let mark = if current { " (current)" } else { "" };
                format!(
                    "{verb} remote `{name}`{mark}: {url}, API at {api}, runtime {}\n",
                    cell(&version)
                )
            });
        }
        RemoteCmd::List => {
            let current = profiles.current().map(str::to_owned);
            let list: Vec<_> = profiles
                .list()
                .map(|(n, p)| json!({ "name": n, "url": p.url, "api": p.api, "insecure": p.insecure, "current": current.as_deref() == Some(n.as_str()) }))
                .collect();
            emit(json_out, &json!(list), || {
                if list.is_empty() {
                    return "No remotes yet: `buntime remote add NAME --url URL --token T`.\n"
                        .to_owned();
                }
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|r| {
                        let mark = if r["current"] == true { "*" } else { "" };
                        let tls = if r["insecure"] == true {
                            "insecure"
                        } else {
                            ""
                        };
                        vec![
                            mark.to_owned(),
                            cell(&r["name"]),
                            cell(&r["url"]),
                            cell(&r["api"]),
                            tls.to_owned(),
                        ]
                    })
                    .collect();
                table(&["", "NAME", "URL", "API", "TLS"], &rows)
            });
        }
        RemoteCmd::Use { name } => {
            profiles.use_remote(&name)?;
            emit(json_out, &json!({ "current": name }), || {
                format!("Now using remote `{name}`.\n")
            });
        }
        RemoteCmd::Remove { name } => {
            profiles.remove(&name)?;
            emit(json_out, &json!({ "removed": name }), || {
                format!("Removed remote `{name}` and its token.\n")
            });
        }
    }
    Ok(())
}
