//! Keys (§A.1): the [`KeyPart`] types, their order-preserving binary encoding and their JSON form.
//!
//! A key is 1..=20 parts. Each part is a tag byte plus a payload, parts are joined by `0x00`:
//!
//! | part | tag | payload |
//! |---|---|---|
//! | bytes | `0x01` | the bytes, escaped (below) |
//! | string | `0x02` | UTF-8, escaped (below) |
//! | number | `0x03` | 8-byte big-endian IEEE-754; sign bit flipped for non-negatives, all bits inverted for negatives |
//! | bigint | `0x04` | sign (`0x01` negative, `0x02` otherwise), length byte, big-endian magnitude; for negatives the length and magnitude bytes are inverted |
//! | boolean | `0x05` | `0x01` false, `0x02` true |
//!
//! Variable-length payloads escape `0x00` as `0x01 0x01` and `0x01` as `0x01 0x02`, so a payload
//! never holds a raw `0x00` and byte order is kept. Hence comparing encodings compares keys part by
//! part (types by tag, then by value, a shorter key before its extensions), and the descendants of a
//! key `p` are exactly the encodings in `[enc(p) 0x00, enc(p) 0x01)`.
//!
//! This differs from the original on purpose (it escaped with `0xFF` and ranged up to `0xFF`, which
//! let `["ab"]` fall under the prefix `["a"]`; negative bigints sorted backwards); see docs/keyval.md.

use std::cmp::Ordering;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

/// Most parts a key may have.
pub const MAX_PARTS: usize = 20;
/// Longest string part, in characters, and longest bytes part, in bytes.
pub const MAX_PART_LEN: usize = 1024;
/// Longest bigint magnitude, in bytes (one length byte in the encoding).
pub const MAX_BIGINT_BYTES: usize = 255;
/// Largest integer a JSON number carries exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

const TAG_BYTES: u8 = 0x01;
const TAG_STRING: u8 = 0x02;
const TAG_NUMBER: u8 = 0x03;
const TAG_BIGINT: u8 = 0x04;
const TAG_BOOLEAN: u8 = 0x05;
const SEP: u8 = 0x00;
const ESC: u8 = 0x01;

/// One part of a key.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyPart {
    /// Raw bytes; JSON `{"__type":"bytes","value":"<base64>"}`.
    Bytes(Vec<u8>),
    /// A string.
    String(String),
    /// A finite double (`-0` is stored as `0`).
    Number(f64),
    /// An integer of any size; JSON `{"__type":"bigint","value":"<decimal>"}`.
    BigInt(BigInt),
    /// A boolean.
    Boolean(bool),
}

/// An arbitrary-size integer as sign and minimal big-endian magnitude (zero: empty, non-negative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BigInt {
    negative: bool,
    magnitude: Vec<u8>,
}

/// Why a key (or its JSON) was refused; the message names the limit or the bad part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, KeyError> {
    Err(KeyError(msg.into()))
}

impl BigInt {
    /// Parses a decimal integer (`-` sign allowed, no `+`, no spaces).
    ///
    /// # Errors
    /// Not a decimal integer, or a magnitude over [`MAX_BIGINT_BYTES`] bytes.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let (negative, digits) = text.strip_prefix('-').map_or((false, text), |d| (true, d));
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return err(format!(
                "bigint value `{}` is not a decimal integer",
                text.chars().take(40).collect::<String>()
            ));
        }
        // Decimal to base-256, most significant byte first.
        let mut mag: Vec<u8> = Vec::new();
        for d in digits.bytes() {
            let mut carry = u32::from(d - b'0');
            for byte in mag.iter_mut().rev() {
                let v = u32::from(*byte) * 10 + carry;
                *byte = (v & 0xFF) as u8;
                carry = v >> 8;
            }
            while carry > 0 {
                mag.insert(0, (carry & 0xFF) as u8);
                carry >>= 8;
            }
            if mag.len() > MAX_BIGINT_BYTES {
                return err(format!(
                    "bigint key parts are limited to {MAX_BIGINT_BYTES} bytes"
                ));
            }
        }
        let first = mag.iter().position(|b| *b != 0).unwrap_or(mag.len());
        mag.drain(..first);
        Ok(Self {
            negative: negative && !mag.is_empty(),
            magnitude: mag,
        })
    }

    /// Returns the value when it fits an `i128`.
    pub fn to_i128(&self) -> Option<i128> {
        if self.magnitude.len() > 16 {
            return None;
        }
        let m = self
            .magnitude
            .iter()
            .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
        let m = i128::try_from(m).ok()?;
        Some(if self.negative { -m } else { m })
    }

    fn from_parts(negative: bool, magnitude: Vec<u8>) -> Self {
        Self {
            negative: negative && !magnitude.is_empty(),
            magnitude,
        }
    }
}

impl From<i64> for BigInt {
    fn from(v: i64) -> Self {
        let mag = v.unsigned_abs().to_be_bytes();
        let first = mag.iter().position(|b| *b != 0).unwrap_or(mag.len());
        Self::from_parts(v < 0, mag[first..].to_vec())
    }
}

impl fmt::Display for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.magnitude.is_empty() {
            return f.write_str("0");
        }
        // Base-256 to decimal by repeated division.
        let mut mag = self.magnitude.clone();
        let mut digits = Vec::new();
        while !mag.is_empty() {
            let mut rem = 0u32;
            for byte in &mut mag {
                let v = (rem << 8) | u32::from(*byte);
                *byte = (v / 10) as u8;
                rem = v % 10;
            }
            digits.push(b'0' + rem as u8);
            let first = mag.iter().position(|b| *b != 0).unwrap_or(mag.len());
            mag.drain(..first);
        }
        if self.negative {
            f.write_str("-")?;
        }
        digits.reverse();
        f.write_str(&String::from_utf8_lossy(&digits))
    }
}

impl KeyPart {
    fn tag(&self) -> u8 {
        match self {
            Self::Bytes(_) => TAG_BYTES,
            Self::String(_) => TAG_STRING,
            Self::Number(_) => TAG_NUMBER,
            Self::BigInt(_) => TAG_BIGINT,
            Self::Boolean(_) => TAG_BOOLEAN,
        }
    }

    /// Parses one part from its JSON form.
    ///
    /// # Errors
    /// A type that is not a key part, a non-finite number, or a part over the size limits.
    pub fn from_json(v: &Value) -> Result<Self, KeyError> {
        let part = match v {
            Value::String(s) => Self::String(s.clone()),
            Value::Bool(b) => Self::Boolean(*b),
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.is_finite() => Self::Number(if f == 0.0 { 0.0 } else { f }),
                _ => return err("key parts must be finite numbers"),
            },
            Value::Object(o) => match (o.get("__type").and_then(Value::as_str), o.get("value")) {
                (Some("bigint"), Some(Value::String(s))) => Self::BigInt(BigInt::parse(s)?),
                (Some("bigint"), Some(Value::Number(n))) if n.is_i64() || n.is_u64() => {
                    Self::BigInt(BigInt::parse(&n.to_string())?)
                }
                (Some("bytes"), Some(Value::String(s))) => Self::Bytes(
                    decode_base64(s)
                        .ok_or_else(|| KeyError("bytes key part `value` must be base64".into()))?,
                ),
                (Some("bytes"), Some(Value::Array(a))) => Self::Bytes(
                    a.iter()
                        .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                        .collect::<Option<Vec<u8>>>()
                        .ok_or_else(|| {
                            KeyError(
                                "bytes key part `value` must be base64 or an array of 0..255"
                                    .into(),
                            )
                        })?,
                ),
                _ => {
                    return err(
                        r#"key parts must be strings, numbers, booleans, {"__type":"bigint","value":"…"} or {"__type":"bytes","value":"<base64>"}"#,
                    );
                }
            },
            _ => {
                return err(
                    r#"key parts must be strings, numbers, booleans, {"__type":"bigint","value":"…"} or {"__type":"bytes","value":"<base64>"}"#,
                );
            }
        };
        part.check()?;
        Ok(part)
    }

    fn check(&self) -> Result<(), KeyError> {
        match self {
            Self::String(s) if s.chars().count() > MAX_PART_LEN => err(format!(
                "string key parts are limited to {MAX_PART_LEN} characters"
            )),
            Self::Bytes(b) if b.len() > MAX_PART_LEN => err(format!(
                "bytes key parts are limited to {MAX_PART_LEN} bytes"
            )),
            _ => Ok(()),
        }
    }

    /// Returns the part's JSON form.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Bytes(b) => json!({"__type": "bytes", "value": B64.encode(b)}),
            Self::String(s) => json!(s),
            Self::Number(n) => number_json(*n),
            Self::BigInt(b) => json!({"__type": "bigint", "value": b.to_string()}),
            Self::Boolean(b) => json!(b),
        }
    }

    /// Returns the part as it appears in a `/`-joined path (watch prefix responses, FTS metadata).
    pub fn to_path_segment(&self) -> String {
        match self {
            Self::Bytes(b) => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b),
            Self::String(s) => s.clone(),
            Self::Number(n) => number_json(*n).to_string(),
            Self::BigInt(b) => b.to_string(),
            Self::Boolean(b) => b.to_string(),
        }
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
        match self {
            Self::Bytes(b) => escape_into(b, out),
            Self::String(s) => escape_into(s.as_bytes(), out),
            Self::Number(n) => {
                let bits = n.to_bits();
                let ordered = if bits >> 63 == 0 {
                    bits ^ (1 << 63)
                } else {
                    !bits
                };
                out.extend_from_slice(&ordered.to_be_bytes());
            }
            Self::BigInt(b) => {
                let len = b.magnitude.len() as u8;
                if b.negative {
                    out.push(0x01);
                    out.push(!len);
                    out.extend(b.magnitude.iter().map(|x| !x));
                } else {
                    out.push(0x02);
                    out.push(len);
                    out.extend_from_slice(&b.magnitude);
                }
            }
            Self::Boolean(b) => out.push(if *b { 0x02 } else { 0x01 }),
        }
    }
}

/// JSON numbers for integral doubles print without a fraction (`3`, not `3.0`), as in JavaScript.
fn number_json(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER as f64 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let trimmed = s.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed))
        .ok()
}

fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        match b {
            SEP => out.extend_from_slice(&[ESC, 0x01]),
            ESC => out.extend_from_slice(&[ESC, 0x02]),
            _ => out.push(b),
        }
    }
}

/// A validated key: 1..=20 parts within the size limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Key(Vec<KeyPart>);

impl Key {
    /// Builds a key from parts.
    ///
    /// # Errors
    /// No parts, more than [`MAX_PARTS`], or a part over its size limit.
    pub fn new(parts: Vec<KeyPart>) -> Result<Self, KeyError> {
        if parts.is_empty() {
            return err("key must have at least one part");
        }
        if parts.len() > MAX_PARTS {
            return err(format!("keys are limited to {MAX_PARTS} parts"));
        }
        for p in &parts {
            p.check()?;
        }
        Ok(Self(parts))
    }

    /// Builds a prefix: like [`Key::new`] but empty is allowed (the whole keyspace).
    ///
    /// # Errors
    /// As [`Key::new`], except for emptiness.
    pub fn prefix(parts: Vec<KeyPart>) -> Result<Self, KeyError> {
        if parts.is_empty() {
            Ok(Self(parts))
        } else {
            Self::new(parts)
        }
    }

    /// Parses a key from its JSON array form.
    ///
    /// # Errors
    /// Not an array, or a bad part (the message names its index).
    pub fn from_json(v: &Value) -> Result<Self, KeyError> {
        Self::new(parts_from_json(v)?)
    }

    /// Parses a prefix (an array, possibly empty) from JSON.
    ///
    /// # Errors
    /// As [`Key::from_json`], except for emptiness.
    pub fn prefix_from_json(v: &Value) -> Result<Self, KeyError> {
        Self::prefix(parts_from_json(v)?)
    }

    /// Parses a `/`-separated path (`a/b/42`): segments are percent-decoded strings, except
    /// `^-?\d+$` values within the safe-integer range, which become numbers. Empty segments are
    /// skipped; an empty path is the empty prefix.
    ///
    /// # Errors
    /// Bad percent-encoding (not UTF-8) or the limits of [`Key::prefix`].
    pub fn prefix_from_path(path: &str) -> Result<Self, KeyError> {
        let mut parts = Vec::new();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            let text = percent_encoding::percent_decode_str(seg)
                .decode_utf8()
                .map_err(|_| KeyError(format!("key path segment `{seg}` is not UTF-8")))?;
            parts.push(path_segment_part(&text));
        }
        Self::prefix(parts)
    }

    /// Returns the parts.
    pub fn parts(&self) -> &[KeyPart] {
        &self.0
    }

    /// Returns whether this is the empty prefix.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns the key with `part` appended.
    ///
    /// # Errors
    /// The result exceeds [`MAX_PARTS`].
    pub fn child(&self, part: KeyPart) -> Result<Self, KeyError> {
        let mut parts = self.0.clone();
        parts.push(part);
        Self::new(parts)
    }

    /// Returns the binary encoding (empty for the empty prefix).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * self.0.len());
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(SEP);
            }
            p.encode_into(&mut out);
        }
        out
    }

    /// Decodes an encoding produced by [`Key::encode`].
    ///
    /// # Errors
    /// Unknown tags, truncated payloads, bad escapes or invalid UTF-8.
    pub fn decode(bytes: &[u8]) -> Result<Self, KeyError> {
        let mut parts = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if !parts.is_empty() {
                if bytes[i] != SEP {
                    return err("encoded key: missing part separator");
                }
                i += 1;
            }
            let tag = *bytes
                .get(i)
                .ok_or_else(|| KeyError("encoded key: missing tag".into()))?;
            i += 1;
            let part = match tag {
                TAG_BYTES | TAG_STRING => {
                    let mut raw = Vec::new();
                    while i < bytes.len() && bytes[i] != SEP {
                        if bytes[i] == ESC {
                            match bytes.get(i + 1) {
                                Some(0x01) => raw.push(SEP),
                                Some(0x02) => raw.push(ESC),
                                _ => return err("encoded key: bad escape"),
                            }
                            i += 2;
                        } else {
                            raw.push(bytes[i]);
                            i += 1;
                        }
                    }
                    if tag == TAG_BYTES {
                        KeyPart::Bytes(raw)
                    } else {
                        KeyPart::String(String::from_utf8(raw).map_err(|_| {
                            KeyError("encoded key: string part is not UTF-8".into())
                        })?)
                    }
                }
                TAG_NUMBER => {
                    let chunk: [u8; 8] = bytes
                        .get(i..i + 8)
                        .and_then(|c| c.try_into().ok())
                        .ok_or_else(|| KeyError("encoded key: truncated number".into()))?;
                    i += 8;
                    let ordered = u64::from_be_bytes(chunk);
                    let bits = if ordered >> 63 == 1 {
                        ordered ^ (1 << 63)
                    } else {
                        !ordered
                    };
                    KeyPart::Number(f64::from_bits(bits))
                }
                TAG_BIGINT => {
                    let (Some(&sign @ (0x01 | 0x02)), Some(&len)) =
                        (bytes.get(i), bytes.get(i + 1))
                    else {
                        return err("encoded key: bad bigint header");
                    };
                    i += 2;
                    let negative = sign == 0x01;
                    let len = usize::from(if negative { !len } else { len });
                    let mag = bytes
                        .get(i..i + len)
                        .ok_or_else(|| KeyError("encoded key: truncated bigint".into()))?;
                    i += len;
                    let mag = if negative {
                        mag.iter().map(|b| !b).collect()
                    } else {
                        mag.to_vec()
                    };
                    KeyPart::BigInt(BigInt::from_parts(negative, mag))
                }
                TAG_BOOLEAN => {
                    let b = match bytes.get(i) {
                        Some(0x01) => false,
                        Some(0x02) => true,
                        _ => return err("encoded key: bad boolean"),
                    };
                    i += 1;
                    KeyPart::Boolean(b)
                }
                other => return err(format!("encoded key: unknown tag 0x{other:02x}")),
            };
            parts.push(part);
        }
        Ok(Self(parts))
    }

    /// Returns the JSON array form.
    pub fn to_json(&self) -> Value {
        Value::Array(self.0.iter().map(KeyPart::to_json).collect())
    }

    /// Returns the `/`-joined path form (types are not kept).
    pub fn to_path(&self) -> String {
        self.0
            .iter()
            .map(KeyPart::to_path_segment)
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// A path segment as a key part: a safe integer becomes a number, anything else stays a string.
pub fn path_segment_part(text: &str) -> KeyPart {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let integral =
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && digits.len() <= 16;
    match text.parse::<i64>() {
        Ok(n) if integral && n.abs() <= MAX_SAFE_INTEGER => KeyPart::Number(n as f64),
        _ => KeyPart::String(text.to_owned()),
    }
}

fn parts_from_json(v: &Value) -> Result<Vec<KeyPart>, KeyError> {
    let Value::Array(items) = v else {
        return err("key must be an array");
    };
    if items.len() > MAX_PARTS {
        return err(format!("keys are limited to {MAX_PARTS} parts"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, p)| KeyPart::from_json(p).map_err(|e| KeyError(format!("key part {i}: {}", e.0))))
        .collect()
}

/// The encoded bounds `[start, end)` of the strict descendants of `prefix` (the whole keyspace for
/// the empty prefix).
pub fn descendants_range(prefix: &Key) -> (Vec<u8>, Option<Vec<u8>>) {
    if prefix.is_empty() {
        return (Vec::new(), None);
    }
    let mut start = prefix.encode();
    let mut end = start.clone();
    start.push(SEP);
    end.push(SEP + 1);
    (start, Some(end))
}

/// Returns whether `encoded` is a strict descendant of the encoded prefix `prefix`.
pub fn is_descendant(encoded: &[u8], prefix: &[u8]) -> bool {
    if prefix.is_empty() {
        return true;
    }
    encoded.len() > prefix.len() && encoded.starts_with(prefix) && encoded[prefix.len()] == SEP
}

/// Compares two keys part by part (the order their encodings sort in).
pub fn compare(a: &Key, b: &Key) -> Ordering {
    for (x, y) in a.0.iter().zip(&b.0) {
        let o = compare_parts(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    a.0.len().cmp(&b.0.len())
}

fn compare_parts(a: &KeyPart, b: &KeyPart) -> Ordering {
    match (a, b) {
        (KeyPart::Bytes(x), KeyPart::Bytes(y)) => x.cmp(y),
        (KeyPart::String(x), KeyPart::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (KeyPart::Number(x), KeyPart::Number(y)) => x.total_cmp(y),
        (KeyPart::BigInt(x), KeyPart::BigInt(y)) => match (x.negative, y.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (neg, _) => {
                let by_mag = x
                    .magnitude
                    .len()
                    .cmp(&y.magnitude.len())
                    .then_with(|| x.magnitude.cmp(&y.magnitude));
                if neg { by_mag.reverse() } else { by_mag }
            }
        },
        (KeyPart::Boolean(x), KeyPart::Boolean(y)) => x.cmp(y),
        _ => a.tag().cmp(&b.tag()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(v: Value) -> Key {
        Key::from_json(&v).unwrap()
    }

    #[test]
    fn every_part_type_round_trips_through_the_encoding_and_json() {
        let k = key(
            json!(["users", 42, -1.5, true, false, {"__type": "bigint", "value": "-12345678901234567890123"}, {"__type": "bytes", "value": "AAEC/w=="}, "a\u{0}b\u{1}c", ""]),
        );
        let decoded = Key::decode(&k.encode()).unwrap();
        assert_eq!(decoded, k);
        assert_eq!(
            decoded.to_json(),
            json!(["users", 42, -1.5, true, false, {"__type": "bigint", "value": "-12345678901234567890123"}, {"__type": "bytes", "value": "AAEC/w=="}, "a\u{0}b\u{1}c", ""])
        );
    }

    #[test]
    fn bigints_parse_and_print_in_decimal() {
        for s in [
            "0",
            "1",
            "-1",
            "255",
            "256",
            "-65536",
            "340282366920938463463374607431768211456",
        ] {
            assert_eq!(BigInt::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(BigInt::parse("-0").unwrap().to_string(), "0");
        assert_eq!(BigInt::parse("007").unwrap().to_string(), "7");
        assert!(
            BigInt::parse("1.5").is_err()
                && BigInt::parse("").is_err()
                && BigInt::parse("+1").is_err()
        );
        assert_eq!(BigInt::from(-300_i64).to_i128(), Some(-300));
    }

    #[test]
    fn limits_are_enforced_and_named() {
        assert_eq!(
            Key::from_json(&json!([])).unwrap_err().0,
            "key must have at least one part"
        );
        assert!(
            Key::from_json(&json!(vec![1; 21]))
                .unwrap_err()
                .0
                .contains("20 parts")
        );
        assert!(
            Key::from_json(&json!(["x".repeat(1025)]))
                .unwrap_err()
                .0
                .contains("1024 characters")
        );
        assert!(
            Key::from_json(&json!(["é".repeat(1024)])).is_ok(),
            "the limit counts characters, not bytes"
        );
        assert!(
            Key::from_json(&json!([null]))
                .unwrap_err()
                .0
                .starts_with("key part 0:")
        );
        assert!(Key::from_json(&json!([{"a": 1}])).is_err());
        assert!(Key::from_json(&json!("a")).is_err());
        assert!(Key::prefix_from_json(&json!([])).unwrap().is_empty());
    }

    #[test]
    fn bad_encodings_are_rejected() {
        for bad in [
            &[0x09][..],
            &[0x03, 1, 2],
            &[0x02, b'a', 0x01],
            &[0x02, b'a', 0x01, 0x07],
            &[0x05, 0x07],
            &[0x04, 0x03, 0],
            &[0x02, b'a', 0x00],
            &[0x05, 0x01, 0x05],
        ] {
            assert!(Key::decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn path_segments_become_numbers_only_when_safe_integers() {
        let k = Key::prefix_from_path("users/42/-7/9007199254740993/1.5/a%2Fb/true").unwrap();
        assert_eq!(
            k.to_json(),
            json!(["users", 42, -7, "9007199254740993", "1.5", "a/b", "true"])
        );
        assert!(Key::prefix_from_path("").unwrap().is_empty());
    }

    #[test]
    fn a_prefix_range_holds_its_descendants_only() {
        let p = key(json!(["a"]));
        let (start, end) = descendants_range(&p);
        let end = end.unwrap();
        let inside = |k: &Key| {
            let e = k.encode();
            e >= start && e < end
        };
        assert!(inside(&key(json!(["a", "b"]))) && inside(&key(json!(["a", 1, 2]))));
        assert!(!inside(&p), "the prefix itself is not listed");
        assert!(
            !inside(&key(json!(["ab"])))
                && !inside(&key(json!(["a\u{0}"])))
                && !inside(&key(json!(["b"])))
        );
        assert!(
            is_descendant(&key(json!(["a", "b"])).encode(), &p.encode())
                && !is_descendant(&key(json!(["ab"])).encode(), &p.encode())
        );
    }

    fn part() -> impl Strategy<Value = KeyPart> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..6).prop_map(KeyPart::Bytes),
            "[\\x00-\\x02a-c\u{e9}]{0,5}".prop_map(KeyPart::String),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| KeyPart::Number(if f == 0.0 { 0.0 } else { f })),
            (-3_i64..3).prop_map(|n| KeyPart::Number(n as f64)),
            any::<i64>().prop_map(|n| KeyPart::BigInt(BigInt::from(n))),
            any::<bool>().prop_map(KeyPart::Boolean),
        ]
    }

    proptest! {
        #[test]
        fn encoding_order_is_key_order(a in proptest::collection::vec(part(), 1..4), b in proptest::collection::vec(part(), 1..4)) {
            let (a, b) = (Key::new(a).unwrap(), Key::new(b).unwrap());
            prop_assert_eq!(a.encode().cmp(&b.encode()), compare(&a, &b));
        }

        #[test]
        fn encoding_round_trips(a in proptest::collection::vec(part(), 1..5)) {
            let k = Key::new(a).unwrap();
            prop_assert_eq!(Key::decode(&k.encode()).unwrap(), k);
        }

        #[test]
        fn numbers_sort_numerically(x in any::<f64>(), y in any::<f64>()) {
            prop_assume!(x.is_finite() && y.is_finite() && x != 0.0 && y != 0.0);
            let (a, b) = (Key::new(vec![KeyPart::Number(x)]).unwrap(), Key::new(vec![KeyPart::Number(y)]).unwrap());
            prop_assert_eq!(a.encode().cmp(&b.encode()), x.partial_cmp(&y).unwrap());
        }

        #[test]
        fn bigints_sort_numerically(x in any::<i64>(), y in any::<i64>()) {
            let (a, b) = (Key::new(vec![KeyPart::BigInt(x.into())]).unwrap(), Key::new(vec![KeyPart::BigInt(y.into())]).unwrap());
            prop_assert_eq!(a.encode().cmp(&b.encode()), x.cmp(&y));
        }

        #[test]
        fn descendants_fall_in_their_prefix_range(p in proptest::collection::vec(part(), 1..3), rest in proptest::collection::vec(part(), 0..3), other in proptest::collection::vec(part(), 1..4)) {
            let prefix = Key::new(p.clone()).unwrap();
            let (start, end) = descendants_range(&prefix);
            let end = end.unwrap();
            let mut child = p.clone();
            child.extend(rest.clone());
            let child = Key::new(child).unwrap();
            let e = child.encode();
            prop_assert_eq!(e >= start && e < end, !rest.is_empty());
            let o = Key::new(other.clone()).unwrap().encode();
            let really_under = other.len() > p.len() && other[..p.len()] == p[..];
            prop_assert_eq!(o >= start && o < end, really_under);
        }
    }
}
