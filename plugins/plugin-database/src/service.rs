//! [`DatabaseService`]: what other native plugins get from `get_plugin("@buntime/plugin-database")`,
//! and what the HTTP routes use: adapters by type, tenants, typed `execute` and atomic `batch`.

use std::sync::Arc;

use crate::adapter::{Adapter, Connection};
use crate::config::TenancyConfig;
use crate::error::DbError;
use crate::tenant::TenantId;
use crate::value::{Statement, StmtResult};

/// Which database a call targets: an adapter type (else the default) and a tenant (else the root).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Target<'a> {
    /// The adapter type, e.g. `sqlite`; `None` is the default adapter.
    pub adapter: Option<&'a str>,
    /// The tenant id; `None` is the adapter's root database.
    pub tenant: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// The default adapter's root database.
    pub fn root() -> Self {
        Self::default()
    }

    /// A tenant of the default adapter.
    pub fn tenant(id: &'a str) -> Self {
        Self { adapter: None, tenant: Some(id) }
    }

    /// Returns this target on another adapter type.
    #[must_use]
    pub fn on(self, adapter: &'a str) -> Self {
        Self { adapter: Some(adapter), ..self }
    }
}

/// The database service. Cheap to clone.
///
/// # Examples
/// ```no_run
/// # async fn f(cx: &buntime_core::PluginContext) -> Result<(), Box<dyn std::error::Error>> {
/// use buntime_plugin_database::{DatabaseService, Statement, Target, Value};
/// let db = cx.get_plugin::<DatabaseService>(buntime_plugin_database::NAME).ok_or("database plugin not loaded")?;
/// db.execute(Target::root(), Statement::new("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v)")).await?;
/// let res = db.execute(Target::tenant("acme"), Statement::with_args("SELECT v FROM kv WHERE k = ?", [Value::from("a")])).await?;
/// # let _ = res; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DatabaseService(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    adapters: Vec<Arc<dyn Adapter>>,
    default: usize,
    tenancy: TenancyConfig,
}

impl DatabaseService {
    /// The service as a dependent plugin `who` (a short name for the error, e.g. "keyval") gets
    /// it in `on_init`; an error saying the database plugin is not loaded otherwise.
    ///
    /// # Errors
    /// The database plugin's typed service is not registered.
    pub fn from_context(cx: &buntime_core::PluginContext, who: &str) -> Result<Self, buntime_core::PluginError> {
        cx.get_plugin::<Self>(crate::NAME).map(|db| Self::clone(&db)).ok_or_else(|| {
            buntime_core::PluginError::internal(format!("the {who} plugin needs {} (its typed service is not loaded)", crate::NAME))
        })
    }

    /// Creates the service over `adapters` (distinct types), `adapters[default]` being the default.
    ///
    /// # Panics
    /// When `default` is out of range (the config parser guarantees it is not).
    pub fn new(adapters: Vec<Arc<dyn Adapter>>, default: usize, tenancy: TenancyConfig) -> Self {
        assert!(default < adapters.len(), "the default adapter index is within the adapter list");
        Self(Arc::new(Inner { adapters, default, tenancy }))
    }

    /// Returns the default adapter's type.
    pub fn default_type(&self) -> &'static str {
        self.0.adapters[self.0.default].kind()
    }

    /// Returns the configured adapter types, in manifest order.
    pub fn adapter_types(&self) -> Vec<&'static str> {
        self.0.adapters.iter().map(|a| a.kind()).collect()
    }

    /// Returns the tenancy settings.
    pub fn tenancy(&self) -> &TenancyConfig {
        &self.0.tenancy
    }

    /// Returns the adapter of type `kind`, or the default one.
    ///
    /// # Errors
    /// [`DbError::UnknownAdapter`].
    pub fn adapter(&self, kind: Option<&str>) -> Result<&Arc<dyn Adapter>, DbError> {
        match kind {
            None => Ok(&self.0.adapters[self.0.default]),
            Some(k) => self.0.adapters.iter().find(|a| a.kind() == k).ok_or_else(|| DbError::UnknownAdapter {
                name: k.chars().take(40).collect(),
                configured: self.adapter_types().join(", "),
            }),
        }
    }

    /// Checks out a connection to `target`; with `tenancy.autoCreate` a missing tenant is created.
    ///
    /// # Errors
    /// Unknown adapter, invalid or missing tenant, or the database is unavailable.
    pub async fn connect(&self, target: Target<'_>) -> Result<Box<dyn Connection>, DbError> {
        let adapter = self.adapter(target.adapter)?;
        let tenant = target.tenant.map(TenantId::parse).transpose()?;
        if let Some(t) = &tenant
            && !adapter.tenant_exists(t).await?
        {
            if !self.0.tenancy.auto_create {
                return Err(DbError::TenantNotFound(t.to_string()));
            }
            adapter.create_tenant(t).await?;
        }
        adapter.connect(tenant.as_ref()).await
    }

    /// Runs one statement on a pooled connection.
    ///
    /// # Errors
    /// As [`Self::connect`], or the statement's [`DbError::Sql`].
    pub async fn execute(&self, target: Target<'_>, stmt: Statement) -> Result<StmtResult, DbError> {
        self.connect(target).await?.execute(stmt).await
    }

    /// Runs `stmts` atomically: all of them in one transaction, or none.
    ///
    /// # Errors
    /// As [`Self::connect`], or the first failing statement's error (nothing is kept).
    pub async fn batch(&self, target: Target<'_>, stmts: Vec<Statement>) -> Result<Vec<StmtResult>, DbError> {
        self.connect(target).await?.transaction(stmts).await.map_err(|(_, e)| e)
    }

    /// Returns the tenants of an adapter.
    ///
    /// # Errors
    /// Unknown adapter or unreadable storage.
    pub async fn list_tenants(&self, adapter: Option<&str>) -> Result<Vec<String>, DbError> {
        self.adapter(adapter)?.list_tenants().await
    }

    /// Creates a tenant; returns false when it existed.
    ///
    /// # Errors
    /// Unknown adapter, invalid id or unwritable storage.
    pub async fn create_tenant(&self, adapter: Option<&str>, id: &str) -> Result<bool, DbError> {
        let id = TenantId::parse(id)?;
        self.adapter(adapter)?.create_tenant(&id).await
    }

    /// Deletes a tenant and its data.
    ///
    /// # Errors
    /// Unknown adapter, invalid id, [`DbError::TenantNotFound`].
    pub async fn delete_tenant(&self, adapter: Option<&str>, id: &str) -> Result<(), DbError> {
        let id = TenantId::parse(id)?;
        self.adapter(adapter)?.delete_tenant(&id).await
    }

    /// Closes every adapter (tenant pools first, then roots).
    pub async fn close(&self) {
        for a in &self.0.adapters {
            a.close().await;
        }
    }
}
