//! npm-style version ranges with pre-releases included (`includePrerelease`), over `semver` types.

use std::sync::LazyLock;

use regex::Regex;
use semver::{Comparator, Op, Prerelease, Version};

static OP_SPACE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(>=|<=|>|<|=|~|\^)\s+").expect("the operator pattern is a valid regex"));

/// Parses a directory's version label (`1.2.3`, `v1.2.3`, `1.0.0-beta.1`) as a semver.
pub fn parse_label(label: &str) -> Option<Version> {
    Version::parse(label.strip_prefix('v').unwrap_or(label)).ok()
}

/// One bound of an interval: the version and whether it is included.
type Bound = Option<(Version, bool)>;

/// A version interval from one comparator.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Interval {
    lo: Bound,
    hi: Bound,
}

impl Interval {
    fn contains(&self, v: &Version) -> bool {
        let lo_ok = self.lo.as_ref().is_none_or(|(b, inc)| if *inc { v >= b } else { v > b });
        let hi_ok = self.hi.as_ref().is_none_or(|(b, inc)| if *inc { v <= b } else { v < b });
        lo_ok && hi_ok
    }
}

/// A version range: alternatives (`||`) of comparator sets (space-separated, all must hold).
///
/// Bare versions are exact (`1.2.3` is `=1.2.3`, `1` is `1.x`), as in npm; unlike the `semver`
/// crate, pre-releases are matched like any other version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    alternatives: Vec<Vec<Interval>>,
}

impl Range {
    /// Parses an npm range (`1`, `1.4`, `^1.4`, `~1.4.0`, `>=1.2 <2`, `1.x`, `*`, `a || b`).
    ///
    /// # Errors
    /// Returns a description when the range cannot be parsed.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut alternatives = Vec::new();
        for alt in text.split("||") {
            let alt = OP_SPACE.replace_all(alt.trim(), "$1");
            let mut set = Vec::new();
            for token in alt.split_whitespace() {
                if let Some(i) = token_interval(token)? {
                    set.push(i);
                }
            }
            alternatives.push(set);
        }
        Ok(Self { alternatives })
    }

    /// Returns whether `v` satisfies the range.
    pub fn matches(&self, v: &Version) -> bool {
        self.alternatives.iter().any(|set| set.iter().all(|i| i.contains(v)))
    }
}

fn token_interval(token: &str) -> Result<Option<Interval>, String> {
    let bad = || format!("invalid version range `{token}`");
    let op_len = token.find(|c: char| c.is_ascii_alphanumeric() || c == '*').ok_or_else(bad)?;
    let (op, rest) = token.split_at(op_len);
    let rest = rest.strip_prefix('v').unwrap_or(rest);
    // Trim wildcard parts (`1.x` → `1`, `*` → any).
    let mut parts: Vec<&str> = rest.split('.').collect();
    if let Some(pos) = parts.iter().position(|p| matches!(*p, "x" | "X" | "*")) {
        parts.truncate(pos);
    }
    if parts.is_empty() {
        return match op {
            "" | "=" | ">=" | "^" | "~" => Ok(None),
            _ => Err(bad()),
        };
    }
    let op = if op.is_empty() { "=" } else { op };
    let c = Comparator::parse(&format!("{op}{}", parts.join("."))).map_err(|_| bad())?;
    comparator_interval(&c).map(Some).ok_or_else(bad)
}

fn v(major: u64, minor: u64, patch: u64, pre: &Prerelease) -> Version {
    Version { major, minor, patch, pre: pre.clone(), build: semver::BuildMetadata::EMPTY }
}

fn floor(major: u64, minor: u64, patch: u64) -> Version {
    // `-0` is the lowest pre-release, so `X.Y.Z-0` is below every `X.Y.Z-*` and `X.Y.Z`.
    v(major, minor, patch, &Prerelease::new("0").unwrap_or(Prerelease::EMPTY))
}

fn comparator_interval(c: &Comparator) -> Option<Interval> {
    let (ma, mi, pa) = (c.major, c.minor, c.patch);
    let inc = |b: Version| Some((b, true));
    let exc = |b: Version| Some((b, false));
    let i = |lo: Bound, hi: Bound| Some(Interval { lo, hi });
    // The half-open interval a partial version stands for: `1` → [1.0.0-0, 2.0.0-0).
    let partial = |minor: Option<u64>| match minor {
        Some(m) => (floor(ma, m, 0), floor(ma, m + 1, 0)),
        None => (floor(ma, 0, 0), floor(ma + 1, 0, 0)),
    };
    match c.op {
        Op::Exact | Op::Wildcard => match (mi, pa) {
            (Some(m), Some(p)) => {
                let x = v(ma, m, p, &c.pre);
                i(inc(x.clone()), inc(x))
            }
            _ => {
                let (lo, hi) = partial(mi);
                i(inc(lo), exc(hi))
            }
        },
        Op::Greater => match (mi, pa) {
            (Some(m), Some(p)) => i(exc(v(ma, m, p, &c.pre)), None),
            _ => i(inc(partial(mi).1), None),
        },
        Op::GreaterEq => match (mi, pa) {
            (Some(m), Some(p)) => i(inc(v(ma, m, p, &c.pre)), None),
            _ => i(inc(partial(mi).0), None),
        },
        Op::Less => match (mi, pa) {
            (Some(m), Some(p)) => i(None, exc(v(ma, m, p, &c.pre))),
            _ => i(None, exc(partial(mi).0)),
        },
        Op::LessEq => match (mi, pa) {
            (Some(m), Some(p)) => i(None, inc(v(ma, m, p, &c.pre))),
            _ => i(None, exc(partial(mi).1)),
        },
        Op::Tilde => match (mi, pa) {
            (Some(m), Some(p)) => i(inc(v(ma, m, p, &c.pre)), exc(floor(ma, m + 1, 0))),
            _ => {
                let (lo, hi) = partial(mi);
                i(inc(lo), exc(hi))
            }
        },
        Op::Caret => match (mi, pa) {
            (Some(m), Some(p)) => {
                let hi = if ma > 0 {
                    floor(ma + 1, 0, 0)
                } else if m > 0 {
                    floor(0, m + 1, 0)
                } else {
                    floor(0, 0, p + 1)
                };
                i(inc(v(ma, m, p, &c.pre)), exc(hi))
            }
            (Some(m), None) if ma == 0 => i(inc(floor(0, m, 0)), exc(floor(0, m + 1, 0))),
            _ => i(inc(partial(mi).0), exc(floor(ma + 1, 0, 0))),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_match_like_npm_with_prereleases_included() {
        let cases: &[(&str, &str, bool)] = &[
            ("1", "1.0.0", true),
            ("1", "1.9.9", true),
            ("1", "2.0.0", false),
            ("1", "1.5.0-beta.1", true),
            ("1.4", "1.4.7", true),
            ("1.4", "1.5.0", false),
            ("1.2.3", "1.2.3", true),
            ("1.2.3", "1.2.4", false),
            ("v1.2.3", "1.2.3", true),
            ("=1.2.3", "1.2.3", true),
            ("^1.4", "1.9.0", true),
            ("^1.4", "1.3.9", false),
            ("^1.4", "2.0.0-alpha", false),
            ("^1.4.2", "1.4.2-rc.1", false),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
            ("^0.0.3", "0.0.4", false),
            ("~1.4.0", "1.4.9", true),
            ("~1.4.0", "1.5.0", false),
            ("~1", "1.9.0", true),
            (">=1.2", "3.0.0", true),
            (">=1.2", "1.1.9", false),
            (">= 1.2.0 <2", "1.9.9", true),
            (">= 1.2.0 <2", "2.0.0", false),
            (">1.2.3", "1.2.4", true),
            (">1.2", "1.2.9", false),
            ("<=1.2", "1.2.9", true),
            ("<1.2", "1.2.0", false),
            ("1.x", "1.7.0", true),
            ("*", "0.0.1", true),
            ("1 || 3", "3.1.0", true),
            ("1 || 3", "2.1.0", false),
        ];
        for (range, version, expected) in cases {
            let r = Range::parse(range).unwrap();
            let v = Version::parse(version).unwrap();
            assert_eq!(r.matches(&v), *expected, "{range} vs {version}");
        }
    }

    #[test]
    fn garbage_ranges_are_errors() {
        for bad in ["abc", "1.2.3.4", ">", "^a", "~>1"] {
            assert!(Range::parse(bad).is_err(), "{bad}");
        }
    }
}
