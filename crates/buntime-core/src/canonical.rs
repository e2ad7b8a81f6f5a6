//! The one canonical form of a request path, computed once per request before anything reads it,
//! so hooks, `publicRoutes`, the router, the app resolver, static files and workers all see the
//! same path.

use std::borrow::Cow;

/// Why a path has no canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Dot segments climb above the root (`/../etc`).
    #[error("the path climbs above the root")]
    AboveRoot,
}

/// Returns the canonical form of an origin-form request path (no query):
///
/// - percent-escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded (`%68` → `h`,
///   `%2e` → `.`), every other escape is kept with uppercase hex (`%2f` → `%2F`, never a
///   separator);
/// - a backslash becomes `%5C`, since URL parsers such as Bun's treat it as `/`;
/// - `.` and `..` segments are resolved (RFC 3986 §5.2.4); a `..` above the root is an error.
///
/// Paths that need none of this are returned borrowed.
///
/// # Errors
/// [`PathError::AboveRoot`] when dot segments climb above `/`.
pub fn canonicalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    if !needs_work(path) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = normalize_escapes(path);
    let mut out: Vec<&str> = Vec::new();
    let mut segments = decoded.split('/').skip(1).peekable();
    let mut trailing_slash = false;
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        match seg {
            "." => trailing_slash = last,
            ".." => {
                if out.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
                trailing_slash = last;
            }
            s => {
                out.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut s = String::with_capacity(decoded.len());
    for seg in &out {
        s.push('/');
        s.push_str(seg);
    }
    if trailing_slash || s.is_empty() {
        s.push('/');
    }
    Ok(Cow::Owned(s))
}

/// Whether `path` holds an escape, a backslash or a possible dot segment.
fn needs_work(path: &str) -> bool {
    let b = path.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c == b'%' || c == b'\\' || (c == b'.' && i > 0 && b[i - 1] == b'/' && matches!(b.get(i + 1), None | Some(b'/' | b'.')))
    })
}

fn normalize_escapes(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() && hex(b[i + 1]).is_some() && hex(b[i + 2]).is_some() => {
                let byte = hex(b[i + 1]).unwrap_or(0) * 16 + hex(b[i + 2]).unwrap_or(0);
                if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                    out.push(char::from(byte));
                } else {
                    out.push('%');
                    out.push(char::from(b[i + 1].to_ascii_uppercase()));
                    out.push(char::from(b[i + 2].to_ascii_uppercase()));
                }
                i += 3;
            }
            // A lone `%` is not a valid escape: encode it so no later decoder reads one.
            b'%' => {
                out.push_str("%25");
                i += 1;
            }
            b'\\' => {
                out.push_str("%5C");
                i += 1;
            }
            _ => {
                // Copy the run up to the next byte that needs care (keeps UTF-8 intact).
                let start = i;
                while i < b.len() && !matches!(b[i], b'%' | b'\\') {
                    i += 1;
                }
                out.push_str(&path[start..i]);
            }
        }
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(p: &str) -> Result<String, PathError> {
        canonicalize(p).map(Cow::into_owned)
    }

    #[test]
    fn clean_paths_are_borrowed() {
        for p in ["/", "/hello-app/api/x", "/a/b.c/", "/.well-known/buntime", "/a/.hidden", "/a..b/c"] {
            assert!(matches!(canonicalize(p), Ok(Cow::Borrowed(_))), "{p}");
        }
    }

    #[test]
    fn dot_segments_resolve_in_every_spelling() {
        let cases = [
            ("/hello-app/../secret", "/secret"),
            ("/hello-app/%2e%2e/secret", "/secret"),
            ("/hello-app/.%2e/secret", "/secret"),
            ("/hello-app/%2E./secret", "/secret"),
            ("/a/./b/.", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("/a/%2e", "/a/"),
            ("/..a/b", "/..a/b"),
        ];
        for (raw, want) in cases {
            assert_eq!(c(raw).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_reserved_ones_kept() {
        assert_eq!(c("/%68ello-app/secret").unwrap(), "/hello-app/secret");
        assert_eq!(c("/a%2fb/%2F").unwrap(), "/a%2Fb/%2F");
        assert_eq!(c("/x%20y%7e").unwrap(), "/x%20y~");
        assert_eq!(c("/a\\..\\b").unwrap(), "/a%5C..%5Cb");
        assert_eq!(c("/100%").unwrap(), "/100%25");
        assert_eq!(c("/%zz").unwrap(), "/%25zz");
        assert_eq!(c("/caf%C3%A9").unwrap(), "/caf%C3%A9");
    }

    #[test]
    fn climbing_above_the_root_is_an_error() {
        for p in ["/..", "/../etc/passwd", "/a/../../b", "/%2e%2e/x", "/a/%2E%2E/%2e%2e"] {
            assert_eq!(c(p), Err(PathError::AboveRoot), "{p}");
        }
    }
}
