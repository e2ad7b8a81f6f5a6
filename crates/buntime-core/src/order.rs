//! Dependency ordering: exclusion of plugins whose dependencies cannot load, then Kahn's algorithm
//! with ties broken by scan order, then cycle reporting.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::discovery::DiscoveredPlugin;
use crate::problem::Problem;

/// The result of ordering: indices into the scanned list, and one problem per plugin left out.
#[derive(Debug, Default)]
pub struct Ordered {
    /// Enabled plugins that can load, in load order.
    pub order: Vec<usize>,
    /// One problem per enabled plugin left out, naming the chain of dependencies.
    pub problems: Vec<Problem>,
}

/// Orders the enabled plugins of `plugins` (in scan order) by their dependencies.
///
/// `broken` names plugins whose manifests failed, with why, so dependents can say so.
pub fn order(plugins: &[DiscoveredPlugin], broken: &HashMap<String, String>) -> Ordered {
    let index: HashMap<&str, usize> = plugins.iter().enumerate().map(|(i, p)| (p.manifest.name.as_str(), i)).collect();
    let enabled: Vec<bool> = plugins.iter().map(|p| p.manifest.enabled).collect();

    // Exclusion to a fixed point; a reason reads as the rest of "plugin `x` not loaded: <reason>".
    let mut excluded: HashMap<usize, String> = HashMap::new();
    loop {
        let mut changed = false;
        for (i, p) in plugins.iter().enumerate() {
            if !enabled[i] || excluded.contains_key(&i) {
                continue;
            }
            for dep in &p.manifest.dependencies {
                let reason = match index.get(dep.as_str()) {
                    None => match broken.get(dep) {
                        Some(why) => Some(format!("depends on `{dep}`, which failed: {why}")),
                        None => Some(format!("depends on `{dep}`, which is not installed")),
                    },
                    Some(&d) if !enabled[d] => Some(format!("depends on `{dep}`, which is disabled (set `enabled: true` in its manifest)")),
                    Some(&d) => excluded.get(&d).map(|r| format!("depends on `{dep}`, which {r}")),
                };
                if let Some(reason) = reason {
                    excluded.insert(i, reason);
                    changed = true;
                    break;
                }
            }
        }
        if !changed {
            break;
        }
    }

    let remaining: Vec<usize> = (0..plugins.len()).filter(|i| enabled[*i] && !excluded.contains_key(i)).collect();
    let remaining_set: HashSet<usize> = remaining.iter().copied().collect();
    // deps_of[i]: dependencies of i among the remaining, required and optional.
    let mut deps_of: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut dependents: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut in_degree: HashMap<usize, usize> = remaining.iter().map(|&i| (i, 0)).collect();
    for &i in &remaining {
        let m = &plugins[i].manifest;
        let mut seen = HashSet::new();
        for dep in m.dependencies.iter().chain(&m.optional_dependencies) {
            if let Some(&d) = index.get(dep.as_str()) {
                if remaining_set.contains(&d) && d != i && seen.insert(d) {
                    deps_of.entry(i).or_default().push(d);
                    dependents.entry(d).or_default().push(i);
                    *in_degree.get_mut(&i).expect("every remaining plugin has an in-degree") += 1;
                } else if d == i {
                    deps_of.entry(i).or_default().push(d);
                    *in_degree.get_mut(&i).expect("every remaining plugin has an in-degree") += 1;
                }
            }
        }
    }
    let mut queue: VecDeque<usize> = remaining.iter().copied().filter(|i| in_degree[i] == 0).collect();
    let mut order = Vec::with_capacity(remaining.len());
    while let Some(i) = queue.pop_front() {
        order.push(i);
        for &d in dependents.get(&i).map(Vec::as_slice).unwrap_or_default() {
            let deg = in_degree.get_mut(&d).expect("every remaining plugin has an in-degree");
            *deg -= 1;
            if *deg == 0 {
                queue.push_back(d);
            }
        }
    }

    let emitted: HashSet<usize> = order.iter().copied().collect();
    let stuck: HashSet<usize> = remaining.iter().copied().filter(|i| !emitted.contains(i)).collect();
    let mut problems = Vec::new();
    for i in 0..plugins.len() {
        let name = plugins[i].manifest.name.as_str();
        if let Some(reason) = excluded.get(&i) {
            problems.push(Problem::plugin(name, format!("plugin `{name}` not loaded: {reason}")));
        } else if stuck.contains(&i) {
            let reason = cycle_reason(i, plugins, &deps_of, &stuck);
            problems.push(Problem::plugin(name, format!("plugin `{name}` not loaded: {reason}")));
        }
    }
    Ordered { order, problems }
}

/// Explains why `start` never became loadable: it is on a cycle, or it depends (through a chain)
/// on a plugin that is.
fn cycle_reason(start: usize, plugins: &[DiscoveredPlugin], deps_of: &HashMap<usize, Vec<usize>>, stuck: &HashSet<usize>) -> String {
    let name = |i: usize| plugins[i].manifest.name.as_str();
    let mut path = vec![start];
    let mut at = start;
    loop {
        let next = deps_of
            .get(&at)
            .and_then(|ds| ds.iter().copied().find(|d| stuck.contains(d)))
            .expect("a plugin stuck in Kahn's algorithm has a stuck dependency");
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let cycle: Vec<&str> = path[pos..].iter().map(|&p| name(p)).chain([name(next)]).collect();
            let cycle = cycle.join(" → ");
            if pos == 0 {
                return format!("it is in a dependency cycle: {cycle} (remove one of these dependencies)");
            }
            let chain: String = path[1..=pos].iter().map(|&p| format!("depends on `{}`, which ", name(p))).collect();
            return format!("{chain}is in a dependency cycle: {cycle}");
        }
        path.push(next);
        at = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;
    use std::path::{Path, PathBuf};

    fn plugin(yaml: &str) -> DiscoveredPlugin {
        let (manifest, _) = Manifest::parse(yaml, Path::new("m.yaml"), &[]).unwrap();
        DiscoveredPlugin { manifest, dir: PathBuf::from("/p") }
    }

    fn run(yamls: &[&str]) -> (Vec<String>, Vec<String>) {
        let plugins: Vec<_> = yamls.iter().map(|y| plugin(y)).collect();
        let o = order(&plugins, &HashMap::new());
        (
            o.order.iter().map(|&i| plugins[i].manifest.name.to_string()).collect(),
            o.problems.iter().map(|p| p.message.clone()).collect(),
        )
    }

    #[test]
    fn kahn_breaks_ties_by_scan_order() {
        let (order, problems) = run(&["name: A", "name: B\ndependencies: [A]", "name: C"]);
        assert_eq!(order, vec!["A", "C", "B"]);
        assert!(problems.is_empty());
    }

    #[test]
    fn dependencies_load_first_even_when_scanned_later() {
        let (order, _) = run(&["name: app\ndependencies: [db, auth]", "name: auth\ndependencies: [db]", "name: db"]);
        assert_eq!(order, vec!["db", "auth", "app"]);
    }

    #[test]
    fn optional_dependencies_order_when_present_and_are_ignored_when_absent() {
        let (order, problems) = run(&["name: a\noptionalDependencies: [b, ghost]", "name: b"]);
        assert_eq!(order, vec!["b", "a"]);
        assert!(problems.is_empty());
        let (order, _) = run(&["name: a\noptionalDependencies: [b]", "name: b\nenabled: false"]);
        assert_eq!(order, vec!["a"]);
    }

    #[test]
    fn missing_dependencies_exclude_the_chain_with_one_error_each() {
        let (order, problems) = run(&["name: a\ndependencies: [ghost]", "name: b\ndependencies: [a]", "name: c"]);
        assert_eq!(order, vec!["c"]);
        assert_eq!(problems, vec![
            "plugin `a` not loaded: depends on `ghost`, which is not installed",
            "plugin `b` not loaded: depends on `a`, which depends on `ghost`, which is not installed",
        ]);
    }

    #[test]
    fn disabled_dependencies_say_how_to_enable() {
        let (order, problems) = run(&["name: a\nenabled: false", "name: b\ndependencies: [a]"]);
        assert!(order.is_empty());
        assert_eq!(problems, vec!["plugin `b` not loaded: depends on `a`, which is disabled (set `enabled: true` in its manifest)"]);
    }

    #[test]
    fn broken_dependencies_say_why() {
        let plugins = vec![plugin("name: b\ndependencies: [a]")];
        let broken = HashMap::from([("a".to_owned(), "its manifest has errors".to_owned())]);
        let o = order(&plugins, &broken);
        assert_eq!(o.problems[0].message, "plugin `b` not loaded: depends on `a`, which failed: its manifest has errors");
    }

    #[test]
    fn cycles_and_their_dependents_are_left_out_and_the_rest_loads() {
        let (order, problems) = run(&[
            "name: a\ndependencies: [b]",
            "name: b\ndependencies: [a]",
            "name: c\ndependencies: [a]",
            "name: d",
        ]);
        assert_eq!(order, vec!["d"]);
        assert_eq!(problems, vec![
            "plugin `a` not loaded: it is in a dependency cycle: a → b → a (remove one of these dependencies)",
            "plugin `b` not loaded: it is in a dependency cycle: b → a → b (remove one of these dependencies)",
            "plugin `c` not loaded: depends on `a`, which is in a dependency cycle: a → b → a",
        ]);
    }

    #[test]
    fn a_plugin_depending_on_itself_is_a_cycle() {
        let (order, problems) = run(&["name: a\ndependencies: [a]"]);
        assert!(order.is_empty());
        assert!(problems[0].contains("a → a"), "{}", problems[0]);
    }
}
