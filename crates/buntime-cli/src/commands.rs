//! The client commands (`remote`, `apps`, `plugins`, `keys --remote`, `status`): shared target
//! selection and output (human tables, or JSON with `--json`).

use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use crate::client::Client;
use crate::failure::Outcome;
use crate::profiles::Profiles;

pub(crate) mod apps;
pub(crate) mod keys;
pub(crate) mod plugins;
pub(crate) mod remote;
pub(crate) mod status;

/// Which remote to talk to and how to print.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct Target {
    /// The remote profile to use (default: the current one, see `buntime remote use`).
    #[arg(long, global = true, env = "BUNTIME_REMOTE", value_name = "NAME")]
    pub(crate) remote: Option<String>,
    /// Print JSON (the runtime's answer) instead of a table.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

impl Target {
    /// Opens the client for the chosen remote; also returns its name.
    pub(crate) fn connect(&self) -> Outcome<(String, Client)> {
        let profiles = Profiles::open()?;
        let (name, profile, token) = profiles.pick(self.remote.as_deref())?;
        Ok((name, Client::new(&profile, token)?))
    }
}

/// Prints `value` as pretty JSON, or `human` as it is.
pub(crate) fn emit(json: bool, value: &Value, human: impl FnOnce() -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        print!("{}", human());
    }
}

/// Turns a command's outcome into the exit code, with the failure on stderr: a line for people,
/// or with `json` one object `{"error":{"exitCode","kind","message"}}` for scripts.
pub(crate) fn finish(what: &str, json: bool, outcome: Outcome) -> ExitCode {
    let Err(f) = outcome else {
        return ExitCode::SUCCESS;
    };
    if json {
        let body = serde_json::json!({ "error": { "exitCode": f.kind.code(), "kind": f.kind.name(), "message": f.message } });
        eprintln!("{body}");
    } else {
        eprintln!("buntime {what}: {f}");
    }
    f.exit_code()
}

/// A string field for a table cell: untrusted text from the runtime, made safe for a terminal.
pub(crate) fn cell(v: &Value) -> String {
    let text = match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    buntime_auth::cli::printable(&text, 60)
}

/// Renders rows under a header, columns padded to their widest cell.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let mut s = padded.join("  ").trim_end().to_owned();
        s.push('\n');
        s
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_columns_and_cells_are_defused() {
        let t = table(
            &["NAME", "V"],
            &[
                vec!["a".into(), "1.0.0".into()],
                vec!["longer".into(), "2".into()],
            ],
        );
        assert_eq!(t, "NAME    V\na       1.0.0\nlonger  2\n");
        assert_eq!(cell(&serde_json::json!("x\u{1b}[2J")), "x\\u{1b}[2J");
        assert_eq!(cell(&serde_json::json!(["1.0.0", "2.0.0"])), "1.0.0, 2.0.0");
        assert_eq!(cell(&Value::Null), "-");
    }
}
