//! The service other plugins get: typed for native plugins, JSON for JS plugins' `ctx.getPlugin`
//! (`addLog`, `getLogs`, `getStats`, `clearLogs`).

use std::sync::Arc;

use async_trait::async_trait;
use buntime_core::logsink::LogLevel;
use buntime_core::services::JsonService;
use buntime_core::{ErrorKind, PluginError};
use serde_json::{Value, json};

use crate::store::{DEFAULT_LIMIT, Entry, Filter, LogStore, NewEntry};

/// The logs service (`get_plugin::<LogsService>("@buntime/plugin-logs")`).
#[derive(Debug, Clone)]
pub struct LogsService {
    store: Arc<LogStore>,
}

impl LogsService {
    pub(crate) fn new(store: Arc<LogStore>) -> Self {
        Self { store }
    }

    /// Adds an entry (`addLog`); returns its id.
    pub fn add_log(&self, entry: NewEntry) -> u64 {
        self.store.add(entry)
    }

    /// Returns the entries `filter` selects, newest first (`getLogs`).
    pub fn get_logs(&self, filter: &Filter) -> Vec<Entry> {
        self.store.query(filter)
    }

    /// `{counts, newest, oldest, total}` (`getStats`).
    pub fn get_stats(&self) -> Value {
        self.store.stats()
    }

    /// Empties the buffer (`clearLogs`).
    pub fn clear_logs(&self) {
        self.store.clear();
    }
}

/// Reads a filter from `{level?, search?, source?, limit?}` (JSON) or query parameters.
///
/// # Errors
/// The field that is wrong, named.
pub fn filter_from(
    level: Option<&str>,
    search: Option<&str>,
    source: Option<&str>,
    limit: Option<&str>,
    max: usize,
) -> Result<Filter, String> {
    let level = match level.filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => Some(
            LogLevel::parse(l)
                .ok_or_else(|| format!("`level`: `{l}` is not one of debug, info, warn, error"))?,
        ),
    };
    let limit = match limit.filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => Some(
            l.parse::<usize>()
                .ok()
                .filter(|n| (1..=max.max(DEFAULT_LIMIT)).contains(n))
                .ok_or_else(|| {
                    format!(
                        "`limit`: `{l}` is not a whole number from 1 to {}",
                        max.max(DEFAULT_LIMIT)
                    )
                })?,
        ),
    };
    Ok(Filter {
        level,
        search: search.map(str::to_owned),
        source: source.filter(|s| !s.is_empty()).map(str::to_owned),
        limit,
    })
}

/// The JSON face of [`LogsService`].
#[derive(Debug)]
pub(crate) struct LogsJson {
    pub(crate) service: LogsService,
    pub(crate) max: usize,
}

fn bad(message: String) -> PluginError {
    PluginError::new(ErrorKind::BadRequest, message)
}

#[async_trait]
impl JsonService for LogsJson {
    async fn call(&self, method: &str, args: Vec<Value>) -> Result<Value, PluginError> {
        match method {
            "addLog" => {
                let entry = NewEntry::from_json(args.first().unwrap_or(&Value::Null))
                    .map_err(|e| bad(format!("addLog: {e}")))?;
                let id = self.service.add_log(entry);
                Ok(json!({"success": true, "id": id}))
            }
            "getLogs" => {
                let f = args.first().cloned().unwrap_or(Value::Null);
                if !(f.is_null() || f.is_object()) {
                    return Err(bad("getLogs: the argument must be an object {level?, search?, source?, limit?}".to_owned()));
                }
                let text = |k: &str| match f.get(k) {
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(Value::Number(n)) => Ok(Some(n.to_string())),
                    None | Some(Value::Null) => Ok(None),
                    Some(_) => Err(bad(format!("getLogs: `{k}` must be a string"))),
                };
                let (level, search, source, limit) = (
                    text("level")?,
                    text("search")?,
                    text("source")?,
                    text("limit")?,
                );
                let filter = filter_from(
                    level.as_deref(),
                    search.as_deref(),
                    source.as_deref(),
                    limit.as_deref(),
                    self.max,
                )
                .map_err(|e| bad(format!("getLogs: {e}")))?;
                Ok(serde_json::to_value(self.service.get_logs(&filter)).unwrap_or(Value::Null))
            }
            "getStats" => Ok(self.service.get_stats()),
            "clearLogs" => {
                self.service.clear_logs();
                Ok(json!({"success": true}))
            }
            other => Err(PluginError::new(
                ErrorKind::NotFound,
                format!(
                    "@buntime/plugin-logs has no method `{other}` (addLog, getLogs, getStats, clearLogs)"
                ),
            )),
        }
    }
}
