//! The administration point: the policy list (source of truth), its store, and the compiled
//! [`PolicySet`] requests read without locking (swapped whole on every change).

use std::sync::Arc;

use arc_swap::ArcSwap;
use jiff::tz::TimeZone;

use crate::matcher::CompiledPolicy;
use crate::pdp::{Algorithm, PolicySet};
use crate::policy::{Effect, Policy, PolicyError};
use crate::store::Store;

/// Why a change was refused.
#[derive(Debug)]
pub enum PapError {
    /// The policy is invalid (400).
    Invalid(PolicyError),
    /// The store could not be written; nothing changed (500).
    Store(String),
}

impl std::fmt::Display for PapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(e) => write!(f, "invalid policy: {e}"),
            Self::Store(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for PapError {}

/// Policies in memory, persisted through a [`Store`].
#[derive(Debug)]
pub struct Pap {
    /// The documents with their compiled forms, in insertion order. Writers take this lock for
    /// the whole change (store write included), so changes apply one at a time, in order.
    entries: tokio::sync::Mutex<Vec<CompiledPolicy>>,
    set: ArcSwap<PolicySet>,
    store: Store,
    algorithm: Algorithm,
    default_effect: Effect,
    zone: TimeZone,
}

impl Pap {
    /// Loads the store's policies; a stored policy that no longer compiles is an error naming it.
    ///
    /// # Errors
    /// The store's or the policy's problem.
    pub async fn open(
        store: Store,
        algorithm: Algorithm,
        default_effect: Effect,
        zone: TimeZone,
    ) -> Result<Self, String> {
        let stored = store.load().await?;
        let mut entries = Vec::with_capacity(stored.len());
        for p in stored {
            let id = p.id.clone();
            entries.push(
                CompiledPolicy::compile(p, &zone)
                    .map_err(|e| format!("stored policy `{id}`: {e}"))?,
            );
        }
        let set = ArcSwap::from_pointee(PolicySet::new(entries.clone(), algorithm, default_effect));
        Ok(Self {
            entries: tokio::sync::Mutex::new(entries),
            set,
            store,
            algorithm,
            default_effect,
            zone,
        })
    }

    /// The compiled policies requests are decided on right now.
    pub fn current(&self) -> Arc<PolicySet> {
        self.set.load_full()
    }

    /// Every policy, in insertion order.
    pub async fn list(&self) -> Vec<Policy> {
        self.entries
            .lock()
            .await
            .iter()
            .map(|c| Policy::clone(&c.policy))
            .collect()
    }

    /// One policy.
    pub async fn get(&self, id: &str) -> Option<Policy> {
        self.entries
            .lock()
            .await
            .iter()
            .find(|c| c.policy.id == id)
            .map(|c| Policy::clone(&c.policy))
    }

    /// Adds `policy`, or replaces the one with its id (keeping its place).
    ///
    /// # Errors
    /// [`PapError::Invalid`] naming the field; [`PapError::Store`] when it could not be saved.
    pub async fn upsert(&self, policy: Policy) -> Result<(), PapError> {
        let compiled = CompiledPolicy::compile(policy, &self.zone).map_err(PapError::Invalid)?;
        let mut entries = self.entries.lock().await;
        let mut next = entries.clone();
        let position = match next.iter().position(|c| c.policy.id == compiled.policy.id) {
            Some(i) => {
                next[i] = compiled;
                i
            }
            None => {
                next.push(compiled);
                next.len() - 1
            }
        };
        let docs: Vec<Policy> = next.iter().map(|c| Policy::clone(&c.policy)).collect();
        self.store
            .save(&docs, &docs[position], position)
            .await
            .map_err(PapError::Store)?;
        self.publish(&next);
        *entries = next;
        Ok(())
    }

    /// Adds several policies in one go (seeding); returns how many were added or replaced.
    ///
    /// # Errors
    /// The first invalid policy (its field under `policies[i]`) before anything changes, or the
    /// first store failure.
    pub async fn upsert_all(&self, policies: Vec<Policy>) -> Result<usize, PapError> {
        for (i, p) in policies.iter().enumerate() {
            CompiledPolicy::compile(p.clone(), &self.zone)
                .map_err(|e| PapError::Invalid(e.under(&format!("policies[{i}]"))))?;
        }
        let n = policies.len();
        for p in policies {
            self.upsert(p).await?;
        }
        Ok(n)
    }

    /// Removes a policy; `false` when there is none with that id.
    ///
    /// # Errors
    /// When the store could not be written (then nothing changed).
    pub async fn delete(&self, id: &str) -> Result<bool, PapError> {
        let mut entries = self.entries.lock().await;
        let Some(i) = entries.iter().position(|c| c.policy.id == id) else {
            return Ok(false);
        };
        let mut next = entries.clone();
        next.remove(i);
        let docs: Vec<Policy> = next.iter().map(|c| Policy::clone(&c.policy)).collect();
        self.store
            .remove(&docs, id)
            .await
            .map_err(PapError::Store)?;
        self.publish(&next);
        *entries = next;
        Ok(true)
    }

    /// The number of policies.
    pub async fn len(&self) -> usize {
        self.entries.lock().await.len()
    }

    /// Whether there are none.
    pub async fn is_empty(&self) -> bool {
        self.entries.lock().await.is_empty()
    }

    fn publish(&self, entries: &[CompiledPolicy]) {
        self.set.store(Arc::new(PolicySet::new(
            entries.to_vec(),
            self.algorithm,
            self.default_effect,
        )));
    }
}
