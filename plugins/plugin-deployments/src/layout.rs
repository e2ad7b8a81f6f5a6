//! Where versions are in an app root: `[@scope/]app/<version>/…` (nested) or
//! `[@scope/]app@<version>/…` (flat), a version being a semver or `latest`.

use crate::paths::Target;
use crate::roots::RootKind;

/// Whether `label` names a version folder: `latest` or a semver (an optional `v` prefix allowed).
pub fn is_version(label: &str) -> bool {
    label == "latest" || buntime_apps::range::parse_label(label).is_some()
}

/// How many leading segments of `segments` make the version folder they are in, if any:
/// `todo/1.0.0/x` → 2, `todo@1.0.0/x` → 1, `@acme/todo/latest` → 3, `todo/src` → none.
pub fn version_depth(segments: &[String]) -> Option<usize> {
    let first = usize::from(segments.first().is_some_and(|s| s.starts_with('@')));
    let name = segments.get(first)?;
    if let Some((app, label)) = name.split_once('@')
        && !app.is_empty()
        && is_version(label)
    {
        return Some(first + 1);
    }
    segments.get(first + 1).filter(|l| is_version(l)).map(|_| first + 2)
}

/// The version folder `t` is or is in (apps roots only).
pub fn version_folder<'a>(t: &Target<'a>) -> Option<Target<'a>> {
    if t.root.kind != RootKind::Apps {
        return None;
    }
    let depth = version_depth(&t.segments)?;
    Some(Target { root: t.root, segments: t.segments[..depth].to_vec() })
}

/// Whether `t` is strictly inside a version folder (a file or folder of a deployed version).
pub fn inside_version(t: &Target<'_>) -> bool {
    version_folder(t).is_some_and(|v| v.segments.len() < t.segments.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        p.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect()
    }

    #[test]
    fn nested_flat_scoped_latest_and_prerelease_versions_are_found() {
        for (path, depth) in [
            ("todo/1.0.0", Some(2)),
            ("todo/1.0.0/src/index.ts", Some(2)),
            ("todo@1.0.0", Some(1)),
            ("todo@2.0.0-beta.1/x", Some(1)),
            ("todo/latest/x", Some(2)),
            ("todo/v1.2.3", Some(2)),
            ("@acme/todo/1.0.0/x", Some(3)),
            ("@acme/todo@latest", Some(2)),
            ("todo", None),
            ("todo/src/1.0.0", None),
            ("todo/1.0", None),
            ("@1.0.0", None),
            ("", None),
        ] {
            assert_eq!(version_depth(&segs(path)), depth, "{path}");
        }
    }
}
