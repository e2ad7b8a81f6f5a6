//! `https` targets against a real TLS server (openssl's, with a self-signed certificate): refused
//! with a 502 that names the certificate while `secure` is on (the default), proxied when a rule
//! turns it off.

mod support;

use buntime_testkit::TlsServer;
use support::start;

#[tokio::test]
async fn a_self_signed_upstream_is_refused_unless_the_rule_says_secure_false() {
    let Some(tls) = TlsServer::start_or_skip() else { return };
    std::fs::write(tls.dir().join("hello.txt"), "hello over TLS").unwrap();
    let target = format!("https://localhost:{}", tls.port());
    let h = start(&format!(
        "upstreamTimeout: 5s\nrules:\n  - {{ pattern: \"^/checked/(.*)$\", target: \"{target}\", rewrite: \"/$1\" }}\n  - {{ pattern: \"^/unchecked/(.*)$\", target: \"{target}\", rewrite: \"/$1\", secure: false }}\n"
    ))
    .await;

    let res = h.get("/checked/hello.txt").await;
    assert_eq!(res.status, 502, "{}", res.text());
    let error = res.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.to_lowercase().contains("certificate"), "the refusal names the certificate: {error}");

    let res = h.get("/unchecked/hello.txt").await;
    assert_eq!((res.status.as_u16(), res.text()), (200, "hello over TLS".to_owned()), "secure: false skips verification");
}
