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
    #[serde(default)]
    pub endpoint: Option<String>,
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
            if (e.scenario.is_none() && e.endpoint.is_none()) || e.reason.trim().is_empty() {
                return Err(AllowError::Unscoped {
                    path: shown,
                    at: e.at.clone(),
                });
            }
        }
        Ok(list)
    }

    /// The entry that allows `d` in `scenario`'s step against `endpoint`, if any.
    pub fn allows(&self, scenario: &str, endpoint: &str, d: &Diff) -> Option<&Allowed> {
        self.entries.iter().find(|e| {
            e.scenario.as_deref().is_none_or(|s| glob(s, scenario))
                && e.endpoint.as_deref().is_none_or(|x| x == endpoint)
                && under(&d.at, &e.at)
        })
    }
}

fn glob(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// `body/State/Health` is under `body/State`; `body/Statex` is not.
fn under(at: &str, prefix: &str) -> bool {
    at == prefix
        || (at.starts_with(prefix) && at.as_bytes().get(prefix.len()) == Some(&b'/'))
        || prefix.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(list.allows("info", "GET /info", &d("body/Runtimes/runc")).is_some());
        assert!(list.allows("info", "GET /info", &d("body/RuntimesX")).is_none());
        assert!(list.allows("info", "GET /version", &d("body/Runtimes")).is_none());
        assert!(list.allows("version too new", "GET /info", &d("message")).is_some());
        assert!(list.allows("other", "GET /info", &d("message")).is_none());
    }
}
