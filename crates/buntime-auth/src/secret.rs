//! Secrets: generating `btk_` keys, hashing them, and the one constant-time comparison.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix every generated key starts with.
pub const KEY_PREFIX: &str = "btk_";
/// How many leading characters of a key are stored and shown as its `keyPrefix`.
pub const PREFIX_LEN: usize = 12;

/// The error when the operating system cannot supply random bytes.
#[derive(Debug, thiserror::Error)]
#[error("the operating system could not supply random bytes: {0}")]
pub struct RandomError(String);

/// Generates a new key: `btk_` followed by base64url (no padding) of 32 random bytes.
///
/// # Errors
/// Returns [`RandomError`] when the OS random source fails.
pub fn generate_key() -> Result<String, RandomError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    Ok(format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Returns the lowercase hex SHA-256 of `secret`, the only form in which keys are stored.
pub fn hash_key(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Returns the `keyPrefix` shown for a key: its first 12 characters (fewer if it is shorter).
pub fn key_prefix(secret: &str) -> String {
    secret.chars().take(PREFIX_LEN).collect()
}

/// Compares two secrets (or their hashes) in constant time.
///
/// Every secret comparison in this crate goes through this function. Inputs are hashed first so
/// that neither the content nor the length of the expected value leaks through timing.
pub fn secrets_match(candidate: &[u8], expected: &[u8]) -> bool {
    #[cfg(test)]
    counter::bump();
    let a = Sha256::digest(candidate);
    let b = Sha256::digest(expected);
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}

/// Counts calls to [`secrets_match`] per thread, so tests can prove the comparison is used.
#[cfg(test)]
pub(crate) mod counter {
    use std::cell::Cell;

    thread_local! {
        static CALLS: Cell<usize> = const { Cell::new(0) };
    }

    pub(crate) fn bump() {
        CALLS.with(|c| c.set(c.get() + 1));
    }

    /// Returns how many comparisons this thread has made.
    pub(crate) fn calls() -> usize {
        CALLS.with(Cell::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_prefix_and_43_base64url_chars() {
        let k = generate_key().unwrap();
        assert!(k.starts_with("btk_"));
        assert_eq!(k.len(), 4 + 43);
        assert!(
            k[4..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(k, generate_key().unwrap());
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn prefix_is_the_first_twelve_chars() {
        assert_eq!(key_prefix("btk_abcdefghijkl"), "btk_abcdefgh");
        assert_eq!(key_prefix("short"), "short");
    }

    #[test]
    fn secrets_match_only_equal_inputs_whatever_their_length() {
        assert!(secrets_match(b"master", b"master"));
        assert!(!secrets_match(b"master", b"mastex"));
        assert!(!secrets_match(b"master", b"master-longer"));
        assert!(!secrets_match(b"", b"x"));
        assert!(secrets_match(b"", b""));
    }

    #[test]
    fn secrets_match_is_counted() {
        let before = counter::calls();
        secrets_match(b"a", b"b");
        assert_eq!(counter::calls(), before + 1);
    }
}
