//! The database service as TypeScript plugins see it: `ctx.getPlugin("@buntime/plugin-database")`
//! gives the original's API (`getAdapter(type?, tenant?)`, `execute`, `batch`, tenants) over JSON.

use async_trait::async_trait;
use buntime_core::services::{JsonService, ServiceShape};
use buntime_core::{ErrorKind, PluginError};
use serde_json::{Map, Value as Json, json};

use crate::error::DbError;
use crate::service::{DatabaseService, Target};
use crate::value::{Statement, Value};

/// The methods of an adapter object (`getAdapter(…)` / `getRootAdapter(…)`).
const ADAPTER_METHODS: &str = "execute(sql, args?), executeOne(sql, args?), batch(statements), listTenants(), createTenant(id), deleteTenant(id)";

/// [`DatabaseService`] behind the JSON bridge.
#[derive(Debug, Clone)]
pub struct DatabaseJson(pub DatabaseService);

#[async_trait]
impl JsonService for DatabaseJson {
    async fn call(&self, method: &str, args: Vec<Json>) -> Result<Json, PluginError> {
        let db = &self.0;
        match method.split_once('.') {
            Some((binder @ ("getAdapter" | "getRootAdapter"), op)) => {
                let mut args = args.into_iter();
                let bound = args.next().unwrap_or(Json::Null);
                let bound = bound.as_array().map(Vec::as_slice).unwrap_or_default();
                let kind = opt_str(bound.first(), "type")?;
                let tenant = if binder == "getAdapter" { opt_str(bound.get(1), "tenantId")? } else { None };
                let target = Target { adapter: kind.as_deref(), tenant: tenant.as_deref() };
                adapter_call(db, target, op, &args.collect::<Vec<_>>()).await
            }
            Some(_) => Err(bad(format!("unknown method `{method}`; the database service binds getAdapter and getRootAdapter"))),
            None => {
                let arg = |i: usize, name: &str| opt_str(args.get(i), name);
                match method {
                    "getDefaultType" => Ok(json!(db.default_type())),
                    "getAvailableTypes" => Ok(json!(db.adapter_types())),
                    "listTenants" => Ok(json!(db.list_tenants(arg(0, "type")?.as_deref()).await.map_err(plugin_error)?)),
                    "createTenant" => {
                        let id = required_str(args.first(), "id")?;
                        db.create_tenant(arg(1, "type")?.as_deref(), &id).await.map_err(plugin_error)?;
                        Ok(Json::Null)
                    }
                    "deleteTenant" => {
                        let id = required_str(args.first(), "id")?;
                        db.delete_tenant(arg(1, "type")?.as_deref(), &id).await.map_err(plugin_error)?;
                        Ok(Json::Null)
                    }
                    other => Err(bad(format!(
                        "unknown method `{other}`; the database service has getAdapter(type?, tenantId?), getRootAdapter(type?), getDefaultType(), getAvailableTypes(), listTenants(type?), createTenant(id, type?), deleteTenant(id, type?)"
                    ))),
                }
            }
        }
    }

    fn shape(&self) -> ServiceShape {
        let mut values = Map::new();
        values.insert("getDefaultType".into(), json!(self.0.default_type()));
        values.insert("getAvailableTypes".into(), json!(self.0.adapter_types()));
        ServiceShape { bind: vec!["getAdapter".into(), "getRootAdapter".into()], values }
    }
}

/// One method of an adapter object bound to `target`.
async fn adapter_call(db: &DatabaseService, target: Target<'_>, op: &str, args: &[Json]) -> Result<Json, PluginError> {
    match op {
        "execute" | "executeOne" => {
            let stmt = statement(args.first(), args.get(1), "sql")?;
            let res = db.execute(target, stmt).await.map_err(plugin_error)?;
            let rows = res.rows_as_objects();
            Ok(if op == "execute" { Json::Array(rows) } else { rows.into_iter().next().unwrap_or(Json::Null) })
        }
        "batch" => {
            let list = args.first().and_then(Json::as_array).ok_or_else(|| bad("batch(statements): `statements` must be an array of SQL strings or {sql, args} objects"))?;
            let stmts = list
                .iter()
                .enumerate()
                .map(|(i, s)| match s {
                    Json::String(_) => statement(Some(s), None, &format!("statements[{i}]")),
                    Json::Object(o) => statement(o.get("sql"), o.get("args"), &format!("statements[{i}].sql")),
                    _ => Err(bad(format!("statements[{i}] must be a SQL string or an {{sql, args}} object"))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let results = db.batch(target, stmts).await.map_err(plugin_error)?;
            Ok(Json::Array(results.iter().map(|r| Json::Array(r.rows_as_objects())).collect()))
        }
        "listTenants" => Ok(json!(db.list_tenants(target.adapter).await.map_err(plugin_error)?)),
        "createTenant" | "deleteTenant" => {
            let id = required_str(args.first(), "id")?;
            let res = if op == "createTenant" { db.create_tenant(target.adapter, &id).await.map(drop) } else { db.delete_tenant(target.adapter, &id).await };
            res.map_err(plugin_error)?;
            Ok(Json::Null)
        }
        "transaction" => Err(bad("transaction(fn) cannot cross into the runtime process: use batch(statements), which runs them in one transaction")),
        other => Err(bad(format!("unknown adapter method `{other}`; adapters have {ADAPTER_METHODS}"))),
    }
}

/// Builds a statement from `sql` and optional `args` (an array, or an object of named arguments).
fn statement(sql: Option<&Json>, args: Option<&Json>, field: &str) -> Result<Statement, PluginError> {
    let sql = sql.and_then(Json::as_str).filter(|s| !s.trim().is_empty()).ok_or_else(|| bad(format!("`{field}` must be a non-empty SQL string")))?;
    let mut stmt = Statement::new(sql);
    match args {
        None | Some(Json::Null) => {}
        Some(Json::Array(list)) => stmt.args = list.iter().map(Value::from_plain_json).collect(),
        Some(Json::Object(named)) => stmt.named_args = named.iter().map(|(k, v)| (k.clone(), Value::from_plain_json(v))).collect(),
        Some(_) => return Err(bad(format!("the arguments of `{field}` must be an array or an object of named arguments"))),
    }
    Ok(stmt)
}

fn opt_str(v: Option<&Json>, name: &str) -> Result<Option<String>, PluginError> {
    match v {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(format!("`{name}` must be a string"))),
    }
}

fn required_str(v: Option<&Json>, name: &str) -> Result<String, PluginError> {
    opt_str(v, name)?.ok_or_else(|| bad(format!("`{name}` is required")))
}

fn bad(message: impl Into<String>) -> PluginError {
    PluginError::new(ErrorKind::BadRequest, message)
}

/// Keeps the engine's message (SQL errors are the caller's to see), mapped to the closest kind.
fn plugin_error(e: DbError) -> PluginError {
    let kind = match e.status().as_u16() {
        400 => ErrorKind::BadRequest,
        404 => ErrorKind::NotFound,
        503 => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    let message = match &e {
        DbError::Sql { code, message } => format!("{code}: {message}"),
        other => other.to_string(),
    };
    PluginError::new(kind, message)
}
