//! The differences kept on purpose (`allow.toml`), each with its reason.

use std::path::Path;

use serde::Deserialize;

use crate::compare::Diff;

/// One intended difference: every diff located at or under `at`, in scenarios named
/// `scenario` (a trailing `*` matches a prefix) or in steps against `endpoint`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowed {
    #[serde(default)]
    pub scenario: Option<String>,
    /// Several scenarios sharing one reason.
    #[serde(default)]
    pub scenarios: Vec<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Only the step with this request (as written in the corpus).
    #[serde(default)]
    pub req: Option<String>,
    /// Where: `status`, `message`, `content-type`, `body/<pointer>`; `*` stands for any one
    /// segment (`body/*/memory_stats`).
    pub at: String,
    pub reason: String,
}

/// The whole list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowList {
    #[serde(default, rename = "allow")]
    pub entries: Vec<Allowed>,
}

/// Failures loading the list.
#[derive(Debug, thiserror::Error)]
pub enum AllowError {
    #[error("reading {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing {path}")]
    Parse {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("{path}: entry at {at:?} names neither a scenario nor an endpoint, or has no reason")]
    Unscoped { path: String, at: String },
}

impl AllowList {
    pub fn load(path: &Path) -> Result<Self, AllowError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| AllowError::Read {
            path: shown.clone(),
            source,
        })?;
        let list: Self = toml::from_str(&text).map_err(|source| AllowError::Parse {
            path: shown.clone(),
            source,
        })?;
        for e in &list.entries {
            let unscoped = e.scenario.is_none() && e.scenarios.is_empty() && e.endpoint.is_none();
            if unscoped || e.reason.trim().is_empty() {
                return Err(AllowError::Unscoped {
                    path: shown,
                    at: e.at.clone(),
                });
            }
        }
        Ok(list)
    }

    /// The entry that allows `d` in `scenario`'s step `req` against `endpoint`, if any.
    pub fn allows(&self, scenario: &str, endpoint: &str, req: &str, d: &Diff) -> Option<&Allowed> {
        self.entries.iter().find(|e| {
            e.scenario.as_deref().is_none_or(|s| glob(s, scenario))
                && (e.scenarios.is_empty() || e.scenarios.iter().any(|s| glob(s, scenario)))
                && e.endpoint.as_deref().is_none_or(|x| x == endpoint)
                && e.req.as_deref().is_none_or(|x| x == req)
                && under(&d.at, &e.at)
        })
    }
}

/// `name`, `prefix*` or `*suffix`.
fn glob(pattern: &str, name: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        name.starts_with(prefix)
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        name.ends_with(suffix)
    } else {
        pattern == name
    }
}

/// `body/State/Health` is under `body/State`; `body/Statex` is not; `*` matches a segment.
fn under(at: &str, prefix: &str) -> bool {
    if prefix.is_empty() {
        return true;
    }
    let (mut a, p) = (at.split('/'), prefix.split('/'));
    p.into_iter()
        .all(|seg| a.next().is_some_and(|x| seg == "*" || seg == x))
}

#[cfg(test)]
mod tests {
    use super::*;

    impl AllowList {
        fn allows_t(&self, scenario: &str, endpoint: &str, d: &Diff) -> Option<&Allowed> {
            self.allows(scenario, endpoint, "GET /x", d)
        }
    }

    #[test]
    fn locations_match_by_segment_with_wildcards() {
        assert!(under("body/0/memory_stats/stats", "body/*/memory_stats"));
        assert!(!under("body/memory_stats", "body/*/memory_stats"));
        assert!(under("message", "message"));
        assert!(!under("messages", "message"));
    }

    #[test]
    fn entries_match_by_scenario_endpoint_and_location() {
        let list: AllowList = toml::from_str(
            r#"
            [[allow]]
            endpoint = "GET /info"
            at = "body/Runtimes"
            reason = "berth is its own runtime"
            [[allow]]
            scenario = "version*"
            at = "message"
            reason = "version ranges differ"
            "#,
        )
        .unwrap();
        let d = |at: &str| Diff {
            at: at.into(),
            what: String::new(),
        };
        assert!(
            list.allows_t("info", "GET /info", &d("body/Runtimes/runc"))
                .is_some()
        );
        assert!(
            list.allows_t("info", "GET /info", &d("body/RuntimesX"))
                .is_none()
        );
        assert!(
            list.allows_t("info", "GET /version", &d("body/Runtimes"))
                .is_none()
        );
        assert!(
            list.allows_t("version too new", "GET /info", &d("message"))
                .is_some()
        );
        assert!(list.allows_t("other", "GET /info", &d("message")).is_none());
        let list: AllowList = toml::from_str(
            r#"
            [[allow]]
            scenarios = ["a", "* malformed JSON"]
            at = "status"
            reason = "r"
            "#,
        )
        .unwrap();
        assert!(
            list.allows_t("create with malformed JSON", "x", &d("status"))
                .is_some()
        );
        assert!(list.allows_t("a", "x", &d("status")).is_some());
        assert!(list.allows_t("b", "x", &d("status")).is_none());
    }
}
