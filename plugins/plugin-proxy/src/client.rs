//! Upstream connections: one pooled keep-alive HTTP/1.1 client per TLS policy (certificates
//! verified against the system's roots, or, for rules with `secure: false`, not verified), and
//! the rustls configs the WebSocket relay uses for `wss` targets.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// The HTTP client type both policies share.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Body>;

/// Idle upstream connections are kept this long for reuse.
const IDLE: Duration = Duration::from_secs(90);

/// The clients and TLS configs, built once per plugin instance (the unverified ones on first use).
#[derive(Debug)]
pub struct Upstreams {
    verified: (HttpClient, Arc<ClientConfig>),
    unverified: OnceLock<(HttpClient, Arc<ClientConfig>)>,
    connect_timeout: Duration,
}

impl Upstreams {
    /// Loads the system's root certificates and builds the verifying client.
    ///
    /// # Errors
    /// The TLS configuration cannot be built (no usable crypto provider).
    pub fn new(connect_timeout: Duration) -> Result<(Self, Vec<String>), String> {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        let mut warnings: Vec<String> = found
            .errors
            .iter()
            .map(|e| format!("system root certificates: {e}"))
            .collect();
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            warnings.push("no system root certificates found: every `https` target with `secure: true` will fail verification".to_owned());
        } else if ignored > 0 {
            warnings.push(format!(
                "{ignored} system root certificates could not be parsed and are ignored"
            ));
        }
        let config = builder()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let config = Arc::new(config);
        Ok((
            Self {
                verified: (client(config.clone(), connect_timeout), config),
                unverified: OnceLock::new(),
                connect_timeout,
            },
            warnings,
        ))
    }

    /// Returns the HTTP client for a rule's `secure` setting.
    pub fn http(&self, secure: bool) -> &HttpClient {
        &self.pair(secure).0
    }

    /// Returns the rustls config for a rule's `secure` setting (for `wss` targets).
    pub fn tls(&self, secure: bool) -> Arc<ClientConfig> {
        self.pair(secure).1.clone()
    }

    /// Returns how long a TCP connect may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    fn pair(&self, secure: bool) -> &(HttpClient, Arc<ClientConfig>) {
        if secure {
            return &self.verified;
        }
        self.unverified.get_or_init(|| {
            // The provider was usable for the verifying config, so it is here too.
            let config = builder().map_or_else(
                |_| ClientConfig::clone(&self.verified.1),
                |b| {
                    b.dangerous()
                        .with_custom_certificate_verifier(Arc::new(NoVerification))
                        .with_no_client_auth()
                },
            );
            let config = Arc::new(config);
            (client(config.clone(), self.connect_timeout), config)
        })
    }
}

fn builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, String> {
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))
}

fn client(tls: Arc<ClientConfig>, connect_timeout: Duration) -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(ClientConfig::clone(&tls))
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(IDLE)
        .build(https)
}

/// Accepts any certificate: what `secure: false` asks for (self-signed development upstreams).
/// Signatures are still checked, so the handshake itself is sound.
#[derive(Debug)]
struct NoVerification;

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end: &CertificateDer<'_>,
        _inter: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
