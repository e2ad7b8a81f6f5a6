//! `promtool check metrics`: validates a Prometheus text exposition with Prometheus' own linter
//! (Debian's `prometheus` package), skipping politely where it is not installed.

use std::io::Write as _;
use std::process::{Command, Stdio};

const INSTALL_HINT: &str = "apt-get install -y --no-install-recommends prometheus";

/// Checks `exposition` with `promtool check metrics`.
///
/// Returns `None` after printing `skipping: promtool not installed` when it is missing; with
/// `CI` set a missing promtool is a failure instead. `Some(Err(report))` carries promtool's
/// complaints (format errors and lint problems such as a counter without `_total`).
///
/// # Panics
/// promtool is missing under CI, or cannot be run.
pub fn check_metrics(exposition: &str) -> Option<Result<(), String>> {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is not installed, and CI must validate the metrics: install it ({INSTALL_HINT}); scripts/test.sh does this when run as root"
        );
        eprintln!("skipping: promtool not installed ({INSTALL_HINT})");
        return None;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(exposition.as_bytes())
        .expect("promtool reads the exposition");
    let out = child.wait_with_output().expect("promtool finishes");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(if out.status.success() && report.trim().is_empty() {
        Ok(())
    } else {
        Err(report)
    })
}
