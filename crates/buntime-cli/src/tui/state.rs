//! The TUI's state and what each key does, independent of the terminal (tested with a fake source).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::{Value, json};

use crate::client::Client;
use crate::commands::apps::{app_path, percent_encode};
use crate::failure::Outcome;

/// What the TUI reads from and changes on a runtime.
pub(crate) trait Source {
    fn get(&self, path: &str) -> Outcome<Value>;
    fn ready(&self) -> Outcome<Value>;
    fn delete(&self, path: &str) -> Outcome<Value>;
    /// POST without a body.
    fn post(&self, path: &str) -> Outcome<Value>;
    fn create_key(&self, body: &Value) -> Outcome<Value>;
    /// The reload report, also when it is a 422.
    fn reload(&self) -> Outcome<Value>;
}

impl Source for Client {
    fn get(&self, path: &str) -> Outcome<Value> {
        Client::get(self, path)
    }
    fn ready(&self) -> Outcome<Value> {
        self.get_report("/health/ready").map(|(_, v)| v)
    }
    fn delete(&self, path: &str) -> Outcome<Value> {
        Client::delete(self, path)
    }
    fn post(&self, path: &str) -> Outcome<Value> {
        Client::post(self, path, &Value::Null)
    }
    fn create_key(&self, body: &Value) -> Outcome<Value> {
        Client::post(self, "/keys", body)
    }
    fn reload(&self) -> Outcome<Value> {
        self.post_report("/plugins/reload").map(|(_, v)| v)
    }
}

/// The screens, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tab {
    Apps,
    Plugins,
    Keys,
    Settings,
}

impl Tab {
    pub(crate) const ALL: [Tab; 4] = [Tab::Apps, Tab::Plugins, Tab::Keys, Tab::Settings];

    pub(crate) fn title(self) -> &'static str {
        match self {
            Tab::Apps => "Apps",
            Tab::Plugins => "Plugins",
            Tab::Keys => "API Keys",
            Tab::Settings => "Settings",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// A change waiting for `y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    RemoveApp(String),
    RevokeKey(u64),
    Reload,
    /// Plugin actions name a plugin directory (`GET /plugins`), then reload.
    EnablePlugin(String),
    DisablePlugin(String),
    RemovePlugin(String),
}

/// What the keyboard is doing right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    Normal,
    Confirm(Action),
    /// Typing the new key's `name[:role]`.
    NewKey(String),
    /// A just-created secret, shown until a key is pressed.
    Secret(String),
}

/// A screen's rows, or why they could not be read (e.g. the key lacks `keys:read`).
pub(crate) type Rows = Result<Vec<Value>, String>;

/// Everything the view draws.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) remote: String,
    pub(crate) url: String,
    pub(crate) tab: Tab,
    pub(crate) mode: Mode,
    pub(crate) apps: Rows,
    /// Loaded plugins, in load order.
    pub(crate) plugins: Rows,
    /// Installed plugin directories: what the plugin actions select.
    pub(crate) dirs: Rows,
    pub(crate) keys: Rows,
    pub(crate) ready: Value,
    selected: [usize; 4],
    /// The last outcome, `(is_error, text)`.
    pub(crate) message: Option<(bool, String)>,
    pub(crate) quit: bool,
}

fn rows(v: Outcome<Value>, field: Option<&str>) -> Rows {
    let v = v.map_err(|f| f.message)?;
    let list = field.map_or(&v, |f| &v[f]);
    Ok(list.as_array().cloned().unwrap_or_default())
}

impl App {
    pub(crate) fn new(remote: &str, url: &str) -> Self {
        Self {
            remote: remote.to_owned(),
            url: url.to_owned(),
            tab: Tab::Apps,
            mode: Mode::Normal,
            apps: Ok(Vec::new()),
            plugins: Ok(Vec::new()),
            dirs: Ok(Vec::new()),
            keys: Ok(Vec::new()),
            ready: Value::Null,
            selected: [0; 4],
            message: None,
            quit: false,
        }
    }

    /// Reads every screen's data again.
    pub(crate) fn refresh(&mut self, src: &dyn Source) {
        self.ready = src
            .ready()
            .unwrap_or_else(|f| json!({ "status": "unreachable", "detail": f.message }));
        self.apps = rows(src.get("/apps"), None);
        self.plugins = rows(src.get("/plugins/loaded"), None);
        self.dirs = rows(src.get("/plugins"), None);
        self.keys = rows(src.get("/keys"), Some("keys"));
        for tab in Tab::ALL {
            let len = self.rows(tab).map_or(0, <[Value]>::len);
            let sel = &mut self.selected[tab.index()];
            *sel = (*sel).min(len.saturating_sub(1));
        }
    }

    pub(crate) fn rows(&self, tab: Tab) -> Result<&[Value], &str> {
        let r = match tab {
            Tab::Apps => &self.apps,
            Tab::Plugins => &self.dirs,
            Tab::Keys => &self.keys,
            Tab::Settings => return Ok(&[]),
        };
        r.as_deref().map_err(String::as_str)
    }

    pub(crate) fn selected(&self, tab: Tab) -> usize {
        self.selected[tab.index()]
    }

    fn current(&self) -> Option<&Value> {
        self.rows(self.tab).ok()?.get(self.selected(self.tab))
    }

    fn step(&mut self, down: bool) {
        let len = self.rows(self.tab).map_or(0, <[Value]>::len);
        let sel = &mut self.selected[self.tab.index()];
        *sel = if down {
            (*sel + 1).min(len.saturating_sub(1))
        } else {
            sel.saturating_sub(1)
        };
    }

    fn switch(&mut self, forward: bool) {
        let n = Tab::ALL.len();
        let i = self.tab.index();
        self.tab = Tab::ALL[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }];
    }

    /// Handles one key press.
    pub(crate) fn on_key(&mut self, key: KeyEvent, src: &dyn Source) {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Normal => self.normal_key(key.code, src),
            Mode::Secret(_) => {}
            Mode::Confirm(action) => {
                if matches!(key.code, KeyCode::Char('y' | 'Y')) {
                    self.apply(&action, src);
                } else {
                    self.message = Some((false, "Cancelled.".to_owned()));
                }
            }
            Mode::NewKey(mut text) => match key.code {
                KeyCode::Enter => self.create_key(&text, src),
                KeyCode::Esc => self.message = Some((false, "Cancelled.".to_owned())),
                KeyCode::Backspace => {
                    text.pop();
                    self.mode = Mode::NewKey(text);
                }
                KeyCode::Char(c) if !c.is_control() && text.chars().count() < 100 => {
                    text.push(c);
                    self.mode = Mode::NewKey(text);
                }
                _ => self.mode = Mode::NewKey(text),
            },
        }
    }

    fn normal_key(&mut self, code: KeyCode, src: &dyn Source) {
        match code {
            KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
            KeyCode::Char('1') => self.tab = Tab::Apps,
            KeyCode::Char('2') => self.tab = Tab::Plugins,
            KeyCode::Char('3') => self.tab = Tab::Keys,
            KeyCode::Char('4') => self.tab = Tab::Settings,
            KeyCode::Tab | KeyCode::Right => self.switch(true),
            KeyCode::BackTab | KeyCode::Left => self.switch(false),
            KeyCode::Down | KeyCode::Char('j') => self.step(true),
            KeyCode::Up | KeyCode::Char('k') => self.step(false),
            KeyCode::Char('r') => {
                self.refresh(src);
                self.message = Some((false, "Refreshed.".to_owned()));
            }
            KeyCode::Char('R') if self.tab == Tab::Plugins => {
                self.mode = Mode::Confirm(Action::Reload)
            }
            KeyCode::Char('n') if self.tab == Tab::Keys => self.mode = Mode::NewKey(String::new()),
            KeyCode::Char(c @ ('e' | 'x')) if self.tab == Tab::Plugins => {
                if let Some(name) = self
                    .current()
                    .and_then(|d| d["name"].as_str())
                    .map(str::to_owned)
                {
                    self.mode = Mode::Confirm(if c == 'e' {
                        Action::EnablePlugin(name)
                    } else {
                        Action::DisablePlugin(name)
                    });
                }
            }
            KeyCode::Char('d') | KeyCode::Delete => {
                let action = match (self.tab, self.current()) {
                    (Tab::Apps, Some(a)) => {
                        a["name"].as_str().map(|n| Action::RemoveApp(n.to_owned()))
                    }
                    (Tab::Keys, Some(k)) => k["id"].as_u64().map(Action::RevokeKey),
                    (Tab::Plugins, Some(d)) => d["name"]
                        .as_str()
                        .map(|n| Action::RemovePlugin(n.to_owned())),
                    _ => None,
                };
                if let Some(a) = action {
                    self.mode = Mode::Confirm(a);
                }
            }
            _ => {}
        }
    }

    /// The question shown while `action` waits for `y`.
    pub(crate) fn question(action: &Action) -> String {
        match action {
            Action::RemoveApp(name) => format!("Remove app {name} (every version)? y/n"),
            Action::RevokeKey(id) => format!("Revoke API key {id}? y/n"),
            Action::Reload => "Reload all plugins now? y/n".to_owned(),
            Action::EnablePlugin(name) => format!("Enable plugin {name} and reload? y/n"),
            Action::DisablePlugin(name) => format!("Disable plugin {name} and reload? y/n"),
            Action::RemovePlugin(name) => format!("Delete plugin directory {name} and reload? y/n"),
        }
    }

    fn apply(&mut self, action: &Action, src: &dyn Source) {
        let result = match action {
            Action::RemoveApp(name) => app_path(name, None)
                .and_then(|p| src.delete(&p))
                .map(|_| format!("Removed app {name}.")),
            Action::RevokeKey(id) => src
                .delete(&format!("/keys/{id}"))
                .map(|_| format!("Revoked API key {id}.")),
            Action::Reload => src.reload().map(|r| reload_message(&r)),
            Action::EnablePlugin(name) => plugin_change(src, name, "enable", "Enabled"),
            Action::DisablePlugin(name) => plugin_change(src, name, "disable", "Disabled"),
            Action::RemovePlugin(name) => plugin_change(src, name, "", "Removed"),
        };
        self.message = Some(match result {
            Ok(text) => (text.contains("Reload failed"), text),
            Err(f) => (true, f.message),
        });
        self.refresh(src);
    }

    fn create_key(&mut self, text: &str, src: &dyn Source) {
        let (name, role) = match text.rsplit_once(':') {
            Some((n, r)) => (n.trim(), r.trim()),
            None => (text.trim(), "editor"),
        };
        match src.create_key(&json!({ "name": name, "role": role })) {
            Ok(res) => {
                self.mode =
                    Mode::Secret(res["data"]["key"].as_str().unwrap_or_default().to_owned());
                self.message = Some((
                    false,
                    format!("Created API key {} `{name}` ({role}).", res["data"]["id"]),
                ));
                self.refresh(src);
            }
            Err(f) => self.message = Some((true, f.message)),
        }
    }
}

/// `Reloaded: generation N.`, or why the reload failed (the old generation keeps serving).
fn reload_message(r: &Value) -> String {
    if r["ok"] == true {
        return format!("Reloaded: generation {}.", r["generation"]);
    }
    let first = r["errors"][0]["message"]
        .as_str()
        .unwrap_or("see `buntime plugins reload`");
    format!(
        "Reload failed; generation {} keeps serving: {first}",
        r["generation"]
    )
}

/// Enables, disables (`verb`) or deletes (empty `verb`) plugin directory `name`, then reloads.
fn plugin_change(src: &dyn Source, name: &str, verb: &str, done: &str) -> Outcome<String> {
    let path = format!("/plugins/{}", percent_encode(name));
    if verb.is_empty() {
        src.delete(&path)?;
    } else {
        src.post(&format!("{path}/{verb}"))?;
    }
    Ok(format!(
        "{done} plugin {name}; {}",
        reload_message(&src.reload()?)
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::failure::{Failure, Kind};

    /// Answers from fixed data and records every change asked for.
    #[derive(Debug, Default)]
    pub(crate) struct Fake {
        pub(crate) calls: RefCell<Vec<String>>,
        pub(crate) deny_keys: bool,
    }

    impl Source for Fake {
        fn get(&self, path: &str) -> Outcome<Value> {
            Ok(match path {
                "/apps" => {
                    json!([{"name":"site","path":"/data/apps/site","versions":["2.0.0","1.0.0"]},{"name":"@acme/web","path":"/data/apps/@acme/web","versions":["0.1.0"]}])
                }
                "/plugins/loaded" => {
                    json!([{"name":"@buntime/plugin-hello","version":"1.0.0","kind":"native","base":"/hello","dependencies":[]}])
                }
                "/plugins" => {
                    json!([{"name":"plugin-hello","path":"/data/plugins/plugin-hello"},{"name":"@acme/plugin-x","path":"/data/plugins/@acme/plugin-x"}])
                }
                "/keys" if self.deny_keys => {
                    return Err(Failure::new(
                        Kind::Auth,
                        "the token is not allowed to do this (403 PERMISSION_DENIED: Missing permission: keys:read)",
                    ));
                }
                "/keys" => {
                    json!({"keys":[{"id":7,"name":"ci","role":"viewer","keyPrefix":"btk_abcd1234","createdAt":0}]})
                }
                _ => Value::Null,
            })
        }
        fn ready(&self) -> Outcome<Value> {
            Ok(json!({"ok":true,"status":"ready","version":"0.1.0","generation":3,"plugins":1}))
        }
        fn delete(&self, path: &str) -> Outcome<Value> {
            self.calls.borrow_mut().push(format!("DELETE {path}"));
            Ok(json!({"success":true}))
        }
        fn post(&self, path: &str) -> Outcome<Value> {
            self.calls.borrow_mut().push(format!("POST {path}"));
            Ok(json!({"success":true}))
        }
        fn create_key(&self, body: &Value) -> Outcome<Value> {
            self.calls.borrow_mut().push(format!("POST /keys {body}"));
            Ok(
                json!({"success":true,"data":{"id":8,"key":"btk_newsecret","keyPrefix":"btk_news","name":body["name"],"role":body["role"]}}),
            )
        }
        fn reload(&self) -> Outcome<Value> {
            self.calls
                .borrow_mut()
                .push("POST /plugins/reload".to_owned());
            Ok(json!({"ok":true,"generation":4}))
        }
    }

    pub(crate) fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    pub(crate) fn loaded(src: &Fake) -> App {
        let mut app = App::new("prod", "http://rt");
        app.refresh(src);
        app
    }

    #[test]
    fn removing_an_app_asks_first_and_encodes_the_scope() {
        let src = Fake::default();
        let mut app = loaded(&src);
        app.on_key(key(KeyCode::Down), &src);
        app.on_key(key(KeyCode::Char('d')), &src);
        assert_eq!(
            app.mode,
            Mode::Confirm(Action::RemoveApp("@acme/web".into()))
        );
        app.on_key(key(KeyCode::Char('n')), &src);
        assert!(src.calls.borrow().is_empty(), "n cancels");
        app.on_key(key(KeyCode::Char('d')), &src);
        app.on_key(key(KeyCode::Char('y')), &src);
        assert_eq!(*src.calls.borrow(), ["DELETE /apps/@acme/web"]);
        assert_eq!(app.message, Some((false, "Removed app @acme/web.".into())));
    }

    #[test]
    fn a_new_key_takes_name_and_role_and_shows_the_secret_once() {
        let src = Fake::default();
        let mut app = loaded(&src);
        app.on_key(key(KeyCode::Char('3')), &src);
        app.on_key(key(KeyCode::Char('n')), &src);
        for c in "ci:viewer".chars() {
            app.on_key(key(KeyCode::Char(c)), &src);
        }
        app.on_key(key(KeyCode::Enter), &src);
        assert_eq!(
            *src.calls.borrow(),
            [r#"POST /keys {"name":"ci","role":"viewer"}"#]
        );
        assert_eq!(app.mode, Mode::Secret("btk_newsecret".into()));
        app.on_key(key(KeyCode::Char('x')), &src);
        assert_eq!(app.mode, Mode::Normal, "any key hides the secret");
    }

    #[test]
    fn revoke_and_reload_go_through_confirmation() {
        let src = Fake::default();
        let mut app = loaded(&src);
        app.on_key(key(KeyCode::Tab), &src);
        app.on_key(key(KeyCode::Char('R')), &src);
        app.on_key(key(KeyCode::Char('y')), &src);
        app.on_key(key(KeyCode::Tab), &src);
        app.on_key(key(KeyCode::Char('d')), &src);
        app.on_key(key(KeyCode::Char('y')), &src);
        assert_eq!(
            *src.calls.borrow(),
            ["POST /plugins/reload", "DELETE /keys/7"]
        );
        app.on_key(key(KeyCode::Char('q')), &src);
        assert!(app.quit);
    }

    #[test]
    fn plugin_directories_are_enabled_disabled_and_removed_then_reloaded() {
        let src = Fake::default();
        let mut app = loaded(&src);
        app.on_key(key(KeyCode::Char('2')), &src);
        app.on_key(key(KeyCode::Char('j')), &src);
        app.on_key(key(KeyCode::Char('x')), &src);
        assert_eq!(
            app.mode,
            Mode::Confirm(Action::DisablePlugin("@acme/plugin-x".into()))
        );
        app.on_key(key(KeyCode::Char('y')), &src);
        assert_eq!(
            app.message,
            Some((
                false,
                "Disabled plugin @acme/plugin-x; Reloaded: generation 4.".into()
            ))
        );
        app.on_key(key(KeyCode::Char('k')), &src);
        app.on_key(key(KeyCode::Char('e')), &src);
        app.on_key(key(KeyCode::Char('y')), &src);
        app.on_key(key(KeyCode::Char('d')), &src);
        app.on_key(key(KeyCode::Char('y')), &src);
        assert_eq!(
            *src.calls.borrow(),
            [
                "POST /plugins/%40acme%2Fplugin-x/disable",
                "POST /plugins/reload",
                "POST /plugins/plugin-hello/enable",
                "POST /plugins/reload",
                "DELETE /plugins/plugin-hello",
                "POST /plugins/reload",
            ]
        );
    }

    #[test]
    fn selection_stays_inside_the_list() {
        let src = Fake::default();
        let mut app = loaded(&src);
        for _ in 0..5 {
            app.on_key(key(KeyCode::Char('j')), &src);
        }
        assert_eq!(app.selected(Tab::Apps), 1);
        app.on_key(key(KeyCode::BackTab), &src);
        assert_eq!(app.tab, Tab::Settings, "shift-tab wraps around");
    }
}
