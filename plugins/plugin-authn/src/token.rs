//! Random tokens, their stored hashes, and HMAC-signed cookie values with key rotation.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Returns 32 random bytes, base64url (43 characters).
///
/// # Panics
/// When the operating system has no randomness to give (nothing secure can run then).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    B64.encode(bytes)
}

/// Returns the SHA-256 of `token`, hex: what the database stores instead of the token, so a
/// leaked table holds no usable cookie.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        use std::fmt::Write as _;
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Signs and verifies cookie values `<token>.<hmac>`.
#[derive(Clone)]
pub struct Signer {
    /// The keys, newest first: the first signs, any verifies.
    keys: Vec<HmacSha256>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl Signer {
    /// Builds a signer from keys, newest first.
    ///
    /// # Panics
    /// When `keys` is empty (a programming error: the plugin always has one).
    pub fn new(keys: &[String]) -> Self {
        assert!(!keys.is_empty(), "a signer needs a key");
        let keys = keys
            .iter()
            .map(|k| {
                HmacSha256::new_from_slice(k.as_bytes()).expect("HMAC takes keys of any length")
            })
            .collect();
        Self { keys }
    }

    /// Returns the cookie value for `token`.
    pub fn sign(&self, token: &str) -> String {
        let mut mac = self.keys[0].clone();
        mac.update(token.as_bytes());
        format!("{token}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    /// Returns the token inside a cookie value whose signature one of the keys made.
    pub fn verify<'a>(&self, value: &'a str) -> Option<&'a str> {
        let (token, sig) = value.rsplit_once('.')?;
        if token.is_empty() || token.len() > 128 {
            return None;
        }
        let sig = B64.decode(sig).ok()?;
        self.keys
            .iter()
            .any(|k| {
                let mut mac = k.clone();
                mac.update(token.as_bytes());
                // `verify_slice` compares in constant time.
                mac.verify_slice(&sig).is_ok()
            })
            .then_some(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_values_verify_and_tampered_ones_do_not() {
        let s = Signer::new(&["k".repeat(32)]);
        let t = random_token();
        let v = s.sign(&t);
        assert_eq!(s.verify(&v), Some(t.as_str()));
        let mut tampered = v.clone();
        tampered.replace_range(0..1, if v.starts_with('A') { "B" } else { "A" });
        assert_eq!(s.verify(&tampered), None);
        assert_eq!(s.verify(&t), None);
        assert_eq!(s.verify(&format!("{t}.")), None);
    }

    #[test]
    fn an_old_key_still_verifies_after_rotation_but_never_signs() {
        let old = Signer::new(&["old".repeat(11)]);
        let rotated = Signer::new(&["new".repeat(11), "old".repeat(11)]);
        let v = old.sign("tok");
        assert_eq!(rotated.verify(&v), Some("tok"));
        assert_ne!(rotated.sign("tok"), v);
        assert_eq!(Signer::new(&["new".repeat(11)]).verify(&v), None);
    }

    #[test]
    fn hashes_are_hex_sha256() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
