//! The services' dependency graph: `depends_on`, `links`, `volumes_from` and
//! `network_mode: service:x`. Cycles are refused when the project loads, before anything starts.

use std::collections::{BTreeMap, BTreeSet};

use crate::load::LoadError;
use crate::model::Service;

/// Each service and the services it needs first.
#[derive(Debug, Clone)]
pub struct Graph {
    deps: BTreeMap<String, BTreeSet<String>>,
}

/// The services a service needs started first (only those defined in `services`).
pub fn dependencies(svc: &Service, services: &BTreeMap<String, Service>) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = svc.depends_on.keys().cloned().collect();
    out.extend(
        svc.links
            .iter()
            .map(|l| l.split(':').next().unwrap_or(l).to_owned()),
    );
    out.extend(
        svc.volumes_from
            .iter()
            .filter(|v| !v.starts_with("container:"))
            .map(|v| v.split(':').next().unwrap_or(v).to_owned()),
    );
    if let Some(other) = svc
        .network_mode
        .as_deref()
        .and_then(|m| m.strip_prefix("service:"))
    {
        out.insert(other.to_owned());
    }
    out.retain(|d| services.contains_key(d));
    out
}

impl Graph {
    pub fn new(services: &BTreeMap<String, Service>) -> Result<Self, LoadError> {
        let deps = services
            .iter()
            .map(|(n, s)| (n.clone(), dependencies(s, services)))
            .collect();
        let g = Self { deps };
        if let Some(cycle) = g.find_cycle() {
            return Err(LoadError::Cycle { cycle });
        }
        Ok(g)
    }

    pub fn deps(&self, service: &str) -> impl Iterator<Item = &String> {
        self.deps.get(service).into_iter().flatten()
    }

    /// Services that depend on `service`.
    pub fn dependents(&self, service: &str) -> Vec<String> {
        self.deps
            .iter()
            .filter(|(_, d)| d.contains(service))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// `names` and, transitively, what they depend on.
    pub fn with_dependencies(&self, names: &[String]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo: Vec<String> = names.to_vec();
        while let Some(n) = todo.pop() {
            if out.insert(n.clone()) {
                todo.extend(self.deps(&n).cloned());
            }
        }
        out
    }

    /// A start order: every service after its dependencies.
    pub fn order(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut done = BTreeSet::new();
        for n in self.deps.keys() {
            self.visit(n, &mut done, &mut out);
        }
        out
    }

    fn visit(&self, n: &str, done: &mut BTreeSet<String>, out: &mut Vec<String>) {
        if !done.insert(n.to_owned()) {
            return;
        }
        for d in self.deps(n) {
            self.visit(d, done, out);
        }
        out.push(n.to_owned());
    }

    /// A cycle as `a -> b -> a`, if there is one.
    fn find_cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Active,
            Done,
        }
        fn walk(
            g: &Graph,
            n: &str,
            marks: &mut BTreeMap<String, Mark>,
            stack: &mut Vec<String>,
        ) -> Option<Vec<String>> {
            match marks.get(n) {
                Some(Mark::Done) => return None,
                Some(Mark::Active) => {
                    let start = stack.iter().position(|s| s == n).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(n.to_owned());
                    return Some(cycle);
                }
                None => {}
            }
            marks.insert(n.to_owned(), Mark::Active);
            stack.push(n.to_owned());
            for d in g.deps(n) {
                if let Some(c) = walk(g, d, marks, stack) {
                    return Some(c);
                }
            }
            stack.pop();
            marks.insert(n.to_owned(), Mark::Done);
            None
        }
        let mut marks = BTreeMap::new();
        for n in self.deps.keys() {
            if let Some(c) = walk(self, n, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(edges: &[(&str, &[&str])]) -> BTreeMap<String, Service> {
        edges
            .iter()
            .map(|(n, deps)| {
                let mut s = Service::default();
                for d in *deps {
                    s.depends_on.insert((*d).to_owned(), Default::default());
                }
                ((*n).to_owned(), s)
            })
            .collect()
    }

    #[test]
    fn orders_and_refuses_cycles() {
        let g = Graph::new(&services(&[
            ("web", &["db", "cache"]),
            ("db", &[]),
            ("cache", &["db"]),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.order(), ["db", "cache", "web"]);
        assert_eq!(g.dependents("db"), ["cache", "web"]);
        let e = Graph::new(&services(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])]))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("dependency cycle detected: a -> b -> c -> a")
        );
    }
}
