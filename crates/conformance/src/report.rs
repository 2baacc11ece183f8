//! The table (endpoint, scenarios, same, different) and the list of differences.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::endpoints::{ENDPOINTS, OTHER};
use crate::run::ScenarioResult;

/// Per endpoint: scenarios that exercise it, and how many of those agree on every step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub scenarios: usize,
    pub same: usize,
    pub different: usize,
    /// Scenarios that differ only because berth does not route the endpoint yet.
    pub unrouted: usize,
}

/// The rows, in swagger order, every endpoint included (zero rows show a coverage gap).
pub fn rows(results: &[ScenarioResult]) -> Vec<(String, Row)> {
    let mut by: BTreeMap<String, Row> = BTreeMap::new();
    for r in results {
        let mut per: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
        for s in &r.steps {
            let e = per.entry(s.endpoint.as_str()).or_insert((true, true));
            e.0 &= s.diffs.is_empty();
            e.1 &= s.diffs.is_empty() || s.unrouted;
        }
        for (endpoint, (same, only_unrouted)) in per {
            let row = by.entry(endpoint.to_owned()).or_default();
            row.scenarios += 1;
            if same {
                row.same += 1;
            } else {
                row.different += 1;
                if only_unrouted {
                    row.unrouted += 1;
                }
            }
        }
    }
    let mut out: Vec<(String, Row)> = ENDPOINTS
        .iter()
        .map(|(m, p)| {
            let key = format!("{m} {p}");
            let row = by.remove(&key).unwrap_or_default();
            (key, row)
        })
        .collect();
    out.push((OTHER.to_owned(), by.remove(OTHER).unwrap_or_default()));
    out.extend(by);
    out
}

/// The printed report.
pub fn render(results: &[ScenarioResult]) -> String {
    let rows = rows(results);
    let w = rows.iter().map(|(e, _)| e.len()).max().unwrap_or(10).max(8);
    let mut s = String::new();
    let _ = writeln!(s, "{:<w$}  scenarios  same  different", "endpoint");
    let (mut tot, mut same, mut diff, mut unrouted) = (0, 0, 0, 0);
    for (e, r) in &rows {
        let note = if r.unrouted > 0 {
            format!("  ({} not routed in berth)", r.unrouted)
        } else if r.scenarios == 0 {
            "  (no scenario)".to_owned()
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "{e:<w$}  {:>9}  {:>4}  {:>9}{note}",
            r.scenarios, r.same, r.different
        );
        tot += r.scenarios;
        same += r.same;
        diff += r.different;
        unrouted += r.unrouted;
    }
    let _ = writeln!(
        s,
        "{:<w$}  {tot:>9}  {same:>4}  {diff:>9}  ({unrouted} not routed in berth)",
        "total"
    );
    let _ = writeln!(s, "\ndifferences:");
    for r in results {
        for st in &r.steps {
            for d in &st.diffs {
                let tag = if st.unrouted { " [not routed]" } else { "" };
                let _ = writeln!(
                    s,
                    "  {} :: {}{tag}\n      {}: {}",
                    r.name, st.req, d.at, d.what
                );
            }
        }
    }
    let allowed: usize = results
        .iter()
        .flat_map(|r| &r.steps)
        .map(|s| s.allowed.len())
        .sum();
    let _ = writeln!(s, "\n{allowed} differences allowed by allow.toml");
    s
}

/// Differences the allow-list does not explain, leaving out endpoints berth does not route
/// yet unless `strict`.
pub fn unexpected(results: &[ScenarioResult], strict: bool) -> usize {
    results
        .iter()
        .flat_map(|r| &r.steps)
        .filter(|s| !s.diffs.is_empty() && (strict || !s.unrouted))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::Diff;
    use crate::run::StepResult;

    fn step(endpoint: &str, diff: bool, unrouted: bool) -> StepResult {
        StepResult {
            req: "GET /x".into(),
            endpoint: endpoint.into(),
            diffs: if diff {
                vec![Diff {
                    at: "status".into(),
                    what: "x".into(),
                }]
            } else {
                vec![]
            },
            allowed: vec![],
            unrouted,
        }
    }

    #[test]
    fn rows_count_scenarios_per_endpoint() {
        let results = vec![
            ScenarioResult {
                name: "a".into(),
                file: "f".into(),
                steps: vec![
                    step("GET /info", false, false),
                    step("GET /info", true, false),
                ],
            },
            ScenarioResult {
                name: "b".into(),
                file: "f".into(),
                steps: vec![
                    step("GET /info", false, false),
                    step("POST /build", true, true),
                ],
            },
        ];
        let rows = rows(&results);
        let info = &rows.iter().find(|(e, _)| e == "GET /info").unwrap().1;
        assert_eq!((info.scenarios, info.same, info.different), (2, 1, 1));
        let build = &rows.iter().find(|(e, _)| e == "POST /build").unwrap().1;
        assert_eq!(build.unrouted, 1);
        assert_eq!(unexpected(&results, false), 1);
        assert_eq!(unexpected(&results, true), 2);
        assert!(render(&results).contains("GET /info"));
    }
}
