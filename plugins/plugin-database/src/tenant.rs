//! Validated tenant ids: safe as file names, schema names and host labels.

use std::fmt;

use crate::error::DbError;

/// Longest tenant id accepted.
pub const MAX_TENANT_LEN: usize = 64;

/// A tenant id: 1 to 64 ASCII letters, digits, `-` or `_`. Anything else is refused (never
/// rewritten), so an id can never escape its directory or collide with another after sanitising.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// Validates `raw` as a tenant id.
    ///
    /// # Errors
    /// [`DbError::InvalidTenant`] when it is empty, too long or has another character.
    pub fn parse(raw: &str) -> Result<Self, DbError> {
        let ok = !raw.is_empty() && raw.len() <= MAX_TENANT_LEN && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok { Ok(Self(raw.to_owned())) } else { Err(DbError::InvalidTenant(raw.chars().take(80).collect())) }
    }

    /// Returns the id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_safe_ids_are_accepted() {
        for ok in ["acme", "a-b_C9", &"x".repeat(64)] {
            assert!(TenantId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", "../x", "a/b", "a.b", "a b", "é", "a\0", &"x".repeat(65)] {
            assert!(matches!(TenantId::parse(bad), Err(DbError::InvalidTenant(_))), "{bad:?}");
        }
    }
}
