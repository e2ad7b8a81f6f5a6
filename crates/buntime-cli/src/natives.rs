//! The native plugins compiled into the stock `buntime` binary.

use buntime_server::RuntimeBuilder;

/// Registers every bundled native plugin; each loads only when a manifest names it.
pub(crate) fn register(builder: RuntimeBuilder) -> RuntimeBuilder {
    builder
        .native(buntime_plugin_database::NAME, buntime_plugin_database::DatabasePlugin::new)
        .native(buntime_plugin_deployments::NAME, buntime_plugin_deployments::DeploymentsPlugin::new)
        .native(buntime_plugin_hello::NAME, buntime_plugin_hello::HelloPlugin::new)
        .native(buntime_plugin_logs::NAME, buntime_plugin_logs::LogsPlugin::new)
        .native(buntime_plugin_metrics::NAME, buntime_plugin_metrics::MetricsPlugin::new)
        .native(buntime_plugin_keyval::NAME, buntime_plugin_keyval::KeyvalPlugin::new)
        .native(buntime_plugin_authn::NAME, buntime_plugin_authn::AuthnPlugin::new)
        .native(buntime_plugin_authz::NAME, buntime_plugin_authz::AuthzPlugin::new)
        .native(buntime_plugin_gateway::NAME, buntime_plugin_gateway::GatewayPlugin::new)
        .native(buntime_plugin_proxy::NAME, buntime_plugin_proxy::ProxyPlugin::new)
        .native(buntime_plugin_vhosts::NAME, buntime_plugin_vhosts::VhostsPlugin::new)
}
