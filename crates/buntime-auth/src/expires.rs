//! Parsing `expiresIn` (`never`, empty, or `<n>d|w|m|y`) into a duration in seconds.

const DAY: u64 = 86_400;

/// The error for an `expiresIn` value that is not `never`, empty, or `<n>d|w|m|y` with n ≥ 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid expiration `{0}`: use `never` or a positive number followed by d, w, m (30 days) or y (365 days), such as `30d`"
)]
pub struct InvalidExpiration(pub String);

/// Parses `expiresIn` into seconds; `None` means the key never expires.
///
/// # Errors
/// Returns [`InvalidExpiration`] for any other shape, for `0`, and for values that overflow.
pub fn parse_expires_in(value: &str) -> Result<Option<u64>, InvalidExpiration> {
    let invalid = || InvalidExpiration(value.to_owned());
    if value.is_empty() || value == "never" {
        return Ok(None);
    }
    let (digits, unit) =
        value.split_at(value.len() - value.chars().last().map_or(0, char::len_utf8));
    let unit_secs = match unit {
        "d" => DAY,
        "w" => 7 * DAY,
        "m" => 30 * DAY,
        "y" => 365 * DAY,
        _ => return Err(invalid()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let n: u64 = digits.parse().map_err(|_| invalid())?;
    if n == 0 {
        return Err(invalid());
    }
    n.checked_mul(unit_secs).map(Some).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_never_empty_and_each_unit() {
        assert_eq!(parse_expires_in("never"), Ok(None));
        assert_eq!(parse_expires_in(""), Ok(None));
        assert_eq!(parse_expires_in("1d"), Ok(Some(86_400)));
        assert_eq!(parse_expires_in("2w"), Ok(Some(14 * 86_400)));
        assert_eq!(parse_expires_in("1m"), Ok(Some(30 * 86_400)));
        assert_eq!(parse_expires_in("1y"), Ok(Some(365 * 86_400)));
        assert_eq!(parse_expires_in("007d"), Ok(Some(7 * 86_400)));
    }

    #[test]
    fn rejects_zero_other_units_signs_and_overflow() {
        for v in [
            "0d",
            "00y",
            "d",
            "1h",
            "1D",
            "-1d",
            "+1d",
            " 1d",
            "1.5d",
            "1dd",
            "never ",
            "99999999999999999999d",
            "é",
        ] {
            assert!(parse_expires_in(v).is_err(), "{v:?}");
        }
    }
}
