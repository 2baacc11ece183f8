//! The crate graph ARCHITECTURE.md describes, checked: data flows one way
//! (cli → api → engine → {image, network, runtime}), and `unsafe` stays in the runtime.
#![allow(clippy::unwrap_used)] // tests: a panic is the report

use std::collections::BTreeSet;
use std::path::Path;

/// Each crate and the berth crates it may depend on (test-support is allowed as a
/// dev-dependency everywhere).
const ALLOWED: &[(&str, &[&str])] = &[
    ("errdefs", &[]),
    ("fsutil", &["errdefs"]),
    ("test-support", &[]),
    // The conformance harness speaks HTTP to two daemons; it knows nothing of berth's crates.
    ("conformance", &[]),
    ("runtime", &["errdefs", "fsutil"]),
    ("image", &["errdefs", "fsutil"]),
    ("network", &["errdefs", "fsutil"]),
    // The Dockerfile language, the plan and the cache logic; the world through its traits.
    ("build", &["errdefs", "fsutil", "image"]),
    // The registry client is a leaf: it knows nothing of the store.
    ("registry", &["errdefs"]),
    (
        "engine",
        &[
            "errdefs", "fsutil", "runtime", "image", "network", "registry", "build",
        ],
    ),
    // The API renders the libraries' types (errors, stats) but calls only the engine.
    (
        "api",
        &["errdefs", "engine", "image", "network", "runtime", "build"],
    ),
    // The client speaks HTTP; it shares only the build's context packing (`.dockerignore`
    // must mean the same on both sides).
    ("cli", &["client", "build"]),
    // The shared connection to a daemon: HTTP only.
    ("client", &[]),
    // Compose is a client too: it speaks HTTP through the shared client, never to the engine.
    ("compose", &["client"]),
    ("berth", &["runtime", "engine", "api", "cli", "compose"]),
];

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn berth_deps(manifest: &str) -> BTreeSet<String> {
    let mut deps = BTreeSet::new();
    let mut section = String::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.to_owned();
            continue;
        }
        if section == "[dependencies]"
            && let Some(name) = line.strip_prefix("berth-")
        {
            let name: String = name
                .chars()
                .take_while(|c| *c != '.' && *c != ' ' && *c != '=')
                .collect();
            deps.insert(name);
        }
    }
    deps
}

#[test]
fn dependencies_flow_one_way() {
    let mut seen = 0;
    for entry in std::fs::read_dir(workspace()).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let allowed = ALLOWED
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("crate {name} is not in ARCHITECTURE.md's graph"))
            .1;
        for dep in berth_deps(&manifest) {
            assert!(
                allowed.contains(&dep.as_str()),
                "crates/{name} depends on berth-{dep}, against the graph"
            );
        }
        seen += 1;
    }
    assert_eq!(seen, ALLOWED.len());
}

#[test]
fn unsafe_code_only_in_the_runtime() {
    for (name, _) in ALLOWED {
        let lib = workspace().join(name).join("src/lib.rs");
        let Ok(text) = std::fs::read_to_string(&lib) else {
            continue;
        };
        if *name == "runtime" {
            continue;
        }
        assert!(
            text.contains("#![forbid(unsafe_code)]"),
            "{} lacks #![forbid(unsafe_code)]",
            lib.display()
        );
    }
}
