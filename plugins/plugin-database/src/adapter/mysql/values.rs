//! HRANA values to MySQL parameters and MySQL results (either protocol) back to HRANA values,
//! decided by each column's type and character set.

use mysql_async::Value as MyValue;
use mysql_async::consts::ColumnType;

use crate::value::Value;

/// A HRANA value as a MySQL parameter (MySQL converts it to the column type).
pub(super) fn to_mysql(v: Value) -> MyValue {
    match v {
        Value::Null => MyValue::NULL,
        Value::Integer(i) => MyValue::Int(i),
        Value::Float(f) => MyValue::Double(f),
        Value::Text(s) => MyValue::Bytes(s.into_bytes()),
        Value::Blob(b) => MyValue::Bytes(b),
    }
}

/// The binary character set: bytes, not text.
const BINARY_CHARSET: u16 = 63;

/// Decodes one cell using its column's type: the text protocol sends everything as bytes.
pub(super) fn from_mysql(v: MyValue, col: &mysql_async::Column) -> Value {
    use ColumnType::*;
    let ty = col.column_type();
    let integer = matches!(
        ty,
        MYSQL_TYPE_TINY
            | MYSQL_TYPE_SHORT
            | MYSQL_TYPE_LONG
            | MYSQL_TYPE_LONGLONG
            | MYSQL_TYPE_INT24
            | MYSQL_TYPE_YEAR
    );
    let float = matches!(ty, MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE);
    let bytes_type = matches!(
        ty,
        MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
            | MYSQL_TYPE_BLOB
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_STRING
            | MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_BIT
            | MYSQL_TYPE_GEOMETRY
    );
    match v {
        MyValue::NULL => Value::Null,
        MyValue::Int(i) => Value::Integer(i),
        MyValue::UInt(u) => {
            i64::try_from(u).map_or_else(|_| Value::Text(u.to_string()), Value::Integer)
        }
        MyValue::Float(f) => Value::Float(f.into()),
        MyValue::Double(f) => Value::Float(f),
        MyValue::Bytes(b) => {
            let text = || {
                String::from_utf8(b.clone()).map_or_else(|_| Value::Blob(b.clone()), Value::Text)
            };
            if integer {
                let s = String::from_utf8_lossy(&b);
                s.parse::<i64>()
                    .map_or_else(|_| Value::Text(s.into_owned()), Value::Integer)
            } else if float {
                String::from_utf8_lossy(&b)
                    .parse::<f64>()
                    .map_or_else(|_| text(), Value::Float)
            } else if bytes_type && col.character_set() == BINARY_CHARSET {
                Value::Blob(b)
            } else {
                text()
            }
        }
        MyValue::Date(y, m, d, h, i, s, us) => {
            let mut out = format!("{y:04}-{m:02}-{d:02}");
            if ty != MYSQL_TYPE_DATE {
                out.push_str(&format!(
                    " {h:02}:{i:02}:{s:02}{}",
                    fraction(us, col.decimals())
                ));
            }
            Value::Text(out)
        }
        MyValue::Time(neg, days, h, i, s, us) => {
            let hours = days * 24 + u32::from(h);
            Value::Text(format!(
                "{}{hours:02}:{i:02}:{s:02}{}",
                if neg { "-" } else { "" },
                fraction(us, col.decimals())
            ))
        }
    }
}

/// Microseconds with the column's declared digits, as MySQL's text protocol prints them.
fn fraction(us: u32, decimals: u8) -> String {
    let digits = usize::from(decimals.min(6));
    if digits == 0 {
        return String::new();
    }
    let mut f = format!(".{us:06}");
    f.truncate(1 + digits);
    f
}

/// The column's SQL type name (MySQL reports `TEXT` as a blob type with a text character set).
pub(super) fn type_name(col: &mysql_async::Column) -> String {
    use ColumnType::*;
    let binary = col.character_set() == BINARY_CHARSET;
    let name = match col.column_type() {
        MYSQL_TYPE_TINY_BLOB | MYSQL_TYPE_MEDIUM_BLOB | MYSQL_TYPE_LONG_BLOB | MYSQL_TYPE_BLOB => {
            if binary {
                "blob"
            } else {
                "text"
            }
        }
        MYSQL_TYPE_VAR_STRING | MYSQL_TYPE_VARCHAR => {
            if binary {
                "varbinary"
            } else {
                "varchar"
            }
        }
        MYSQL_TYPE_STRING => {
            if binary {
                "binary"
            } else {
                "char"
            }
        }
        MYSQL_TYPE_TINY => "tinyint",
        MYSQL_TYPE_SHORT => "smallint",
        MYSQL_TYPE_INT24 => "mediumint",
        MYSQL_TYPE_LONG => "int",
        MYSQL_TYPE_LONGLONG => "bigint",
        MYSQL_TYPE_NEWDECIMAL | MYSQL_TYPE_DECIMAL => "decimal",
        MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => "timestamp",
        MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => "datetime",
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => "time",
        other => {
            return format!("{other:?}")
                .trim_start_matches("MYSQL_TYPE_")
                .to_ascii_lowercase();
        }
    };
    name.to_owned()
}
