//! A throwaway HTTPS file server for tests: a self-signed certificate for `localhost` and
//! `127.0.0.1` made with `openssl req`, served by `openssl s_server -WWW` from a temporary
//! directory on a free port, killed on drop.
//!
//! ```no_run
//! let Some(tls) = buntime_testkit::TlsServer::start_or_skip() else { return };
//! std::fs::write(tls.dir().join("hello.txt"), "hi").unwrap();
//! println!("{}/hello.txt, trusted by {}", tls.url(), tls.cert().display());
//! ```

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a developer is told when openssl is missing.
pub const INSTALL_HINT: &str = "apt-get install openssl";

/// A running HTTPS file server owned by a test.
#[derive(Debug)]
pub struct TlsServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl TlsServer {
    /// Starts a server, or returns `None` after printing `skipping: …` when openssl is not
    /// installed; with `CI` set a missing openssl is a failure instead.
    ///
    /// # Panics
    /// openssl is missing under CI, or the certificate or the server cannot be made.
    pub fn start_or_skip() -> Option<Self> {
        if Command::new("openssl").arg("version").output().is_err() {
            assert!(std::env::var_os("CI").is_none(), "openssl is required under CI ({INSTALL_HINT})");
            eprintln!("skipping: openssl not installed ({INSTALL_HINT})");
            return None;
        }
        let dir = tempfile::Builder::new().prefix("buntime-tls-").tempdir().expect("temp dir");
        // An end-entity certificate (CA:FALSE) that is its own trust anchor: what rustls accepts
        // when the test trusts it, and refuses otherwise.
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.pem", "-out", "c.pem", "-days", "1", "-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"])
            .current_dir(dir.path())
            .output()
            .expect("openssl runs");
        assert!(made.status.success(), "openssl req failed: {}", String::from_utf8_lossy(&made.stderr));
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new("openssl")
            .args(["s_server", "-accept", &port.to_string(), "-cert", "c.pem", "-key", "k.pem", "-WWW", "-quiet"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server starts");
        let server = Self { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "openssl s_server did not start");
            std::thread::sleep(Duration::from_millis(25));
        }
        Some(server)
    }

    /// Returns `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Returns the port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the directory served (files written here are served at their relative path).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Returns the certificate (PEM), e.g. for `SSL_CERT_FILE`.
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("c.pem")
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
