//! The `buntime keys` command: create, list and revoke API keys directly in the state directory.

use std::io::Write;
use std::path::Path;

use crate::input::{InputError, KeyRequest};
use crate::store::{ApiKey, KeyStore, StoreError, now};

/// Usage text for `buntime keys`.
pub const USAGE: &str = "\
Usage:
  buntime keys create --name <name> [--role admin|editor|viewer|custom] [--permissions a,b]
                      [--expires-in never|<n>d|<n>w|<n>m|<n>y] [--description <text>]
  buntime keys list [--all]
  buntime keys revoke <id>

Keys live in <state dir>/api-keys.db; the server need not be running.
The secret of a new key is printed once and cannot be recovered.";

/// A failed `buntime keys` command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The arguments do not form a command.
    #[error("{0}; run `buntime keys help` for usage")]
    Usage(String),
    /// The key request is invalid.
    #[error("{0}")]
    Input(#[from] InputError),
    /// `revoke` found no active key with that id.
    #[error("no active API key with id {0}")]
    NotFound(u64),
    /// The store is unusable; the message names the file and the fix.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing to the output failed.
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs `buntime keys …` against the store in `state_dir`, writing human-readable output to `out`.
///
/// `args` are the words after `buntime`; a leading `keys` is optional, so both
/// `["keys", "list"]` and `["list"]` work.
///
/// # Errors
/// Returns [`CliError`]; its `Display` is meant for the terminal.
pub fn run(args: &[String], state_dir: &Path, out: &mut impl Write) -> Result<(), CliError> {
    let args = match args.first().map(String::as_str) {
        Some("keys") => &args[1..],
        _ => args,
    };
    let Some((command, rest)) = args.split_first() else {
        return Err(CliError::Usage(
            "missing subcommand (create, list or revoke)".to_owned(),
        ));
    };
    match command.as_str() {
        "create" => create(rest, state_dir, out),
        "list" | "ls" => list(rest, state_dir, out),
        "revoke" => revoke(rest, state_dir, out),
        "help" | "--help" | "-h" => {
            writeln!(out, "{USAGE}")?;
            Ok(())
        }
        other => Err(CliError::Usage(format!("unknown subcommand `{other}`"))),
    }
}

fn create(args: &[String], state_dir: &Path, out: &mut impl Write) -> Result<(), CliError> {
    let mut req = KeyRequest::default();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg, None),
        };
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i)
                    .cloned()
                    .ok_or_else(|| CliError::Usage(format!("`{flag}` needs a value")))?
            }
        };
        match flag {
            "--name" | "-n" => req.name = Some(value),
            "--role" | "-r" => req.role = Some(value),
            "--permissions" | "-p" => {
                req.permissions = Some(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect(),
                );
            }
            "--expires-in" | "-e" => req.expires_in = Some(value),
            "--description" | "-d" => req.description = Some(value),
            other => {
                return Err(CliError::Usage(format!(
                    "unknown option `{other}` for `keys create`"
                )));
            }
        }
        i += 1;
    }
    let new = req.validate(None)?;
    let store = KeyStore::open(state_dir)?;
    let created = store.create(&new)?;
    let k = &created.key;
    writeln!(
        out,
        "Created API key {} `{}` (role {}, prefix {}).",
        k.id, k.name, k.role, k.key_prefix
    )?;
    writeln!(
        out,
        "Permissions: {}",
        k.permissions
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(
        out,
        "Expires: {}",
        k.expires_at.map_or_else(|| "never".to_owned(), format_time)
    )?;
    writeln!(out)?;
    writeln!(out, "Secret (shown only this once; store it now):")?;
    writeln!(out, "{}", created.secret)?;
    Ok(())
}

fn list(args: &[String], state_dir: &Path, out: &mut impl Write) -> Result<(), CliError> {
    let all = match args {
        [] => false,
        [flag] if flag == "--all" || flag == "-a" => true,
        _ => {
            return Err(CliError::Usage(format!(
                "unexpected arguments for `keys list`: {}",
                args.join(" ")
            )));
        }
    };
    let store = KeyStore::open(state_dir)?;
    let keys = if all {
        store.list_all()?
    } else {
        store.list()?
    };
    if keys.is_empty() {
        writeln!(
            out,
            "No API keys. Create one with `buntime keys create --name <name>`."
        )?;
        return Ok(());
    }
    write!(out, "{}", table(&keys, now()))?;
    Ok(())
}

fn revoke(args: &[String], state_dir: &Path, out: &mut impl Write) -> Result<(), CliError> {
    let [raw] = args else {
        return Err(CliError::Usage(
            "`keys revoke` takes exactly one key id".to_owned(),
        ));
    };
    let id = raw
        .parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "invalid key id `{raw}`: expected a positive integer"
            ))
        })?;
    let store = KeyStore::open(state_dir)?;
    if !store.revoke(id)? {
        return Err(CliError::NotFound(id));
    }
    writeln!(out, "Revoked API key {id}.")?;
    Ok(())
}

/// Renders keys as an aligned text table.
fn table(keys: &[ApiKey], now: u64) -> String {
    let header = [
        "ID",
        "NAME",
        "ROLE",
        "PREFIX",
        "CREATED",
        "EXPIRES",
        "LAST USED",
        "STATUS",
    ]
    .map(str::to_owned);
    let mut rows = vec![header];
    for k in keys {
        let status = if k.revoked_at.is_some() {
            "revoked"
        } else if !k.is_valid_at(now) {
            "expired"
        } else {
            "active"
        };
        rows.push([
            k.id.to_string(),
            printable(&k.name, 40),
            k.role.to_string(),
            k.key_prefix.clone(),
            format_time(k.created_at),
            k.expires_at.map_or_else(|| "never".to_owned(), format_time),
            k.last_used_at.map_or_else(|| "-".to_owned(), format_time),
            status.to_owned(),
        ]);
    }
    let mut widths = [0usize; 8];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        s.push_str(line.join("  ").trim_end());
        s.push('\n');
    }
    s
}

/// Renders untrusted stored text for a terminal: control and invisible formatting characters
/// escaped (`\u{1b}`), cut to `max` characters with `…`, so a key name can neither forge table
/// rows nor send escape sequences to the terminal.
pub fn printable(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if crate::input::is_unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Formats epoch seconds as `YYYY-MM-DD HH:MM UTC`.
pub fn format_time(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3_600,
        rem % 3_600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn run_ok(line: &str, dir: &Path) -> String {
        let mut out = Vec::new();
        run(&args(line), dir, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn create_prints_the_secret_once_and_list_shows_the_prefix_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let out = run_ok(
            "keys create --name ci --role viewer --expires-in 30d --description nightly",
            &dir,
        );
        let secret = out.lines().last().unwrap().to_owned();
        assert!(secret.starts_with("btk_") && secret.len() == 47, "{out}");
        assert!(out.contains("role viewer"));
        let listed = run_ok("keys list", &dir);
        assert!(listed.starts_with("ID"), "{listed}");
        assert!(
            listed.contains("ci") && listed.contains(&secret[..12]) && listed.contains("active")
        );
        assert!(!listed.contains(&secret), "secret must not be listed");
        assert!(
            KeyStore::open(&dir)
                .unwrap()
                .verify(&secret)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn custom_keys_take_a_comma_list_and_inline_values() {
        let tmp = tempfile::tempdir().unwrap();
        let out = run_ok(
            "create --name=x --role=custom --permissions=apps:read,keys:read",
            tmp.path(),
        );
        assert!(out.contains("Permissions: apps:read, keys:read"), "{out}");
    }

    #[test]
    fn revoke_then_revoke_again_is_not_found() {
        let tmp = tempfile::tempdir().unwrap();
        run_ok("keys create --name a", tmp.path());
        assert_eq!(run_ok("keys revoke 1", tmp.path()), "Revoked API key 1.\n");
        let err = run(&args("keys revoke 1"), tmp.path(), &mut Vec::new()).unwrap_err();
        assert!(matches!(err, CliError::NotFound(1)));
        assert!(run_ok("keys list", tmp.path()).starts_with("No API keys"));
        assert!(run_ok("keys list --all", tmp.path()).contains("revoked"));
    }

    #[test]
    fn bad_arguments_are_usage_or_input_errors() {
        let tmp = tempfile::tempdir().unwrap();
        type Check = fn(&CliError) -> bool;
        let cases: [(&str, Check); 8] = [
            ("keys", |e| matches!(e, CliError::Usage(_))),
            ("keys frobnicate", |e| matches!(e, CliError::Usage(_))),
            ("keys create", |e| {
                matches!(e, CliError::Input(InputError::MissingName))
            }),
            ("keys create --name", |e| matches!(e, CliError::Usage(_))),
            ("keys create --name a --bogus 1", |e| {
                matches!(e, CliError::Usage(_))
            }),
            ("keys create --name a --expires-in 0d", |e| {
                matches!(e, CliError::Input(InputError::InvalidExpiration(_)))
            }),
            ("keys revoke abc", |e| matches!(e, CliError::Usage(_))),
            ("keys list extra", |e| matches!(e, CliError::Usage(_))),
        ];
        for (line, ok) in cases {
            let err = run(&args(line), tmp.path(), &mut Vec::new()).unwrap_err();
            assert!(ok(&err), "{line}: {err:?}");
        }
    }

    #[test]
    fn a_damaged_store_is_reported_with_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("api-keys.db");
        std::fs::write(&path, b"garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage").unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = run(&args("keys list"), tmp.path(), &mut Vec::new()).unwrap_err();
        assert!(matches!(err, CliError::Store(StoreError::Corrupt { .. })));
        assert!(err.to_string().contains("api-keys.db"));
    }

    #[test]
    fn hostile_stored_names_are_escaped_and_cut() {
        let tmp = tempfile::tempdir().unwrap();
        let store = KeyStore::open(tmp.path()).unwrap();
        // Written straight to the store, as an old version or a hand edit could have.
        for name in ["\u{1b}[2J\u{1b}[31mowned", "line\nbreak", &"w".repeat(5_000), "evil\u{202e}gnp"] {
            let new = crate::store::NewKey { name: name.to_owned(), role: crate::Role::Viewer, permissions: crate::Role::Viewer.permissions().unwrap(), description: None, expires_in_secs: Some(u64::MAX / 4), created_by: None };
            store.create_at(&new, u64::MAX / 2).unwrap();
        }
        let out = run_ok("list", tmp.path());
        assert!(!out.contains('\u{1b}') && !out.contains('\u{202e}'), "{out:?}");
        assert!(out.contains("\\u{1b}[2J") && out.contains("line\\u{a}break") && out.contains('…'), "{out}");
        assert_eq!(out.lines().count(), 5, "{out}");
    }

    #[test]
    fn times_are_formatted_in_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_time(1_709_210_096), "2024-02-29 12:34 UTC");
    }
}
