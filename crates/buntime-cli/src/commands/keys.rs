//! `buntime keys list|create|revoke --remote[=NAME]`: API keys of a running runtime (without
//! `--remote`, `keys` works offline on the state dir).

use clap::{Parser, Subcommand};
use serde_json::{Map, Value, json};

use super::{Target, cell, emit, table};
use crate::failure::{Failure, Outcome};

#[derive(Parser, Debug)]
#[command(name = "buntime keys", about = "API keys of a remote runtime")]
pub(crate) struct RemoteKeys {
    #[command(subcommand)]
    pub(crate) cmd: KeysCmd,
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

#[derive(Subcommand, Debug)]
pub(crate) enum KeysCmd {
    /// List keys (never their secrets).
    List,
    /// Create a key; its secret is printed once.
    Create {
        #[arg(long, short)]
        name: String,
        /// admin, editor, viewer or custom (default editor).
        #[arg(long, short)]
        role: Option<String>,
        /// For `custom`: a comma list such as `apps:read,apps:install`.
        #[arg(long, short, value_delimiter = ',')]
        permissions: Vec<String>,
        /// never, or `<n>d`, `<n>w`, `<n>m`, `<n>y`.
        #[arg(long, short)]
        expires_in: Option<String>,
        #[arg(long, short)]
        description: Option<String>,
    },
    /// Revoke a key by id.
    Revoke { id: u64 },
}

/// Splits `--remote` / `--remote=NAME` out of the `keys` words: `Some(remote)` means the
/// command goes to a running runtime (`None` inside: the current remote).
pub(crate) fn remote_flag(args: &[String]) -> (Option<Option<String>>, Vec<String>) {
    let mut remote = None;
    let mut rest = Vec::new();
    for a in args {
        if a == "--remote" {
            remote = Some(None);
        } else if let Some(name) = a.strip_prefix("--remote=") {
            remote = Some(Some(name.to_owned()));
        } else {
            rest.push(a.clone());
        }
    }
    (remote, rest)
}

pub(crate) fn run(cmd: KeysCmd, target: &Target) -> Outcome {
    let (remote, client) = target.connect()?;
    match cmd {
        KeysCmd::List => {
            let res = client.get("/keys")?;
            emit(target.json, &res, || list_table(&res["keys"]));
        }
        KeysCmd::Create {
            name,
            role,
            permissions,
            expires_in,
            description,
        } => {
            let mut body = Map::new();
            body.insert("name".into(), json!(name));
            for (k, v) in [
                ("role", role),
                ("expiresIn", expires_in),
                ("description", description),
            ] {
                if let Some(v) = v {
                    body.insert(k.into(), json!(v));
                }
            }
            if !permissions.is_empty() {
                body.insert("permissions".into(), json!(permissions));
            }
            let res = client.post("/keys", &Value::Object(body))?;
            let d = &res["data"];
            emit(target.json, &res, || {
                format!(
                    "Created API key {} `{}` (role {}, prefix {}) on `{remote}`.\n\nSecret (shown only this once; store it now):\n{}\n",
                    cell(&d["id"]),
                    cell(&d["name"]),
                    cell(&d["role"]),
                    cell(&d["keyPrefix"]),
                    d["key"].as_str().unwrap_or_default()
                )
            });
        }
        KeysCmd::Revoke { id } => {
            let res = client.delete(&format!("/keys/{id}"))?;
            emit(target.json, &res, || {
                format!("Revoked API key {id} on `{remote}`.\n")
            });
        }
    }
    Ok(())
}

fn time(v: &Value) -> String {
    v.as_u64()
        .map_or_else(|| cell(v), buntime_auth::cli::format_time)
}

fn list_table(keys: &Value) -> String {
    let Some(list) = keys.as_array().filter(|l| !l.is_empty()) else {
        return "No API keys.\n".to_owned();
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|k| {
            let expires = if k["expiresAt"].is_null() {
                "never".to_owned()
            } else {
                time(&k["expiresAt"])
            };
            vec![
                cell(&k["id"]),
                cell(&k["name"]),
                cell(&k["role"]),
                cell(&k["keyPrefix"]),
                time(&k["createdAt"]),
                expires,
                time(&k["lastUsedAt"]),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "NAME",
            "ROLE",
            "PREFIX",
            "CREATED",
            "EXPIRES",
            "LAST USED",
        ],
        &rows,
    )
}

/// Runs `keys …` words that carry `--remote`.
pub(crate) fn run_words(remote: Option<String>, words: &[String]) -> Outcome {
    let parsed = RemoteKeys::try_parse_from(
        std::iter::once("buntime keys".to_owned()).chain(words.iter().cloned()),
    );
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) if !e.use_stderr() => {
            print!("{e}");
            return Ok(());
        }
        Err(e) => {
            return Err(Failure::usage(
                e.to_string()
                    .trim_end()
                    .trim_start_matches("error: ")
                    .to_owned(),
            ));
        }
    };
    let target = Target {
        remote: remote.or_else(|| {
            std::env::var("BUNTIME_REMOTE")
                .ok()
                .filter(|r| !r.is_empty())
        }),
        json: parsed.json,
    };
    run(parsed.cmd, &target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_remote_flag_is_taken_out_of_the_words() {
        assert_eq!(remote_flag(&words("list")), (None, words("list")));
        assert_eq!(
            remote_flag(&words("list --remote")),
            (Some(None), words("list"))
        );
        assert_eq!(
            remote_flag(&words("revoke 3 --remote=prod --json")),
            (Some(Some("prod".into())), words("revoke 3 --json"))
        );
    }
}
