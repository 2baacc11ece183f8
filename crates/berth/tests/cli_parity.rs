//! CLI parity (issue 15): every scenario in `cli_parity/scenarios.txt` is run through the real
//! docker CLI (28.x) and through berth's CLI against the same `berth daemon`, and stdout, stderr
//! and the exit code are compared. It prints a table of same / different; a difference not
//! listed with its reason in `cli_parity/differences.txt` fails the test, and so does a listed
//! one that no longer differs (the list stays true).
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::daemon::{Daemon, docker_bin};
use common::{berth, require_root};

/// One CLI's answer.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn data(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli_parity")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// Lines that are neither blank nor comments.
fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
}

/// Masks what differs between two runs a moment apart rather than between the CLIs: the
/// program's name in messages, and, for volatile scenarios, every number.
fn normalise(s: &str, program: &str, volatile: bool) -> String {
    let s = s
        .replace(&format!("{program}: "), "CLI: ")
        .replace(&format!("'{program} "), "'CLI ")
        .replace(&format!("{program} "), "CLI ");
    if !volatile {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut in_number = false;
    for c in s.chars() {
        if c.is_ascii_digit() || (in_number && c == '.') {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    // Column widths follow the masked values' lengths; compare the words.
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn answer(d: &Daemon, program: &str, bin: &str, line: &str, volatile: bool) -> Answer {
    let o = common::run_to_files(
        Command::new("timeout")
            .args(["20", "sh", "-c", &format!("{bin} {line}")])
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
            .env("COLUMNS", "200")
            .env_remove("DOCKER_CONTEXT"),
    );
    Answer {
        code: o.status.code(),
        stdout: normalise(&String::from_utf8_lossy(&o.stdout), program, volatile),
        stderr: normalise(&String::from_utf8_lossy(&o.stderr), program, volatile),
    }
}

/// The fixture: containers in each state the scenarios name, a volume, the busybox image.
fn fixture(d: &Daemon) -> BTreeMap<&'static str, String> {
    d.import_busybox();
    let mut ids = BTreeMap::new();
    ids.insert(
        "{run}",
        d.ok(&[
            "run",
            "-d",
            "--name",
            "parity-run",
            "--label",
            "x=yes",
            "busybox",
            "sleep",
            "600",
        ]),
    );
    let stopped = d.run(&[
        "run",
        "--name",
        "parity-stopped",
        "busybox",
        "sh",
        "-c",
        "echo hi > /tmp/made; exit 2",
    ]);
    assert_eq!(stopped.status.code(), Some(2));
    ids.insert("{stopped}", "parity-stopped".to_owned());
    let logger = d.ok(&[
        "run",
        "-d",
        "--name",
        "parity-logger",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two; echo three",
    ]);
    d.ok(&["wait", &logger]);
    ids.insert("{logger}", "parity-logger".to_owned());
    d.ok(&[
        "run",
        "-d",
        "--name",
        "parity-web",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "sleep",
        "600",
    ]);
    ids.insert("{web}", "parity-web".to_owned());
    d.ok(&["volume", "create", "parityvol"]);
    let host = format!("host={}", d.host());
    d.ok(&[
        "context",
        "create",
        "parityctx",
        "--description",
        "made for parity",
        "--docker",
        &host,
    ]);
    ids
}

#[test]
fn berth_cli_answers_as_docker_cli_does() {
    if !require_root("berth_cli_answers_as_docker_cli_does") {
        return;
    }
    let d = Daemon::start();
    let ids = fixture(&d);
    let scenarios = data("scenarios.txt");
    let differences = data("differences.txt");
    let known: BTreeMap<&str, &str> = entries(&differences)
        .map(|l| {
            let (line, why) = l.split_once(" | ").unwrap_or((l, ""));
            assert!(
                !why.trim().is_empty(),
                "differences.txt: no reason for {line:?}"
            );
            (line.trim(), why.trim())
        })
        .collect();
    let (mut same, mut listed, mut unexpected, mut stale) = (0, 0, Vec::new(), Vec::new());
    println!("{:<72} result", "scenario");
    for raw in entries(&scenarios) {
        let (volatile, line) = match raw.strip_prefix('~') {
            Some(l) => (true, l),
            None => (false, raw),
        };
        let mut cmd = line.to_owned();
        for (k, v) in &ids {
            cmd = cmd.replace(k, v);
        }
        // Output that names a time ("3 seconds ago") can cross a second between the two runs:
        // a difference counts only if it is there twice.
        let mut differs = None;
        for _ in 0..2 {
            let docker = answer(&d, "docker", docker_bin(), &cmd, volatile);
            let ours = answer(&d, "berth", berth(), &cmd, volatile);
            if docker == ours {
                differs = None;
                break;
            }
            differs = Some((docker, ours));
            std::thread::sleep(Duration::from_millis(300));
        }
        let result = match (&differs, known.get(raw)) {
            (None, None) => {
                same += 1;
                "same"
            }
            (None, Some(_)) => {
                stale.push(raw.to_owned());
                "same (listed as different)"
            }
            (Some(_), Some(_)) => {
                listed += 1;
                "different (listed)"
            }
            (Some((docker, ours)), None) => {
                unexpected.push(format!("{raw}\n  docker: {docker:?}\n  berth:  {ours:?}"));
                "DIFFERENT"
            }
        };
        println!("{raw:<72} {result}");
    }
    println!(
        "\n{} scenarios: {same} same, {listed} different on purpose (differences.txt), {} unexpected",
        same + listed + unexpected.len() + stale.len(),
        unexpected.len()
    );
    assert!(
        unexpected.is_empty(),
        "berth's CLI answered differently from docker's:\n{}",
        unexpected.join("\n")
    );
    assert!(
        stale.is_empty(),
        "listed in differences.txt but the same now (remove them): {stale:?}"
    );
    for name in [
        "parity-run",
        "parity-stopped",
        "parity-logger",
        "parity-web",
    ] {
        let _ = d.run(&["rm", "-f", name]);
    }
}

/// Contexts are shared with the docker CLI: one made by docker is used by berth (and the
/// other way round), and switching with either CLI switches both.
#[test]
fn contexts_are_shared_with_the_docker_cli() {
    if !require_root("contexts_are_shared_with_the_docker_cli") {
        return;
    }
    let d = Daemon::start();
    d.import_busybox();
    d.ok(&["create", "--name", "ctx-probe", "busybox"]);
    let config = tempfile::tempdir().unwrap();
    // Neither CLI is told where the daemon is but through the context.
    let cli = |bin: &str, args: &[&str]| {
        common::run_to_files(
            Command::new(bin)
                .args(args)
                .env("DOCKER_CONFIG", config.path())
                .env_remove("DOCKER_HOST")
                .env_remove("BERTH_HOST")
                .env_remove("DOCKER_CONTEXT"),
        )
    };
    let ok = |bin: &str, args: &[&str]| {
        let o = cli(bin, args);
        assert!(
            o.status.success(),
            "{bin} {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    let host = format!("host={}", d.host());
    ok(
        docker_bin(),
        &["context", "create", "bydocker", "--docker", &host],
    );
    ok(
        berth(),
        &["context", "create", "byberth", "--docker", &host],
    );
    assert_eq!(
        ok(docker_bin(), &["context", "ls", "-q"]),
        "byberth\nbydocker\ndefault"
    );
    ok(berth(), &["context", "use", "bydocker"]);
    assert_eq!(ok(docker_bin(), &["context", "show"]), "bydocker");
    // berth reaches the daemon through the context docker made.
    let names = ok(berth(), &["ps", "-a", "--format", "{{.Names}}"]);
    assert!(names.contains("ctx-probe"), "{names}");
    let names = ok(
        berth(),
        &["--context", "byberth", "ps", "-a", "--format", "{{.Names}}"],
    );
    assert!(names.contains("ctx-probe"), "{names}");
    let o = cli(berth(), &["context", "rm", "bydocker"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the current context is not removed"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("is in use"));
    ok(docker_bin(), &["context", "use", "default"]);
    assert_eq!(ok(berth(), &["context", "show"]), "default");
    ok(berth(), &["context", "rm", "bydocker", "byberth"]);
    assert_eq!(ok(docker_bin(), &["context", "ls", "-q"]), "default");
    let _ = d.run(&["rm", "-f", "ctx-probe"]);
}
