//! The differential conformance harness (`crates/conformance`): its corpus replayed against a
//! private dockerd (Debian's docker.io, its own socket, roots and bridge, no iptables) and a
//! private berth daemon, compared at API v1.41. Prints the table (endpoint, scenarios, same,
//! different) and fails on any difference `allow.toml` does not explain.
//!
//! `BERTH_CONFORMANCE_ONLY=<text>` replays only the scenarios whose name contains it;
//! `BERTH_CONFORMANCE_STRICT=1` also fails on endpoints berth does not route yet (those are
//! owned by branches not merged here, and show in the table as "not routed in berth").
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::process::Command;

use berth_conformance::{AllowList, Corpus, Options, Target, report};
use common::daemon::Daemon;
use common::dockerd::Dockerd;
use common::require_root;

/// A bridge for the private dockerd (it takes `--bridge <name>` only for an existing one).
struct Bridge(String);

impl Bridge {
    fn new() -> Self {
        let pid = std::process::id();
        let name = format!("dcf{}", pid % 100_000);
        let subnet = format!("10.213.{}.1/24", pid % 250);
        let _ = Command::new("ip").args(["link", "del", &name]).output();
        for args in [
            vec!["link", "add", &name, "type", "bridge"],
            vec!["addr", "add", &subnet, "dev", &name],
            vec!["link", "set", &name, "up"],
        ] {
            let o = Command::new("ip").args(&args).output().unwrap();
            assert!(o.status.success(), "ip {args:?}: {}", common::stderr(&o));
        }
        Self(name)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

#[test]
fn berth_answers_as_dockerd_does() {
    if !require_root("conformance") {
        return;
    }
    let corpus = Corpus::load(&berth_conformance::corpus_dir()).unwrap();
    let allow = AllowList::load(&berth_conformance::allow_file()).unwrap();
    let bridge = Bridge::new();
    let docker =
        Dockerd::start_with(&["--bridge", &bridge.0, "--iptables=false", "--ip-masq=false"]);
    let berth = Daemon::start();
    berth.import_busybox();
    let dockerd = Target {
        name: "dockerd".into(),
        socket: docker.dir.path().join("d.sock"),
        roots: vec![docker.dir.path().display().to_string()],
    };
    let ours = Target {
        name: "berth".into(),
        socket: berth.sock(),
        roots: vec![berth.dir.path().display().to_string()],
    };
    let opts = Options {
        only: std::env::var("BERTH_CONFORMANCE_ONLY").ok(),
        ..Options::default()
    };
    let started = std::time::Instant::now();
    let results = berth_conformance::run(&corpus, &allow, &dockerd, &ours, &opts);
    let table = report::render(&results);
    println!("{table}");
    println!(
        "{} scenarios in {:.1}s",
        results.len(),
        started.elapsed().as_secs_f64()
    );
    let strict = std::env::var("BERTH_CONFORMANCE_STRICT").is_ok_and(|v| v == "1");
    let unexpected = report::unexpected(&results, strict);
    // CI reports without gating (BERTH_CONFORMANCE_REPORT_ONLY=1, set by scripts/test.sh):
    // a few scenarios still differ run to run (timing of logs, connections closed before the
    // body is read), so a gate would fail at random. Run without it to gate.
    if std::env::var("BERTH_CONFORMANCE_REPORT_ONLY").is_ok_and(|v| v == "1") {
        println!("{unexpected} steps answer differently from dockerd (report only)");
        return;
    }
    assert_eq!(
        unexpected, 0,
        "{unexpected} steps answer differently from dockerd:\n{table}"
    );
}
