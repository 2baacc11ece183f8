//! berth's own client against `berth daemon` (root): Docker's syntax, output and exit codes.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::process::Command;

use common::daemon::Daemon;
use common::{require_root, run_to_files, stderr, stdout};

fn berth(d: &Daemon, args: &[&str]) -> std::process::Output {
    run_to_files(
        Command::new(common::berth())
            .arg("-H")
            .arg(d.host())
            .args(args),
    )
}

fn ok(d: &Daemon, args: &[&str]) -> String {
    let o = berth(d, args);
    assert!(
        o.status.success(),
        "berth {args:?}: {}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o).trim().to_owned()
}

#[test]
fn berth_client_runs_containers_like_docker() {
    if !require_root("berth_cli") {
        return;
    }
    let d = Daemon::start();
    d.import_busybox();
    let o = berth(
        &d,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    );
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        (stdout(&o).as_str(), stderr(&o).as_str()),
        ("out\n", "err\n")
    );
    assert_eq!(
        berth(&d, &["run", "--rm", "busybox", "nosuchcmd"])
            .status
            .code(),
        Some(127)
    );
    let id = ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "svc",
            "-e",
            "A=1",
            "busybox",
            "sh",
            "-c",
            "echo up; sleep 100",
        ],
    );
    assert_eq!(id.len(), 64);
    let ps = ok(&d, &["ps"]);
    assert!(ps.starts_with("CONTAINER ID   IMAGE     COMMAND"), "{ps}");
    assert!(ps.contains("svc"), "{ps}");
    assert_eq!(ok(&d, &["ps", "-q"]), id[..12]);
    assert_eq!(ok(&d, &["exec", "svc", "sh", "-c", "echo $A"]), "1");
    assert_eq!(ok(&d, &["logs", "svc"]), "up");
    assert_eq!(
        ok(&d, &["inspect", "-f", "{{.State.Status}}", "svc"]),
        "running"
    );
    assert!(ok(&d, &["images"]).contains("busybox"));
    ok(&d, &["stop", "-t", "0", "svc"]);
    ok(&d, &["rm", "svc"]);
    let o = berth(&d, &["rm", "svc"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("No such container: svc"),
        "{}",
        stderr(&o)
    );
    // A TTY through a pseudo-terminal, with the terminal's size.
    let cmd = format!(
        "stty rows 30 cols 100; {} -H {} run -it --rm busybox sh -c 'stty size; exit 6'",
        common::berth(),
        d.host()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(6), "{}", stdout(&o));
    assert!(stdout(&o).contains("30 100"), "{}", stdout(&o));
}

/// `berth completion bash`: clap's completion of commands and flags, and names from the daemon
/// for the arguments that take them, tried the way bash calls it.
#[test]
fn bash_completion_completes_flags_and_names_from_the_daemon() {
    if !require_root("bash_completion_completes_flags_and_names_from_the_daemon") {
        return;
    }
    let d = Daemon::start();
    d.import_busybox();
    ok(&d, &["create", "--name", "completion-probe", "busybox"]);
    let bin_dir = std::path::Path::new(common::berth()).parent().unwrap();
    let complete = |words: &str| {
        let script = format!(
            "source <(berth completion bash) && complete -p berth && \
             COMP_WORDS=({words}) && COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)) && \
             _berth_with_names berth && printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let o = run_to_files(
            Command::new("bash")
                .arg("-c")
                .arg(&script)
                .env(
                    "PATH",
                    format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", bin_dir.display()),
                )
                .env("DOCKER_HOST", d.host()),
        );
        assert!(o.status.success(), "{script}: {}", stderr(&o));
        stdout(&o)
    };
    let out = complete("berth stop compl");
    assert!(out.contains("-F _berth_with_names berth"), "{out}");
    assert!(out.lines().any(|l| l == "completion-probe"), "{out}");
    let out = complete("berth container rm compl");
    assert!(out.lines().any(|l| l == "completion-probe"), "{out}");
    let out = complete("berth rmi busy");
    assert!(out.lines().any(|l| l == "busybox:latest"), "{out}");
    let out = complete("berth ps --al");
    assert!(out.lines().any(|l| l == "--all"), "{out}");
    let out = complete("berth netw");
    assert!(out.lines().any(|l| l == "network"), "{out}");
    for shell in ["zsh", "fish"] {
        let script = ok(&d, &["completion", shell]);
        assert!(script.contains("berth"), "{shell}: {script}");
    }
    let man = tempfile::tempdir().unwrap();
    ok(&d, &["man", "--dir", man.path().to_str().unwrap()]);
    let page = std::fs::read_to_string(man.path().join("berth-ps.1")).unwrap();
    assert!(page.contains("List containers"), "{page}");
}

/// `load` and `save` draw a transfer bar on a terminal (run here under `script`, which gives
/// them one) and print nothing extra when piped.
#[test]
fn load_and_save_show_progress_only_on_a_terminal() {
    if !require_root("load_and_save_show_progress_only_on_a_terminal") {
        return;
    }
    let d = Daemon::start();
    d.import_busybox();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("busybox.tar");
    let archive = archive.to_str().unwrap();
    let piped = berth(&d, &["save", "-o", archive, "busybox"]);
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_eq!(stderr(&piped), "", "no bar when stderr is not a terminal");
    let piped = berth(&d, &["load", "-i", archive]);
    assert_eq!(stdout(&piped).trim(), "Loaded image: busybox:latest");
    assert_eq!(stderr(&piped), "");
    let on_tty = |args: &str| {
        let o = run_to_files(Command::new("script").args([
            "-qec",
            &format!("{} -H {} {args}", common::berth(), d.host()),
            "/dev/null",
        ]));
        assert!(o.status.success(), "{args}: {}", stdout(&o));
        stdout(&o)
    };
    let shown = on_tty(&format!("load -i {archive}"));
    assert!(shown.contains("Loading ["), "{shown:?}");
    assert!(shown.contains("Loaded image: busybox:latest"), "{shown:?}");
    let shown = on_tty(&format!("load -q -i {archive}"));
    assert!(!shown.contains("Loading"), "-q draws nothing: {shown:?}");
    let shown = on_tty(&format!("save -o {archive} busybox"));
    assert!(shown.contains("Saving"), "{shown:?}");
}

/// A log of 100,000 lines on two streams (and text that needs JSON escapes) comes back whole,
/// each stream in order, through berth's client and the docker CLI alike: the batched
/// reader, the one-chunk-per-batch framing and the client's grouped writes lose nothing.
#[test]
fn a_long_log_streams_whole_and_in_order() {
    let Some(d) = Daemon::with_busybox("a_long_log_streams_whole_and_in_order") else {
        return;
    };
    let script = r#"printf 'tab\there "q" \\ \303\251\n'; seq 1 100000; seq 1 1000 100000 >&2"#;
    let id = ok(&d, &["run", "-d", "busybox", "sh", "-c", script]);
    assert_eq!(ok(&d, &["wait", &id]), "0");
    let mut want_out = String::from("tab\there \"q\" \\ é\n");
    for i in 1..=100_000 {
        want_out.push_str(&format!("{i}\n"));
    }
    let want_err: String = (1..=100_000)
        .step_by(1000)
        .map(|i| format!("{i}\n"))
        .collect();
    for (client, o) in [
        ("berth", berth(&d, &["logs", &id])),
        ("docker", d.run(&["logs", &id])),
    ] {
        assert!(o.status.success(), "{client} logs: {}", stderr(&o));
        assert!(
            stdout(&o) == want_out,
            "{client} logs: stdout differs ({} bytes)",
            o.stdout.len()
        );
        assert_eq!(stderr(&o), want_err, "{client} logs: stderr");
    }
    // The two pipes are read as output arrives, so which stream ends the log varies; the
    // tail counts lines of both.
    let tail = berth(&d, &["logs", "--tail", "3", &id]);
    assert_eq!(
        tail.stdout
            .iter()
            .chain(&tail.stderr)
            .filter(|&&b| b == b'\n')
            .count(),
        3
    );
}
