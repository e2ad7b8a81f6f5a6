//! HRANA values to PostgreSQL parameters (text format, so PostgreSQL parses them for the type it
//! inferred) and PostgreSQL's binary results back to HRANA values.

use std::error::Error;
use std::fmt::Write as _;

use tokio_postgres::types::{Format, FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

use crate::value::Value;

type BoxError = Box<dyn Error + Sync + Send>;

/// One argument bound to a parameter of the prepared statement.
#[derive(Debug)]
pub(super) struct Arg<'a>(pub &'a Value);

impl Arg<'_> {
    /// Checks the value can be sent for a parameter of type `ty`; returns why not.
    pub(super) fn check(&self, ty: &Type) -> Result<(), String> {
        match self.0 {
            Value::Blob(_) if *ty != Type::BYTEA => Err(format!(
                "is a blob but the parameter is `{}`; blobs go to `bytea`",
                ty.name()
            )),
            _ => Ok(()),
        }
    }
}

impl ToSql for Arg<'_> {
    fn to_sql(&self, _ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        match self.0 {
            Value::Null => return Ok(IsNull::Yes),
            Value::Integer(i) => write!(out, "{i}")?,
            Value::Float(f) if f.is_nan() => out.extend_from_slice(b"NaN"),
            Value::Float(f) if f.is_infinite() => {
                out.extend_from_slice(if *f > 0.0 { b"Infinity" } else { b"-Infinity" })
            }
            Value::Float(f) => write!(out, "{f}")?,
            Value::Text(s) => out.extend_from_slice(s.as_bytes()),
            Value::Blob(b) => out.extend_from_slice(b),
        }
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        // Text lets PostgreSQL's own input functions parse numbers, timestamps, JSON, UUIDs… for
        // whatever type it inferred; only bytes go as they are.
        if matches!(self.0, Value::Blob(_)) {
            Format::Binary
        } else {
            Format::Text
        }
    }

    to_sql_checked!();
}

/// One result cell decoded into a HRANA value.
#[derive(Debug)]
pub(super) struct Cell(pub Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        decode(ty, raw).map(Cell)
    }

    fn from_sql_null(_ty: &Type) -> Result<Self, BoxError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

fn text(raw: &[u8]) -> Result<Value, BoxError> {
    Ok(Value::Text(std::str::from_utf8(raw)?.to_owned()))
}

/// Decodes a binary-format value: integers and booleans as integers, floats as floats, `bytea` as
/// a blob, and text, numeric, JSON, UUID, dates, times and intervals as their text.
fn decode(ty: &Type, raw: &[u8]) -> Result<Value, BoxError> {
    if let Kind::Domain(inner) = ty.kind() {
        return decode(inner, raw);
    }
    if let Kind::Enum(_) = ty.kind() {
        return text(raw);
    }
    Ok(match *ty {
        Type::BOOL => Value::Integer(i64::from(bool::from_sql(ty, raw)?)),
        Type::INT2 => Value::Integer(i16::from_sql(ty, raw)?.into()),
        Type::INT4 => Value::Integer(i32::from_sql(ty, raw)?.into()),
        Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
        Type::OID => Value::Integer(u32::from_sql(ty, raw)?.into()),
        Type::FLOAT4 => Value::Float(f32::from_sql(ty, raw)?.into()),
        Type::FLOAT8 => Value::Float(f64::from_sql(ty, raw)?),
        Type::BYTEA => Value::Blob(raw.to_vec()),
        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::UNKNOWN
        | Type::JSON
        | Type::XML
        | Type::CHAR => text(raw)?,
        Type::JSONB => match raw.split_first() {
            Some((1, rest)) => text(rest)?,
            _ => return Err("unsupported jsonb version".into()),
        },
        Type::NUMERIC => Value::Text(numeric(raw)?),
        Type::UUID => Value::Text(uuid::Uuid::from_slice(raw)?.hyphenated().to_string()),
        Type::DATE => Value::Text(date(i32::from_sql(&Type::INT4, raw)?)),
        Type::TIME => Value::Text(time_of_day(i64::from_sql(&Type::INT8, raw)?)),
        Type::TIMESTAMP => Value::Text(timestamp(i64::from_sql(&Type::INT8, raw)?, "")),
        Type::TIMESTAMPTZ => Value::Text(timestamp(i64::from_sql(&Type::INT8, raw)?, "+00")),
        Type::INTERVAL => Value::Text(interval(raw)?),
        Type::VOID => Value::Null,
        // Extension text types (citext, …) send their text.
        _ if matches!(ty.name(), "citext" | "ltree" | "lquery" | "ltxtquery") => text(raw)?,
        _ => {
            return Err(format!(
                "type `{}` cannot be returned yet; cast the column to text (`::text`)",
                ty.name()
            )
            .into());
        }
    })
}

fn be_u16(raw: &[u8], at: usize) -> Result<u16, BoxError> {
    raw.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| "truncated numeric".into())
}

/// `numeric`'s binary form (base-10000 digits, weight, sign, display scale) as decimal text.
fn numeric(raw: &[u8]) -> Result<String, BoxError> {
    let ndigits = usize::from(be_u16(raw, 0)?);
    let weight = i32::from(be_u16(raw, 2)? as i16);
    let sign = be_u16(raw, 4)?;
    let dscale = usize::from(be_u16(raw, 6)?);
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let digits: Vec<u16> = (0..ndigits)
        .map(|k| be_u16(raw, 8 + 2 * k))
        .collect::<Result<_, _>>()?;
    // Digit k is worth 10000^(weight - k).
    let digit = |k: i32| {
        usize::try_from(k)
            .ok()
            .and_then(|k| digits.get(k))
            .copied()
            .unwrap_or(0)
    };
    let mut s = String::new();
    if sign == 0x4000 {
        s.push('-');
    }
    if weight < 0 {
        s.push('0');
    } else {
        for k in 0..=weight {
            if k == 0 {
                write!(s, "{}", digit(k))?
            } else {
                write!(s, "{:04}", digit(k))?
            }
        }
    }
    if dscale > 0 {
        let mut frac = String::new();
        let mut k = weight + 1;
        while frac.len() < dscale {
            write!(frac, "{:04}", digit(k))?;
            k += 1;
        }
        frac.truncate(dscale);
        s.push('.');
        s.push_str(&frac);
    }
    Ok(s)
}

/// PostgreSQL's epoch, 2000-01-01, in days since 1970-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;
const US_PER_DAY: i64 = 86_400_000_000;

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn ymd(pg_days: i64) -> String {
    let (y, m, d) = civil(pg_days + PG_EPOCH_DAYS);
    // Year 0 is 1 BC, as PostgreSQL prints it.
    if y <= 0 {
        format!("{:04}-{m:02}-{d:02} BC", 1 - y)
    } else {
        format!("{y:04}-{m:02}-{d:02}")
    }
}

fn date(days: i32) -> String {
    match days {
        i32::MAX => "infinity".into(),
        i32::MIN => "-infinity".into(),
        d => ymd(i64::from(d)),
    }
}

fn time_of_day(us: i64) -> String {
    let (secs, frac) = (us / 1_000_000, us % 1_000_000);
    let mut s = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if frac != 0 {
        let f = format!(".{frac:06}");
        s.push_str(f.trim_end_matches('0'));
    }
    s
}

fn timestamp(us: i64, zone: &str) -> String {
    match us {
        i64::MAX => "infinity".into(),
        i64::MIN => "-infinity".into(),
        us => {
            let (days, rest) = (us.div_euclid(US_PER_DAY), us.rem_euclid(US_PER_DAY));
            let date = ymd(days);
            // BC dates put the era after the time, as PostgreSQL does.
            match date.strip_suffix(" BC") {
                Some(d) => format!("{d} {}{zone} BC", time_of_day(rest)),
                None => format!("{date} {}{zone}", time_of_day(rest)),
            }
        }
    }
}

/// `interval` (microseconds, days, months) in PostgreSQL's default output style.
fn interval(raw: &[u8]) -> Result<String, BoxError> {
    let (Some(us), Some(days), Some(months)) = (raw.get(0..8), raw.get(8..12), raw.get(12..16))
    else {
        return Err("truncated interval".into());
    };
    let us = i64::from_be_bytes(us.try_into()?);
    let days = i32::from_be_bytes(days.try_into()?);
    let months = i32::from_be_bytes(months.try_into()?);
    let mut parts = Vec::new();
    let unit = |n: i32, one: &str, many: &str| {
        format!("{n} {}", if n == 1 || n == -1 { one } else { many })
    };
    if months / 12 != 0 {
        parts.push(unit(months / 12, "year", "years"));
    }
    if months % 12 != 0 {
        parts.push(unit(months % 12, "mon", "mons"));
    }
    if days != 0 {
        parts.push(unit(days, "day", "days"));
    }
    if us != 0 || parts.is_empty() {
        let sign = if us < 0 { "-" } else { "" };
        parts.push(format!(
            "{sign}{}",
            time_of_day(us.unsigned_abs().try_into().unwrap_or(i64::MAX))
        ));
    }
    Ok(parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> String {
        let mut raw = Vec::new();
        for v in [ndigits, weight as u16, sign, dscale].iter().chain(digits) {
            raw.extend_from_slice(&v.to_be_bytes());
        }
        numeric(&raw).unwrap()
    }

    #[test]
    fn numerics_print_like_postgres() {
        assert_eq!(num(2, 1, 0, 2, &[12, 3456]), "123456.00");
        assert_eq!(num(1, -2, 0, 5, &[1000]), "0.00001");
        assert_eq!(num(3, 0, 0x4000, 6, &[3, 1415, 9265]), "-3.141592");
        assert_eq!(num(0, 0, 0, 0, &[]), "0");
        assert_eq!(num(1, 2, 0, 0, &[7]), "700000000");
        assert_eq!(num(0, 0, 0xC000, 0, &[]), "NaN");
    }

    #[test]
    fn dates_and_times_print_like_postgres() {
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(-1), "1999-12-31");
        assert_eq!(date(8_825), "2024-02-29");
        assert_eq!(
            timestamp(86_400_000_000 + 3_723_500_000, ""),
            "2000-01-02 01:02:03.5"
        );
        assert_eq!(timestamp(-1, "+00"), "1999-12-31 23:59:59.999999+00");
        assert_eq!(timestamp(i64::MAX, ""), "infinity");
        assert_eq!(ymd(-730_119), "0001-01-01");
        assert_eq!(ymd(-730_120), "0001-12-31 BC");
        let iv = |us: i64, d: i32, m: i32| {
            interval(
                &[
                    us.to_be_bytes().as_slice(),
                    &d.to_be_bytes(),
                    &m.to_be_bytes(),
                ]
                .concat(),
            )
            .unwrap()
        };
        assert_eq!(iv(3_600_000_000, 3, 14), "1 year 2 mons 3 days 01:00:00");
        assert_eq!(iv(0, 0, 0), "00:00:00");
        assert_eq!(iv(-1_000_000, 1, 0), "1 day -00:00:01");
    }
}
