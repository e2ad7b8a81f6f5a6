//! Worker lifecycle notifications (`onWorkerSpawn`/`onWorkerTerminate`), broadcast to subscribers.

use serde::Serialize;

/// What happened to a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum WorkerEventKind {
    /// The worker got ready (`onWorkerSpawn`).
    Spawned,
    /// The worker was stopped or died (`onWorkerTerminate`).
    Terminated,
}

/// A worker lifecycle notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerEvent {
    /// What happened.
    pub kind: WorkerEventKind,
    /// The app key (`name@version`).
    pub key: String,
    /// The worker id.
    pub worker_id: String,
    /// The app directory.
    pub dir: String,
    /// Whether the worker served a single request (`ttl: 0`).
    pub ephemeral: bool,
    /// Why it was terminated (`evicted`, `expired`, `recycled`, `retired`, `timeout`, `crashed`,
    /// `completed`, `shutdown`, `failed`); empty for spawns.
    pub reason: String,
}
