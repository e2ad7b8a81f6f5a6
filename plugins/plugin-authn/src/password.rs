//! Password hashing with argon2id (PHC strings), and the dummy hash that hides unknown accounts.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::PasswordConfig;

/// Hashes and verifies passwords with one set of argon2id parameters.
#[derive(Clone)]
pub struct Hasher {
    argon: Argon2<'static>,
    /// A hash of a random password, verified against when the account does not exist so an
    /// unknown email costs the same time as a wrong password.
    dummy: String,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("params", self.argon.params())
            .finish_non_exhaustive()
    }
}

impl Hasher {
    /// Builds a hasher (and its dummy hash, which costs one hash).
    ///
    /// # Errors
    /// Parameters argon2 refuses, described.
    pub fn new(cfg: PasswordConfig) -> Result<Self, String> {
        let params = Params::new(cfg.memory_kib, cfg.iterations, cfg.parallelism, None)
            .map_err(|e| format!("`password`: {e}"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut me = Self {
            argon,
            dummy: String::new(),
        };
        me.dummy = me.hash(&crate::token::random_token())?;
        Ok(me)
    }

    /// Returns the PHC string of `password` with a fresh random salt.
    ///
    /// # Errors
    /// When the random source or argon2 fails.
    pub fn hash(&self, password: &str) -> Result<String, String> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| format!("no randomness: {e}"))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
        self.argon
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    }

    /// Returns whether `password` matches `stored` (a PHC string; its own parameters are used, so
    /// hashes made before a parameter change still verify). `None` verifies against the dummy
    /// hash and always answers `false`, in the same time.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let (phc, real) = match stored {
            Some(s) => (s, true),
            None => (self.dummy.as_str(), false),
        };
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        // `verify_password` compares the digests in constant time.
        let ok = self
            .argon
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && real
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> Hasher {
        Hasher::new(PasswordConfig {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
            min_length: 8,
        })
        .unwrap()
    }

    #[test]
    fn hashes_are_argon2id_and_salted() {
        let h = fast();
        let a = h.hash("correct horse").unwrap();
        let b = h.hash("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{a}");
        assert_ne!(a, b);
        assert!(h.verify("correct horse", Some(&a)));
        assert!(!h.verify("wrong horse", Some(&a)));
    }

    #[test]
    fn unknown_accounts_and_garbage_never_verify() {
        let h = fast();
        assert!(!h.verify("anything", None));
        assert!(!h.verify("anything", Some("not a phc string")));
    }
}
