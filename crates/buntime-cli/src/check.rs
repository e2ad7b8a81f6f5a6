//! `buntime check`: what would load, in which order, and why anything would not — without running
//! any plugin code.

use std::process::ExitCode;

use buntime_core::{Env, RuntimeConfig};
use buntime_core::discovery::discover;
use buntime_core::order::order;

/// Prints the load plan; exits 1 when any plugin would not load.
pub(crate) fn run(config: &RuntimeConfig, env: &Env) -> ExitCode {
    let found = discover(&config.plugin_dirs, &config.reserved_bases(), env);
    let ordered = order(&found.plugins, &found.broken);
    println!("plugin dirs: {}", config.plugin_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":"));
    println!("load order:");
    for (n, &i) in ordered.order.iter().enumerate() {
        let m = &found.plugins[i].manifest;
        let base = m.base.as_ref().map_or("(hooks only)".to_owned(), ToString::to_string);
        println!("  {}. {} {} {base}  [{}]", n + 1, m.name, m.display_version(), found.plugins[i].dir.display());
    }
    let disabled: Vec<_> = found.plugins.iter().filter(|p| !p.manifest.enabled).map(|p| p.manifest.name.to_string()).collect();
    if !disabled.is_empty() {
        println!("disabled: {}", disabled.join(", "));
    }
    for w in &found.warnings {
        println!("warning: {w}");
    }
    let problems: Vec<_> = found.problems.iter().chain(&ordered.problems).collect();
    for p in &problems {
        println!("error: {p}");
    }
    if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
