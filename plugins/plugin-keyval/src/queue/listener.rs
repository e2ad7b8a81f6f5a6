//! The in-process consumer (§A.10 `listen`): runs a handler on each message as it becomes ready,
//! acks on success, nacks on failure, with bounded concurrency and a stop that waits for the
//! handlers still running.
//!
//! Like the SSE listener it waits on the queue's wake-up signal and the next `ready_at` instead
//! of polling; `poll_interval` only bounds how long it sleeps (it also picks up messages written by
//! another process sharing the database).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Message;
use crate::store::Kv;
use crate::value::now_ms;

/// How a [`Listener`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenOptions {
    /// Handlers running at once (at least 1).
    pub concurrency: usize,
    /// The longest sleep between looks at the queue when nothing signals it.
    pub poll_interval: Duration,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            concurrency: 1,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// A running in-process consumer; [`Listener::stop`] ends it.
#[derive(Debug)]
pub struct Listener {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Listener {
    /// Stops claiming messages and waits until the handlers still running have finished (and
    /// their messages are acked or nacked).
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}

impl super::Queue<'_> {
    /// Starts a consumer: `handler` runs on every message as it becomes ready, at most
    /// `opts.concurrency` at a time; `Ok` acks the message, `Err` nacks it (retry with backoff,
    /// then the DLQ) and is passed to `on_error` with the message.
    pub fn listen<F, Fut, E>(
        &self,
        handler: F,
        on_error: impl Fn(&Message, &E) + Send + Sync + 'static,
        opts: ListenOptions,
    ) -> Listener
    where
        F: Fn(Message) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Send + 'static,
    {
        let (stop, stopping) = watch::channel(false);
        let task = tokio::spawn(run(
            self.0.clone(),
            Arc::new(handler),
            Arc::new(on_error),
            opts,
            stopping,
        ));
        Listener { stop, task }
    }
}

async fn run<F, Fut, E, O>(
    kv: Kv,
    handler: Arc<F>,
    on_error: Arc<O>,
    opts: ListenOptions,
    mut stopping: watch::Receiver<bool>,
) where
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Send + 'static,
    O: Fn(&Message, &E) + Send + Sync + 'static,
{
    let concurrency = opts.concurrency.max(1);
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut wake = kv.queue_shared().subscribe();
    let mut shutdown = kv.queue_shared().stopping();
    loop {
        if *stopping.borrow() || *shutdown.borrow() {
            break;
        }
        wake.borrow_and_update();
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            // An error means the `Listener` was dropped (or the engine): stop as well.
            r = stopping.changed() => if r.is_err() { break } else { continue },
            r = shutdown.changed() => if r.is_err() { break } else { continue },
        };
        let queue = kv.queue();
        let next_ready = match queue.dequeue().await {
            Ok(Some(msg)) => {
                let (kv, handler, on_error) = (kv.clone(), handler.clone(), on_error.clone());
                tokio::spawn(async move {
                    let outcome = handler(msg.clone()).await;
                    let settled = match &outcome {
                        Ok(()) => kv.queue().ack(&msg.id).await.map(|_| ()),
                        Err(e) => {
                            on_error(&msg, e);
                            kv.queue().nack(&msg.id).await.map(|_| ())
                        }
                    };
                    if let Err(e) = settled {
                        tracing::warn!(
                            plugin = crate::NAME,
                            "queue listener could not settle message {}: {e}",
                            msg.id
                        );
                    }
                    drop(permit);
                });
                continue;
            }
            Ok(None) => {
                drop(permit);
                queue.next_ready_at().await.ok().flatten()
            }
            Err(e) => {
                drop(permit);
                tracing::warn!(
                    plugin = crate::NAME,
                    "queue listener could not claim a message: {e}"
                );
                None
            }
        };
        let cap = Instant::now() + opts.poll_interval;
        let wake_at = next_ready.map_or(cap, |at| {
            cap.min(
                Instant::now()
                    + Duration::from_millis(
                        u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0),
                    ),
            )
        });
        tokio::select! {
            r = stopping.changed() => if r.is_err() { break },
            r = shutdown.changed() => if r.is_err() { break },
            r = wake.changed() => if r.is_err() { break },
            () = tokio::time::sleep_until(wake_at) => {}
        }
    }
    // Every slot free again = every handler finished and settled its message.
    let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}
