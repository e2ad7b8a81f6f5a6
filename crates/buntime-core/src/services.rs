//! The per-generation service registry behind `provides()` and `get_plugin()`.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use serde_json::Value;

use crate::error::PluginError;

/// A service reachable by name from other processes (JS plugins call it through an async proxy).
#[async_trait]
pub trait JsonService: Send + Sync + 'static {
    /// Calls `method` with JSON `args` and returns a JSON result.
    ///
    /// A method of a bound object (see [`ServiceShape::bind`]) arrives as `"<binder>.<method>"`
    /// with the binder's arguments, as an array, first: `getAdapter("sqlite").execute(sql)` is
    /// `call("getAdapter.execute", [["sqlite"], sql])`.
    async fn call(&self, method: &str, args: Vec<Value>) -> Result<Value, PluginError>;

    /// Returns what a JS caller may use synchronously, without a round trip per call.
    fn shape(&self) -> ServiceShape {
        ServiceShape::default()
    }
}

/// The synchronous part of a [`JsonService`], as the JS proxy presents it.
///
/// The original's services hand out objects synchronously (`db.getAdapter("sqlite").execute(…)`)
/// and answer some getters synchronously (`db.getDefaultType()`); a cross-process proxy can keep
/// both only when it knows them in advance.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ServiceShape {
    /// Methods that return an object at once, whose own methods call `"<binder>.<method>"`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bind: Vec<String>,
    /// Methods that return a fixed value at once (the service's shape is sent once per load).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub values: serde_json::Map<String, Value>,
}

impl ServiceShape {
    /// Returns whether the proxy needs nothing beyond async calls.
    pub fn is_empty(&self) -> bool {
        self.bind.is_empty() && self.values.is_empty()
    }
}

#[derive(Clone)]
struct Entry {
    typed: Option<Arc<dyn Any + Send + Sync>>,
    json: Option<Arc<dyn JsonService>>,
}

/// The services provided by the plugins of one generation.
///
/// Filled while the generation loads (so a plugin's `on_init` sees its dependencies' services) and
/// read-only once it serves.
#[derive(Clone, Default)]
pub struct Services {
    inner: Arc<RwLock<HashMap<String, Entry>>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.read().keys().cloned().collect();
        f.debug_struct("Services").field("provided_by", &names).finish()
    }
}

impl Services {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        // A poisoned lock only means a writer panicked mid-insert; the map itself is still usable.
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers what `plugin` provides. A second registration under one name replaces the first.
    pub fn insert(&self, plugin: &str, typed: Option<Arc<dyn Any + Send + Sync>>, json: Option<Arc<dyn JsonService>>) {
        if typed.is_none() && json.is_none() {
            return;
        }
        let mut map = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.insert(plugin.to_owned(), Entry { typed, json });
    }

    /// Returns the typed service `plugin` provides, if it provides a `T`.
    pub fn get<T: Any + Send + Sync>(&self, plugin: &str) -> Option<Arc<T>> {
        let typed = self.read().get(plugin)?.typed.clone()?;
        typed.downcast::<T>().ok()
    }

    /// Returns the JSON-callable service `plugin` provides, if any.
    pub fn get_json(&self, plugin: &str) -> Option<Arc<dyn JsonService>> {
        self.read().get(plugin)?.json.clone()
    }

    /// Returns the names of plugins that provide something.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.read().keys().cloned().collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Cache(&'static str);

    #[test]
    fn typed_lookup_downcasts_and_rejects_wrong_types() {
        let s = Services::default();
        s.insert("cache", Some(Arc::new(Cache("hi"))), None);
        assert_eq!(s.get::<Cache>("cache").unwrap().0, "hi");
        assert!(s.get::<String>("cache").is_none());
        assert!(s.get::<Cache>("missing").is_none());
    }
}
