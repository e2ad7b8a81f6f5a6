//! The typed service other native plugins get with
//! `cx.get_plugin::<AuthzService>("@buntime/plugin-authz")`.

use std::sync::Arc;

use crate::context::EvaluationContext;
use crate::pap::{Pap, PapError};
use crate::pdp::{Decision, PolicySet, Step};
use crate::policy::Policy;

/// Decisions and policy administration, sharing the plugin's one policy store.
#[derive(Debug, Clone)]
pub struct AuthzService {
    pap: Arc<Pap>,
}

impl AuthzService {
    /// A service over `pap`.
    pub fn new(pap: Arc<Pap>) -> Self {
        Self { pap }
    }

    /// Decides `ctx` on the current policies (lock-free; a few µs for tens of policies).
    pub fn evaluate(&self, ctx: &EvaluationContext) -> Decision {
        self.pap.current().evaluate(ctx)
    }

    /// Decides `ctx` and says what every policy did.
    pub fn explain(&self, ctx: &EvaluationContext) -> (Decision, Vec<Step>) {
        self.pap.current().explain(ctx)
    }

    /// The compiled policies of this moment (the original's `getPdp()`).
    pub fn policy_set(&self) -> Arc<PolicySet> {
        self.pap.current()
    }

    /// The administration point (the original's `getPap()`).
    pub fn pap(&self) -> &Arc<Pap> {
        &self.pap
    }

    /// Every policy, in insertion order.
    pub async fn policies(&self) -> Vec<Policy> {
        self.pap.list().await
    }

    /// Adds or replaces one policy (persisted before it takes effect).
    ///
    /// # Errors
    /// An invalid policy (naming the field) or a store failure.
    pub async fn upsert(&self, policy: Policy) -> Result<(), PapError> {
        self.pap.upsert(policy).await
    }

    /// Removes a policy; `false` when there is none with that id.
    ///
    /// # Errors
    /// A store failure.
    pub async fn delete(&self, id: &str) -> Result<bool, PapError> {
        self.pap.delete(id).await
    }

    /// The original's `seedPolicies(policies, {onlyIfEmpty})`: adds `policies` unless
    /// `only_if_empty` and some policy exists; returns how many were added.
    ///
    /// # Errors
    /// The first invalid policy (nothing is added then) or a store failure.
    pub async fn seed_policies(
        &self,
        policies: Vec<Policy>,
        only_if_empty: bool,
    ) -> Result<usize, PapError> {
        if only_if_empty && !self.pap.is_empty().await {
            return Ok(0);
        }
        self.pap.upsert_all(policies).await
    }
}
