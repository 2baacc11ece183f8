//! Regression tests for the published container escapes, each tried the way its exploit did,
//! through the real docker CLI against `berth daemon` (root): CVE-2019-5736 (overwriting the
//! engine binary through `/proc/<pid>/exe`), CVE-2024-21626 (a working directory through a
//! leaked fd) and CVE-2018-15664 (`docker cp` racing a symlink swap). Each test carries a
//! positive control, so an attack that silently stopped running cannot pass.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::{build_probe, stdout};

/// Waits for the container's log to end with `done` and returns it.
fn report_of(d: &Daemon, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let logs = d.ok(&["logs", id]);
        if logs.lines().any(|l| l == "done") {
            return logs;
        }
        assert!(Instant::now() < deadline, "probe did not finish:\n{logs}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Regular files under `dir` (not following symlinks) whose content contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if meta.is_file() && std::fs::read_to_string(&path).is_ok_and(|s| s.contains(needle))
        {
            found.push(path);
        }
    }
    found
}

/// CVE-2019-5736: the container makes `/evil` a script whose interpreter is `/proc/self/exe`,
/// so a `docker exec ct /evil` runs the engine's own binary inside the container, and a
/// process there holds an fd to it and re-opens it for writing once it is not busy. The
/// binary that runs must be one the container cannot write.
#[test]
fn exec_cannot_be_turned_into_a_write_on_the_engine_binary() {
    let Some(d) = Daemon::with_busybox("exec_cannot_be_turned_into_a_write_on_the_engine_binary")
    else {
        return;
    };
    let probe_dir = d.dir.path().join("probe");
    std::fs::create_dir_all(&probe_dir).unwrap();
    build_probe("exe_overwriter", &probe_dir);
    let mut args = vec![
        "run".to_owned(),
        "-d".to_owned(),
        "-v".to_owned(),
        format!("{}:/probe:ro", probe_dir.display()),
    ];
    // berth is dynamically linked: the host's libraries let its binary start in the
    // container, as it would in any glibc-based image (busybox alone has no loader).
    for lib in ["/lib", "/lib64", "/usr/lib"] {
        if Path::new(lib).exists() {
            args.extend(["-v".to_owned(), format!("{lib}:{lib}:ro")]);
        }
    }
    args.extend(["busybox".to_owned(), "/probe/exe_overwriter".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = d.ok(&args);
    d.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "printf '#!/proc/self/exe\\n' > /evil && chmod +x /evil",
    ]);
    for _ in 0..5 {
        // Fails: the engine's binary does not know the command. Running it is the attack.
        let _ = d.run(&["exec", &id, "/evil"]);
        d.ok(&["exec", &id, "sleep", "0.1"]);
    }
    d.ok(&["exec", &id, "touch", "/tmp/stop"]);
    let report = report_of(&d, &id);
    let escapes: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("escape "))
        .collect();
    assert!(
        escapes.is_empty(),
        "a binary outside the container opened for writing:\n{report}"
    );
    let exe = |l: &str| l.split(' ').nth(2).unwrap_or_default().to_owned();
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("seen ") && exe(l) != "/bin/busybox"),
        "the engine's binary never ran in the container (control failed):\n{report}"
    );
    assert!(
        report.lines().any(|l| l.starts_with("own ")),
        "the probe never re-opened an exe for writing (control failed):\n{report}"
    );
    d.ok(&["rm", "-f", &id]);
}

/// CVE-2024-21626: a working directory of `/proc/self/fd/<n>` reaches whatever directory the
/// engine left open as fd n, outside the container's root. berth refuses every such cwd, for
/// `run` and for `exec`, before the program runs.
#[test]
fn a_working_directory_through_a_leaked_fd_is_refused() {
    let Some(d) = Daemon::with_busybox("a_working_directory_through_a_leaked_fd_is_refused") else {
        return;
    };
    let listing = "ls -a ../../../.. && echo listed";
    assert_eq!(
        d.ok(&["run", "--rm", "-w", "/tmp", "busybox", "pwd"]),
        "/tmp",
        "control: a plain working directory works"
    );
    let id = d.ok(&["run", "-d", "busybox", "sleep", "600"]);
    for fd in 3..=12 {
        let cwd = format!("/proc/self/fd/{fd}");
        for argv in [
            vec!["run", "--rm", "-w", &cwd, "busybox", "sh", "-c", listing],
            vec!["exec", "-w", &cwd, &id, "sh", "-c", listing],
        ] {
            let o = d.run(&argv);
            assert!(
                !o.status.success() && !stdout(&o).contains("listed"),
                "{argv:?} ran in a leaked directory:\n{}",
                stdout(&o)
            );
        }
    }
    d.ok(&["rm", "-f", &id]);
}

/// CVE-2018-15664: while `docker cp` resolves a path in the container, the container swaps a
/// directory on that path for a symlink to an absolute path that exists only on the host.
/// Copies out must never read the host's file and copies in must never write beside it.
#[test]
fn cp_racing_a_symlink_swap_stays_in_the_container() {
    let Some(d) = Daemon::with_busybox("cp_racing_a_symlink_swap_stays_in_the_container") else {
        return;
    };
    let host_dir = tempfile::Builder::new()
        .prefix("berth-cve-2018-15664-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::write(host_dir.path().join("secret"), "HOST-SECRET\n").unwrap();
    let swap = format!(
        "mkdir -p /w/d && echo container > /w/d/secret && ln -s {} /w/sym && \
         while :; do mv /w/d /w/t; mv /w/sym /w/d; mv /w/d /w/sym; mv /w/t /w/d; done",
        host_dir.path().display()
    );
    let id = d.ok(&["run", "-d", "busybox", "sh", "-c", &swap]);
    let work = tempfile::tempdir().unwrap();
    let (mut copied, mut refused) = (0, 0);
    for i in 0..150 {
        // A file, and every tenth time the whole directory (a walk, not one open).
        let (src, out) = if i % 10 == 0 {
            (format!("{id}:/w/d"), work.path().join(format!("dir{i}")))
        } else {
            (
                format!("{id}:/w/d/secret"),
                work.path().join(format!("file{i}")),
            )
        };
        let o = d.run(&["cp", &src, out.to_str().unwrap()]);
        if !o.status.success() {
            refused += 1;
            continue;
        }
        copied += 1;
    }
    // A copy taken while the path was the symlink is that symlink, as docker copies it: look
    // at every file copied out without following links on the host.
    let leaked = files_containing(work.path(), "HOST-SECRET");
    assert!(
        leaked.is_empty(),
        "docker cp read the host's file into {leaked:?}"
    );
    let payload = work.path().join("payload");
    std::fs::write(&payload, "from the host\n").unwrap();
    let mut uploaded = 0;
    for i in 0..100 {
        let dest = format!("{id}:/w/d/p{i}");
        if d.run(&["cp", payload.to_str().unwrap(), &dest])
            .status
            .success()
        {
            uploaded += 1;
        }
    }
    let on_host: Vec<String> = std::fs::read_dir(host_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        on_host,
        ["secret"],
        "docker cp wrote into the host directory"
    );
    assert!(
        copied > 0 && refused > 0 && uploaded > 0,
        "the race never saw both states (control failed): {copied} copied, {refused} refused, \
         {uploaded} uploaded"
    );
    d.ok(&["rm", "-f", &id]);
}
