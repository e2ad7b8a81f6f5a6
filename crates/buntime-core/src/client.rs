//! The network peer a request came from, set by the listener as a request extension.

use std::net::SocketAddr;

use http::HeaderMap;

/// The TCP peer of the connection that carried a request (a request extension set by the
/// listener; absent for in-process requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl ClientAddr {
    /// Returns whether the peer is this machine and no proxy says it forwarded the request for
    /// someone else (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`): a local reverse proxy makes
    /// every remote client look like loopback, so a forwarded request never counts as local.
    pub fn is_local(&self, headers: &HeaderMap) -> bool {
        let forwarded = ["forwarded", "x-forwarded-for", "x-real-ip"].iter().any(|h| headers.contains_key(*h));
        let ip = match self.0.ip() {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
            v4 => v4,
        };
        ip.is_loopback() && !forwarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_without_forwarding_headers_is_local() {
        let h = HeaderMap::new();
        assert!(ClientAddr("127.0.0.1:5000".parse().unwrap()).is_local(&h));
        assert!(ClientAddr("[::1]:5000".parse().unwrap()).is_local(&h));
        assert!(ClientAddr("[::ffff:127.0.0.1]:5000".parse().unwrap()).is_local(&h));
        assert!(!ClientAddr("10.0.0.2:5000".parse().unwrap()).is_local(&h));
    }

    #[test]
    fn a_forwarded_request_is_never_local() {
        for name in ["forwarded", "x-forwarded-for", "x-real-ip"] {
            let mut h = HeaderMap::new();
            h.insert(name, "203.0.113.9".parse().unwrap());
            assert!(!ClientAddr("127.0.0.1:5000".parse().unwrap()).is_local(&h), "{name}");
        }
    }
}
