//! A throwaway PostgreSQL server for tests: `initdb` into a temporary directory, started on a free
//! port of 127.0.0.1 with its unix socket inside that directory, stopped (`-m immediate`) on drop.
//!
//! ```no_run
//! let Some(pg) = buntime_testkit::PgServer::start_or_skip() else { return };
//! println!("{}", pg.url()); // postgres://postgres@127.0.0.1:PORT/buntime
//! ```

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The database [`PgServer`] creates for the test.
pub const DATABASE: &str = "buntime";
/// The superuser `initdb` creates (trust authentication, so no password).
pub const SUPERUSER: &str = "postgres";
/// What a developer is told when PostgreSQL is missing.
pub const INSTALL_HINT: &str = "apt-get install postgresql";

/// A running PostgreSQL server owned by a test.
#[derive(Debug)]
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// The OS user the server runs as when the test runs as root (PostgreSQL refuses root).
    run_as: Option<String>,
}

impl PgServer {
    /// Starts a server, or returns `None` after printing `skipping: …` when PostgreSQL is not
    /// installed; with `CI` set a missing PostgreSQL is a failure instead.
    ///
    /// # Panics
    /// PostgreSQL is missing under CI, or is installed but does not start.
    pub fn start_or_skip() -> Option<Self> {
        let Some(bin) = find_bin_dir() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL is not installed, and CI must run the PostgreSQL tests: install it ({INSTALL_HINT}); scripts/test.sh does this when run as root"
            );
            eprintln!("skipping: PostgreSQL not installed ({INSTALL_HINT})");
            return None;
        };
        match Self::start_in(&bin) {
            Ok(s) => Some(s),
            Err(e) => panic!(
                "PostgreSQL is installed ({}) but did not start: {e}",
                bin.display()
            ),
        }
    }

    /// Starts a server with the binaries in `bin` (a directory holding `initdb` and `pg_ctl`).
    ///
    /// # Errors
    /// What failed, with the server's log when it got that far.
    pub fn start_in(bin: &Path) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("buntime-pg-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let run_as = running_as_root().then(|| SUPERUSER.to_owned());
        if let Some(user) = &run_as {
            run(Command::new("chown")
                .arg("-R")
                .arg(format!("{user}:"))
                .arg(dir.path()))?;
        }
        let mut server = Self {
            dir,
            bin: bin.to_path_buf(),
            port: 0,
            run_as,
        };
        server.run_pg(
            "initdb",
            &[
                "-D",
                &server.data(),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        // A port taken between probing and binding makes the start fail: try a few.
        let mut last = String::new();
        for _ in 0..3 {
            server.port = free_port().map_err(|e| format!("no free port: {e}"))?;
            match server.pg_ctl_start() {
                Ok(()) => {
                    let host = server.dir.path().to_string_lossy().into_owned();
                    server.run_pg(
                        "createdb",
                        &[
                            "-h",
                            &host,
                            "-p",
                            &server.port.to_string(),
                            "-U",
                            SUPERUSER,
                            DATABASE,
                        ],
                    )?;
                    return Ok(server);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Returns `postgres://postgres@127.0.0.1:PORT/buntime`.
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// Returns the TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`): clients see their connections drop.
    ///
    /// # Errors
    /// `pg_ctl` failed.
    pub fn stop(&self) -> Result<(), String> {
        self.run_pg(
            "pg_ctl",
            &["-D", &self.data(), "stop", "-m", "immediate", "-w"],
        )
        .map(drop)
    }

    /// Starts the server again on the same port after [`Self::stop`].
    ///
    /// # Errors
    /// `pg_ctl` failed; the message has the server log.
    pub fn restart(&self) -> Result<(), String> {
        self.pg_ctl_start()
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let socket_dir = self.dir.path().to_string_lossy().into_owned();
        let log = self.dir.path().join("server.log");
        let opts = format!(
            "-p {} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port
        );
        let res = self.run_pg(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log.to_string_lossy(),
                "-w",
                "-t",
                "60",
                "-o",
                &opts,
                "start",
            ],
        );
        res.map(drop).map_err(|e| {
            format!(
                "{e}\nserver log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
    }

    /// Runs one of the server binaries, as the `postgres` user when the test is root.
    fn run_pg(&self, tool: &str, args: &[&str]) -> Result<Output, String> {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        // Run from a directory the server's user can read (the test's may not be).
        cmd.args(args).current_dir(self.dir.path());
        run(&mut cmd)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

pub(crate) fn run(cmd: &mut Command) -> Result<Output, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(unix)]
pub(crate) fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // `/proc/self` belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[cfg(not(unix))]
pub(crate) fn running_as_root() -> bool {
    false
}

/// Finds the directory with `initdb` and `pg_ctl`: the one `initdb` on `PATH` resolves to, else
/// the newest `/usr/lib/postgresql/*/bin` (Debian keeps them off `PATH`).
pub fn find_bin_dir() -> Option<PathBuf> {
    let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("initdb"))
            .find(|p| p.is_file())
            .and_then(|p| std::fs::canonicalize(p).ok())
            .and_then(|p| p.parent().map(Path::to_path_buf))
    });
    if let Some(d) = on_path.filter(|d| has_tools(d)) {
        return Some(d);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, d)| has_tools(d))
        .collect();
    versions.sort();
    versions.pop().map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_stops_and_restarts_a_real_server() {
        let Some(pg) = PgServer::start_or_skip() else {
            return;
        };
        let sock = |p: &PgServer| p.dir.path().join(format!(".s.PGSQL.{}", p.port));
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", pg.port())).is_ok(),
            "listening on 127.0.0.1"
        );
        assert!(sock(&pg).exists(), "the unix socket is inside the temp dir");
        pg.stop().unwrap();
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", pg.port())).is_err(),
            "stopped"
        );
        pg.restart().unwrap();
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", pg.port())).is_ok(),
            "restarted"
        );
        assert!(pg.url().ends_with(&format!(":{}/{DATABASE}", pg.port())));
    }
}
