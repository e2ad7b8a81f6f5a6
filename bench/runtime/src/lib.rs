//! Shared pieces of the benchmark binaries.
#![forbid(unsafe_code)]

use async_trait::async_trait;
use buntime_core::{Flow, Plugin, PluginError, Request, RequestContext};

/// A plugin whose `on_request` does nothing: measures the cost of one hook in the pipeline.
#[derive(Debug)]
pub struct NoopHook;

#[async_trait]
impl Plugin for NoopHook {
    async fn on_request(&self, _req: &mut Request, _cx: &RequestContext) -> Result<Flow, PluginError> {
        Ok(Flow::Continue)
    }
}
