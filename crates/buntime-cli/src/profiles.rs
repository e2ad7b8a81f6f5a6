//! Remote profiles: `remotes.json` (URL, API base, TLS choice, current remote) and one token file
//! per remote (mode 0600) in the user's config dir.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::failure::{Failure, Kind, Outcome};

/// Overrides the config dir (tests, several setups side by side).
pub(crate) const CONFIG_DIR_ENV: &str = "BUNTIME_CONFIG_DIR";

/// One remote runtime.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Profile {
    /// Where the runtime is served, without a trailing slash (`https://rt.example.com`).
    pub(crate) url: String,
    /// The API base found through `/.well-known/buntime` (`/api`, `/_/api`).
    pub(crate) api: String,
    /// Accept any TLS certificate (self-signed test setups).
    #[serde(default)]
    pub(crate) insecure: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<String>,
    #[serde(default)]
    remotes: BTreeMap<String, Profile>,
}

/// The profiles on disk.
#[derive(Debug)]
pub(crate) struct Profiles {
    dir: PathBuf,
    stored: Stored,
}

/// `$BUNTIME_CONFIG_DIR`, else `$XDG_CONFIG_HOME/buntime`, else `~/.config/buntime`.
pub(crate) fn config_dir() -> Outcome<PathBuf> {
    let non_empty = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = non_empty(CONFIG_DIR_ENV) {
        return Ok(dir);
    }
    if let Some(xdg) = non_empty("XDG_CONFIG_HOME").filter(|p| p.is_absolute()) {
        return Ok(xdg.join("buntime"));
    }
    non_empty("HOME")
        .map(|h| h.join(".config").join("buntime"))
        .ok_or_else(|| {
            Failure::usage(format!(
                "cannot find a config dir: set {CONFIG_DIR_ENV}, XDG_CONFIG_HOME or HOME"
            ))
        })
}

/// Remote names become file names: keep them plain.
pub(crate) fn check_name(name: &str) -> Outcome {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "`{name}` is not a valid remote name: use up to 64 letters, digits, `-`, `_`, `.`"
        )))
    }
}

impl Profiles {
    /// Loads the profiles from `dir` (none yet is fine).
    pub(crate) fn load(dir: PathBuf) -> Outcome<Self> {
        let file = dir.join("remotes.json");
        let stored = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Failure::usage(format!(
                    "`{}` is not valid: {e}; fix or delete it",
                    file.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Stored::default(),
            Err(e) => {
                return Err(Failure::usage(format!(
                    "cannot read `{}`: {e}",
                    file.display()
                )));
            }
        };
        Ok(Self { dir, stored })
    }

    pub(crate) fn open() -> Outcome<Self> {
        Self::load(config_dir()?)
    }

    pub(crate) fn current(&self) -> Option<&str> {
        self.stored.current.as_deref()
    }

    pub(crate) fn list(&self) -> impl Iterator<Item = (&String, &Profile)> {
        self.stored.remotes.iter()
    }

    pub(crate) fn get(&self, name: &str) -> Outcome<&Profile> {
        self.stored.remotes.get(name).ok_or_else(|| not_found(name))
    }

    /// The remote to talk to: `explicit` (flag or `BUNTIME_REMOTE`), else the current one.
    pub(crate) fn pick(&self, explicit: Option<&str>) -> Outcome<(String, Profile, String)> {
        let name = match explicit.or(self.current()) {
            Some(n) => n.to_owned(),
            None => {
                return Err(Failure::usage(
                    "no remote selected: add one with `buntime remote add NAME --url URL --token T` (or pass --remote NAME)",
                ));
            }
        };
        let profile = self.get(&name)?.clone();
        let token = self.token(&name)?;
        Ok((name, profile, token))
    }

    fn token_path(&self, name: &str) -> PathBuf {
        self.dir.join("tokens").join(name)
    }

    pub(crate) fn token(&self, name: &str) -> Outcome<String> {
        let path = self.token_path(name);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Failure::usage(format!(
                "cannot read the token of remote `{name}` (`{}`): {e}; add the remote again",
                path.display()
            ))
        })?;
        Ok(text.trim().to_owned())
    }

    /// Adds or replaces `name`; the first remote becomes the current one. Returns whether it replaced one.
    pub(crate) fn add(&mut self, name: &str, profile: Profile, token: &str) -> Outcome<bool> {
        check_name(name)?;
        self.write_token(name, token)?;
        let replaced = self
            .stored
            .remotes
            .insert(name.to_owned(), profile)
            .is_some();
        if self.stored.current.is_none() {
            self.stored.current = Some(name.to_owned());
        }
        self.save()?;
        Ok(replaced)
    }

    pub(crate) fn use_remote(&mut self, name: &str) -> Outcome {
        self.get(name)?;
        self.stored.current = Some(name.to_owned());
        self.save()
    }

    pub(crate) fn remove(&mut self, name: &str) -> Outcome {
        if self.stored.remotes.remove(name).is_none() {
            return Err(not_found(name));
        }
        if self.stored.current.as_deref() == Some(name) {
            self.stored.current = None;
        }
        match std::fs::remove_file(self.token_path(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Failure::failed(format!(
                    "cannot delete the token of `{name}`: {e}"
                )));
            }
        }
        self.save()
    }

    fn ensure_dir(path: &Path) -> Outcome {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|e| Failure::failed(format!("cannot create `{}`: {e}", path.display())))
    }

    /// Writes the token through a temp file created 0600, so it is never readable by others,
    /// not even for a moment, and a crash leaves the old token intact.
    fn write_token(&self, name: &str, token: &str) -> Outcome {
        let tokens = self.dir.join("tokens");
        Self::ensure_dir(&tokens)?;
        let fail = |e: std::io::Error| {
            Failure::failed(format!(
                "cannot write the token under `{}`: {e}",
                tokens.display()
            ))
        };
        let tmp = tokens.join(format!(".{name}.tmp"));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(fail)?;
        // An existing temp file keeps its old mode: set it explicitly.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
        f.write_all(token.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(fail)?;
        std::fs::rename(&tmp, self.token_path(name)).map_err(fail)
    }

    fn save(&self) -> Outcome {
        Self::ensure_dir(&self.dir)?;
        let file = self.dir.join("remotes.json");
        let tmp = self.dir.join(".remotes.json.tmp");
        let fail =
            |e: std::io::Error| Failure::failed(format!("cannot write `{}`: {e}", file.display()));
        let mut text = serde_json::to_string_pretty(&self.stored)
            .map_err(|e| Failure::failed(e.to_string()))?;
        text.push('\n');
        std::fs::write(&tmp, text).map_err(fail)?;
        std::fs::rename(&tmp, &file).map_err(fail)
    }
}

fn not_found(name: &str) -> Failure {
    Failure::new(
        Kind::NotFound,
        format!("no remote named `{name}` (see `buntime remote list`)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(url: &str) -> Profile {
        Profile {
            url: url.to_owned(),
            api: "/api".to_owned(),
            insecure: false,
        }
    }

    #[test]
    fn the_first_remote_becomes_current_and_tokens_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Profiles::load(dir.path().to_owned()).unwrap();
        assert!(!p.add("prod", profile("https://a"), "btk_secret").unwrap());
        assert!(!p.add("staging", profile("https://b"), "btk_other").unwrap());
        let again = Profiles::load(dir.path().to_owned()).unwrap();
        assert_eq!(again.current(), Some("prod"));
        assert_eq!(again.token("staging").unwrap(), "btk_other");
        let mode = std::fs::metadata(dir.path().join("tokens/prod"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let json = std::fs::read_to_string(dir.path().join("remotes.json")).unwrap();
        assert!(
            !json.contains("btk_"),
            "tokens stay out of remotes.json: {json}"
        );
    }

    #[test]
    fn removing_the_current_remote_clears_it_and_its_token() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Profiles::load(dir.path().to_owned()).unwrap();
        p.add("prod", profile("https://a"), "t").unwrap();
        p.remove("prod").unwrap();
        assert_eq!(p.current(), None);
        assert!(!dir.path().join("tokens/prod").exists());
        assert_eq!(p.remove("prod").unwrap_err().kind, Kind::NotFound);
        assert_eq!(p.use_remote("nope").unwrap_err().kind, Kind::NotFound);
    }

    #[test]
    fn names_that_could_leave_the_dir_are_refused() {
        for bad in ["", "../x", "a/b", ".hidden", "sp ace"] {
            assert_eq!(check_name(bad).unwrap_err().kind, Kind::Usage, "{bad}");
        }
        check_name("prod-eu_1.b").unwrap();
    }

    #[test]
    fn a_damaged_profile_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("remotes.json"), "{nope").unwrap();
        let e = Profiles::load(dir.path().to_owned()).unwrap_err();
        assert!(e.message.contains("remotes.json"), "{e}");
    }
}
