//! A throwaway MariaDB server for tests: `mariadb-install-db` into a temporary directory, `mariadbd`
//! on a free port of 127.0.0.1 with its socket inside that directory, killed on drop.
//!
//! ```no_run
//! let Some(db) = buntime_testkit::MariaDbServer::start_or_skip() else { return };
//! println!("{}", db.url()); // mysql://root@127.0.0.1:PORT/buntime
//! ```

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The database [`MariaDbServer`] creates for the test.
pub const DATABASE: &str = "buntime";
/// What a developer is told when MariaDB is missing.
pub const INSTALL_HINT: &str = "apt-get install mariadb-server";
/// The OS user the server runs as when the test is root (`mariadbd` refuses root).
const SERVER_USER: &str = "mysql";

/// A running MariaDB server owned by a test.
#[derive(Debug)]
pub struct MariaDbServer {
    dir: tempfile::TempDir,
    server: PathBuf,
    port: u16,
    /// `--user=mysql` when the test is root: `mariadbd` drops to it itself, so the child we
    /// hold (and kill) is the server, not a wrapper.
    run_as: Option<&'static str>,
    child: Mutex<Option<Child>>,
}

/// Returns `mariadbd`'s path when MariaDB is installed.
pub fn find_server() -> Option<PathBuf> {
    let candidates = [
        "/usr/sbin/mariadbd",
        "/usr/bin/mariadbd",
        "/usr/local/bin/mariadbd",
    ];
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("mariadbd"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| candidates.iter().map(PathBuf::from).find(|p| p.is_file()))
}

impl MariaDbServer {
    /// Starts a server, or returns `None` after printing `skipping: …` when MariaDB is not
    /// installed; with `CI` set a missing MariaDB is a failure instead.
    ///
    /// # Panics
    /// MariaDB is missing under CI, or is installed but does not start.
    pub fn start_or_skip() -> Option<Self> {
        let Some(server) = find_server() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "MariaDB is not installed, and CI must run the MySQL tests: install it ({INSTALL_HINT}); scripts/test.sh does this when run as root"
            );
            eprintln!("skipping: MariaDB not installed ({INSTALL_HINT})");
            return None;
        };
        match Self::start_with(&server) {
            Ok(s) => Some(s),
            Err(e) => panic!(
                "MariaDB is installed ({}) but did not start: {e}",
                server.display()
            ),
        }
    }

    /// Starts a server with the `mariadbd` at `server` (`mariadb-install-db` and `mariadb` beside
    /// it or on `PATH`).
    ///
    /// # Errors
    /// What failed, with the server's log when it got that far.
    pub fn start_with(server: &Path) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("buntime-mariadb-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let run_as = crate::pg::running_as_root().then_some(SERVER_USER);
        if let Some(user) = run_as {
            crate::pg::run(
                Command::new("chown")
                    .arg("-R")
                    .arg(format!("{user}:"))
                    .arg(dir.path()),
            )?;
        }
        let data = dir.path().join("data");
        let mut install = Command::new("mariadb-install-db");
        // Its own tmpdir: parallel bootstraps sharing /tmp trip over each other's temp tables.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).map_err(|e| format!("tmp dir: {e}"))?;
        if let Some(user) = run_as {
            crate::pg::run(Command::new("chown").arg(format!("{user}:")).arg(&tmp))?;
        }
        install
            .args([
                "--no-defaults",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ])
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()));
        if let Some(user) = run_as {
            install.arg(format!("--user={user}"));
        }
        crate::pg::run(install.current_dir(dir.path()))?;
        let mut me = Self {
            dir,
            server: server.to_path_buf(),
            port: 0,
            run_as,
            child: Mutex::new(None),
        };
        let mut last = String::new();
        for _ in 0..3 {
            me.port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| format!("no free port: {e}"))?
                .port();
            match me.spawn() {
                Ok(()) => {
                    me.sql(&format!("CREATE DATABASE {DATABASE}"))?;
                    return Ok(me);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Returns `mysql://root@127.0.0.1:PORT/buntime` (root has no password on this server).
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// Kills the server at once: clients see their connections drop.
    pub fn stop(&self) {
        if let Some(mut child) = self
            .child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port after [`Self::stop`].
    ///
    /// # Errors
    /// It did not come up; the message has the server log.
    pub fn restart(&self) -> Result<(), String> {
        self.spawn()
    }

    fn spawn(&self) -> Result<(), String> {
        let d = self.dir.path();
        let log = std::fs::File::create(d.join("server.log")).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&self.server);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--socket={}", d.join("mysql.sock").display()))
            .arg(format!("--port={}", self.port))
            .arg(format!("--tmpdir={}", d.join("tmp").display()))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
            ])
            .args(self.run_as.map(|u| format!("--user={u}")))
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run mariadbd: {e}"))?;
        *self
            .child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            let exited = self
                .child
                .lock()
                .ok()
                .and_then(|mut c| c.as_mut().and_then(|c| c.try_wait().ok().flatten()));
            if exited.is_some() || Instant::now() > deadline {
                self.stop();
                return Err(format!(
                    "mariadbd did not come up ({exited:?}); log:\n{}",
                    std::fs::read_to_string(d.join("server.log")).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs SQL as root through the server's socket.
    fn sql(&self, sql: &str) -> Result<(), String> {
        let sock = self.dir.path().join("mysql.sock");
        crate::pg::run(
            Command::new("mariadb")
                .args(["--no-defaults", "-uroot"])
                .arg(format!("--socket={}", sock.display()))
                .arg("-e")
                .arg(sql),
        )
        .map(drop)
    }
}

impl Drop for MariaDbServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_stops_and_restarts_a_real_server() {
        let Some(db) = MariaDbServer::start_or_skip() else {
            return;
        };
        assert!(TcpStream::connect(("127.0.0.1", db.port)).is_ok());
        db.stop();
        assert!(
            TcpStream::connect(("127.0.0.1", db.port)).is_err(),
            "stopped"
        );
        db.restart().unwrap();
        assert!(
            TcpStream::connect(("127.0.0.1", db.port)).is_ok(),
            "restarted"
        );
        assert!(db.url().ends_with(&format!(":{}/{DATABASE}", db.port)));
    }
}
