//! Hook batching: consecutive `on_request` (or `on_response`) hooks of plugins that live in one
//! out-of-process host run in one round trip instead of one each.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::PluginError;
use crate::plugin::{Flow, RequestContext};
use crate::{Request, Response};

/// Runs the hooks of several plugins of one host, in order, in one call.
///
/// A plugin opts in through [`crate::Plugin::hook_batch`]; the generation groups neighbours in the
/// hook order whose batches are the same object (by pointer) into one [`HookStep::Batch`]. The
/// batch must behave exactly as the plugins' own hooks called one after another would: each hook
/// sees the request the previous one left, the first short-circuit ends the walk.
#[async_trait]
pub trait HookBatch: Send + Sync + 'static {
    /// Runs `on_request` of `plugins` (names, in order) on `req`.
    ///
    /// # Errors
    /// The index in `plugins` of the hook that failed, and its error.
    async fn on_request(&self, plugins: &[Arc<str>], req: &mut Request, cx: &RequestContext) -> Result<Flow, (usize, PluginError)>;

    /// Runs `on_response` of `plugins` (names, in order) on `res`.
    ///
    /// # Errors
    /// The index in `plugins` of the hook that failed, and its error.
    async fn on_response(&self, plugins: &[Arc<str>], res: &mut Response, cx: &RequestContext) -> Result<(), (usize, PluginError)>;
}

/// One step of a generation's hook walk.
#[derive(Clone)]
pub enum HookStep {
    /// One plugin's hook (index into the generation's plugins).
    One(usize),
    /// Two or more neighbours run by one [`HookBatch`] in one call.
    Batch {
        /// The batch that runs them.
        batch: Arc<dyn HookBatch>,
        /// Their indices into the generation's plugins, in order.
        plugins: Vec<usize>,
        /// Their names, in the same order.
        names: Vec<Arc<str>>,
    },
}

impl std::fmt::Debug for HookStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::One(i) => f.debug_tuple("One").field(i).finish(),
            Self::Batch { names, .. } => f.debug_struct("Batch").field("names", names).finish_non_exhaustive(),
        }
    }
}

/// Groups `hooks` (plugin indices in order) into steps: runs of two or more neighbours that share a
/// batch become one [`HookStep::Batch`].
pub fn group(hooks: &[usize], batch_of: impl Fn(usize) -> Option<Arc<dyn HookBatch>>, name_of: impl Fn(usize) -> Arc<str>) -> Vec<HookStep> {
    let mut steps: Vec<HookStep> = Vec::with_capacity(hooks.len());
    let mut run: Option<(Arc<dyn HookBatch>, Vec<usize>)> = None;
    let flush = |run: &mut Option<(Arc<dyn HookBatch>, Vec<usize>)>, steps: &mut Vec<HookStep>| match run.take() {
        Some((_, plugins)) if plugins.len() == 1 => steps.push(HookStep::One(plugins[0])),
        Some((batch, plugins)) => {
            let names = plugins.iter().map(|&i| name_of(i)).collect();
            steps.push(HookStep::Batch { batch, plugins, names });
        }
        None => {}
    };
    for &i in hooks {
        match batch_of(i) {
            Some(b) if run.as_ref().is_some_and(|(cur, _)| same(cur, &b)) => run.as_mut().expect("checked").1.push(i),
            Some(b) => {
                flush(&mut run, &mut steps);
                run = Some((b, vec![i]));
            }
            None => {
                flush(&mut run, &mut steps);
                steps.push(HookStep::One(i));
            }
        }
    }
    flush(&mut run, &mut steps);
    steps
}

/// Whether two batches are the same object (the vtable part of the pointer is ignored).
fn same(a: &Arc<dyn HookBatch>, b: &Arc<dyn HookBatch>) -> bool {
    std::ptr::eq(Arc::as_ptr(a).cast::<()>(), Arc::as_ptr(b).cast::<()>())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nop;

    #[async_trait]
    impl HookBatch for Nop {
        async fn on_request(&self, _: &[Arc<str>], _: &mut Request, _: &RequestContext) -> Result<Flow, (usize, PluginError)> {
            Ok(Flow::Continue)
        }
        async fn on_response(&self, _: &[Arc<str>], _: &mut Response, _: &RequestContext) -> Result<(), (usize, PluginError)> {
            Ok(())
        }
    }

    fn shape(steps: &[HookStep]) -> Vec<Vec<usize>> {
        steps
            .iter()
            .map(|s| match s {
                HookStep::One(i) => vec![*i],
                HookStep::Batch { plugins, .. } => plugins.clone(),
            })
            .collect()
    }

    #[test]
    fn neighbours_of_one_batch_group_and_anything_else_splits_them() {
        let (a, b): (Arc<dyn HookBatch>, Arc<dyn HookBatch>) = (Arc::new(Nop), Arc::new(Nop));
        // 0,1 on host a; 2 native; 3 alone on a; 4,5 on b; 6 on a.
        let batches = [Some(a.clone()), Some(a.clone()), None, Some(a.clone()), Some(b.clone()), Some(b), Some(a)];
        let steps = group(&[0, 1, 2, 3, 4, 5, 6], |i| batches[i].clone(), |i| Arc::from(i.to_string()));
        assert_eq!(shape(&steps), vec![vec![0, 1], vec![2], vec![3], vec![4, 5], vec![6]]);
        assert!(matches!(&steps[0], HookStep::Batch { names, .. } if names.iter().map(|n| &**n).eq(["0", "1"])));
        assert!(matches!(steps[2], HookStep::One(3)), "a run of one is a plain step");
    }

    #[test]
    fn no_batches_means_one_step_per_hook() {
        let steps = group(&[2, 5], |_| None, |i| Arc::from(i.to_string()));
        assert_eq!(shape(&steps), vec![vec![2], vec![5]]);
    }
}
