//! The ephemeral gate: at most N ttl=0 requests run, M wait in FIFO order, the rest get 503.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::DispatchError;

/// One global gate for every ephemeral request.
#[derive(Debug)]
pub(crate) struct Gate {
    sem: Arc<Semaphore>,
    max_concurrency: usize,
    max_queue: usize,
    pending: Arc<AtomicUsize>,
}

/// Counts a waiter while it waits, even if its request is cancelled.
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gate {
    /// Creates a gate of `max_concurrency` running plus `max_queue` waiting requests.
    pub(crate) fn new(max_concurrency: usize, max_queue: usize) -> Self {
        let max_concurrency = max_concurrency.max(1);
        Self { sem: Arc::new(Semaphore::new(max_concurrency)), max_concurrency, max_queue, pending: Arc::new(AtomicUsize::new(0)) }
    }

    /// Enters the gate, waiting in line if it is full; fails at once when the line is full too.
    pub(crate) async fn enter(&self) -> Result<OwnedSemaphorePermit, DispatchError> {
        if let Ok(permit) = self.sem.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let queued = self.pending.fetch_add(1, Ordering::SeqCst);
        let waiting = Waiting(self.pending.clone());
        if queued >= self.max_queue {
            drop(waiting);
            return Err(self.saturated());
        }
        let permit = self.sem.clone().acquire_owned().await.map_err(|_| self.saturated())?;
        drop(waiting);
        Ok(permit)
    }

    fn saturated(&self) -> DispatchError {
        DispatchError::Saturated { active: self.active(), max_concurrency: self.max_concurrency, max_queue: self.max_queue, pending: self.pending() }
    }

    /// Requests running.
    pub(crate) fn active(&self) -> usize {
        self.max_concurrency.saturating_sub(self.sem.available_permits())
    }

    /// Requests waiting.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// The concurrency limit.
    pub(crate) fn max_concurrency(&self) -> usize {
        self.max_concurrency
    }

    /// The queue limit.
    pub(crate) fn max_queue(&self) -> usize {
        self.max_queue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_gate_and_full_queue_answer_saturated_at_once() {
        let gate = Arc::new(Gate::new(1, 1));
        let first = gate.enter().await.unwrap();
        let g = gate.clone();
        let waiter = tokio::spawn(async move { g.enter().await.map(drop) });
        tokio::task::yield_now().await;
        while gate.pending() == 0 {
            tokio::task::yield_now().await;
        }
        let err = gate.enter().await.unwrap_err();
        assert!(matches!(err, DispatchError::Saturated { active: 1, max_concurrency: 1, max_queue: 1, pending: 1 }));
        drop(first);
        waiter.await.unwrap().unwrap();
        assert_eq!((gate.active(), gate.pending()), (0, 0));
    }

    #[tokio::test]
    async fn a_cancelled_waiter_leaves_the_queue() {
        let gate = Arc::new(Gate::new(1, 5));
        let _first = gate.enter().await.unwrap();
        let g = gate.clone();
        let waiter = tokio::spawn(async move { g.enter().await.map(drop) });
        while gate.pending() == 0 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(gate.pending(), 0);
    }
}
