//! The corpus: request scenarios as data (`corpus/*.toml`).
//!
//! A scenario names the state it needs (`needs = ["running c1", "network n1"]`, made through
//! the API itself on each daemon) and a list of steps. A step is one request; its answer is
//! compared between the daemons unless the step is marked `compare = false` (a setup or an
//! action whose effect a later step checks). `{x}` in a request is a variable: a name of this
//! scenario (made unique per scenario), or a value captured from an earlier answer
//! (`{c1.id}`, or `capture = { e = "/Id" }`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// Every scenario file of a corpus directory.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    pub scenarios: Vec<Scenario>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, rename = "scenario")]
    scenarios: Vec<Scenario>,
}

/// One scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// The corpus file it came from (set on load).
    #[serde(skip)]
    pub file: String,
    /// Fixtures: `container X`, `running X`, `exited X`, `network X`, `volume X`, `image X`.
    #[serde(default)]
    pub needs: Vec<String>,
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
}

/// One request and how to judge its answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// `METHOD /path?query`, with `{var}`s.
    pub req: String,
    /// A raw body (sent verbatim after substitution), for malformed input.
    #[serde(default)]
    pub body: Option<String>,
    /// A JSON body, written as TOML.
    #[serde(default)]
    pub json: Option<toml::Value>,
    /// A tar body: file name → content.
    #[serde(default)]
    pub tar: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Compare this answer (false: a setup step that must succeed on both).
    #[serde(default = "yes")]
    pub compare: bool,
    /// Values (JSON pointers into the normalised body) that must be equal, not just shaped
    /// alike; `""` compares the whole body.
    #[serde(default)]
    pub values: Vec<String>,
    /// Values compared before normalisation (a fixed MAC address, an exact name).
    #[serde(default)]
    pub exact: Vec<String>,
    /// Keep the raw answer body under this name, to send later (`send_body`).
    #[serde(default)]
    pub keep_body: Option<String>,
    /// Send a body kept by an earlier step (`keep_body`) of the same daemon.
    #[serde(default)]
    pub send_body: Option<String>,
    /// Sort a list answer by this pointer into each element (`""`: the whole element)
    /// before comparing, for lists whose order dockerd does not define.
    #[serde(default)]
    pub sort_by: Option<String>,
    /// Read a streaming answer for this many seconds, then cut it.
    #[serde(default)]
    pub read_for: Option<f64>,
    /// Close the write side after the body (stdin EOF for a hijacked connection).
    #[serde(default)]
    pub half_close: bool,
    /// Captures from the answer: variable → JSON pointer.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// A header whose value (base64 JSON) is compared as part of the body.
    #[serde(default)]
    pub stat_header: Option<String>,
    /// Sleep this many seconds before sending (let a process reach a state).
    #[serde(default)]
    pub after: Option<f64>,
    /// The swagger endpoint this step exercises, when the path alone is ambiguous.
    #[serde(default)]
    pub endpoint: Option<String>,
}

fn yes() -> bool {
    true
}

/// Failures loading a corpus.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("reading corpus {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing corpus file {path}")]
    Parse {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("{path}: scenario {name:?}: {what}")]
    Invalid {
        path: String,
        name: String,
        what: String,
    },
}

impl Corpus {
    /// Loads every `*.toml` in `dir`, in file-name order.
    pub fn load(dir: &Path) -> Result<Self, CorpusError> {
        let read = |source| CorpusError::Read {
            path: dir.display().to_string(),
            source,
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(read)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(read)?
            .into_iter()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        let mut scenarios = Vec::new();
        for path in files {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|source| CorpusError::Read {
                path: shown.clone(),
                source,
            })?;
            let f: File = toml::from_str(&text).map_err(|source| CorpusError::Parse {
                path: shown.clone(),
                source,
            })?;
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            for mut s in f.scenarios {
                s.file.clone_from(&stem);
                s.validate(&shown)?;
                scenarios.push(s);
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &scenarios {
            if !seen.insert(s.name.as_str()) {
                return Err(CorpusError::Invalid {
                    path: dir.display().to_string(),
                    name: s.name.clone(),
                    what: "two scenarios share this name".into(),
                });
            }
        }
        Ok(Self { scenarios })
    }
}

impl Scenario {
    fn validate(&self, path: &str) -> Result<(), CorpusError> {
        let bad = |what: String| CorpusError::Invalid {
            path: path.to_owned(),
            name: self.name.clone(),
            what,
        };
        for n in &self.needs {
            crate::fixtures::Fixture::parse(n).map_err(bad)?;
        }
        if self.steps.is_empty() {
            return Err(bad("no steps".into()));
        }
        for s in &self.steps {
            s.method_and_target().map_err(&bad)?;
            let bodies = [
                s.body.is_some(),
                s.json.is_some(),
                s.tar.is_some(),
                s.send_body.is_some(),
            ];
            if bodies.iter().filter(|b| **b).count() > 1 {
                return Err(bad(format!("{}: more than one body", s.req)));
            }
        }
        Ok(())
    }
}

impl Step {
    /// `("GET", "/containers/{c1}/json")`.
    pub fn method_and_target(&self) -> Result<(&str, &str), String> {
        let (m, t) = self
            .req
            .split_once(' ')
            .ok_or_else(|| format!("{:?}: expected \"METHOD /path\"", self.req))?;
        if !t.starts_with('/') || m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!("{:?}: expected \"METHOD /path\"", self.req));
        }
        Ok((m, t.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_parses_with_defaults() {
        let f: File = toml::from_str(
            r#"
            [[scenario]]
            name = "x"
            needs = ["running c1"]
            [[scenario.step]]
            req = "GET /containers/{c1}/json"
            values = ["/State/Running"]
            [[scenario.step]]
            req = "POST /containers/{c1}/kill"
            compare = false
            "#,
        )
        .unwrap();
        let s = &f.scenarios[0];
        assert!(s.steps[0].compare);
        assert!(!s.steps[1].compare);
        assert_eq!(
            s.steps[0].method_and_target().unwrap(),
            ("GET", "/containers/{c1}/json")
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let r: Result<File, _> = toml::from_str(
            r#"
            [[scenario]]
            name = "x"
            [[scenario.step]]
            req = "GET /x"
            valeus = ["/a"]
            "#,
        );
        assert!(r.is_err());
    }
}
