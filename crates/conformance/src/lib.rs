//! berth-conformance: a differential harness that replays a corpus of Docker Engine API
//! requests against the real dockerd and against berth, and compares the answers.
//!
//! The corpus (`corpus/*.toml`) is data: each scenario names the state it needs and the
//! requests to send. Answers are normalised (ids, times, addresses, each daemon's paths) and
//! compared on status, error message, media type and JSON shape (keys, order, types, null
//! against empty), and on named values; later steps see the earlier steps' effects. The
//! differences kept on purpose are listed, each with its reason, in `allow.toml`.
//!
//! The crate knows nothing of berth's internals: it speaks HTTP to two sockets. The driver
//! that starts both daemons lives in `crates/berth/tests/conformance.rs`.
#![forbid(unsafe_code)]

pub mod allow;
pub mod compare;
pub mod corpus;
pub mod endpoints;
pub mod fixtures;
pub mod http;
pub mod observe;
pub mod report;
pub mod run;

pub use allow::AllowList;
pub use corpus::Corpus;
pub use run::{Options, ScenarioResult, Target, run};

/// The corpus shipped with the crate.
pub fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// The allow-list shipped with the crate.
pub fn allow_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("allow.toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_loads_and_covers_every_endpoint() {
        let corpus = Corpus::load(&corpus_dir()).unwrap();
        AllowList::load(&allow_file()).unwrap();
        let mut covered = std::collections::BTreeSet::new();
        for s in &corpus.scenarios {
            for st in s.steps.iter().filter(|st| st.compare) {
                let (m, t) = st.method_and_target().unwrap();
                covered.insert(
                    st.endpoint
                        .clone()
                        .unwrap_or_else(|| endpoints::classify(m, t)),
                );
            }
        }
        let missing: Vec<String> = endpoints::ENDPOINTS
            .iter()
            .map(|(m, p)| format!("{m} {p}"))
            .filter(|e| !covered.contains(e))
            .collect();
        assert!(missing.is_empty(), "no scenario for: {missing:#?}");
    }
}
