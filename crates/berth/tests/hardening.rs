//! Issue 14, findings 4, 5 and 7: bad values refused the way dockerd refuses them, volume
//! subpaths honoured inside their volume, and the small wrongs of `cp`, `export` and
//! `inspect` — through the API and the real docker CLI against `berth daemon` (root), with
//! the API cases run against a private dockerd too, so the expectations are Docker's.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use common::daemon::Daemon;
use common::dockerd::Dockerd;
use common::{stderr, stdout};

/// One API call over a unix socket: status and JSON body (`null` when there is none).
fn api(sock: &Path, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut c = Command::new("curl");
    c.args(["-s", "-w", "\n%{http_code}", "-X", method, "--unix-socket"])
        .arg(sock)
        .args(["-H", "Content-Type: application/json"]);
    if let Some(b) = body {
        c.args(["-d", &b.to_string()]);
    }
    let o = c.arg(format!("http://x/v1.41{path}")).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (
        code.trim().parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// What a daemon must do with one create body.
#[derive(Clone, Copy)]
enum Expect {
    /// 400 with this message, from berth and dockerd.
    Refused(&'static str),
    /// berth refuses it at create (400, this message); dockerd 20.10 accepts it and fails
    /// only at start — which is the hole berth closes.
    RefusedByBerth(&'static str),
    /// The host has no Block I/O weight for dockerd (it warns and discards the value);
    /// where it has one, an out-of-range weight is refused.
    RefusedOrDiscarded(&'static str),
}

fn create_cases() -> Vec<(Value, Expect)> {
    use Expect::{Refused, RefusedByBerth, RefusedOrDiscarded};
    let hc = |h: Value| json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": h});
    let cfg = |c: Value| {
        let mut v = json!({"Image": "busybox", "Cmd": ["true"]});
        for (k, x) in c.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    vec![
        (
            hc(json!({"Memory": -9})),
            Refused("Minimum memory limit allowed is 6MB"),
        ),
        (
            hc(json!({"Memory": 1000})),
            Refused("Minimum memory limit allowed is 6MB"),
        ),
        (
            hc(json!({"Memory": 10_485_760, "MemorySwap": 5_242_880})),
            Refused("Minimum memoryswap limit should be larger than memory limit, see usage"),
        ),
        (
            hc(json!({"MemorySwap": 10_485_760})),
            Refused(
                "You should always set the Memory limit when using Memoryswap limit, see usage",
            ),
        ),
        (
            hc(json!({"Memory": 10_485_760, "MemoryReservation": 20_971_520})),
            Refused(
                "Minimum memory limit can not be less than memory reservation limit, see usage",
            ),
        ),
        (
            hc(json!({"MemorySwappiness": 200})),
            Refused("Invalid value: 200, valid memory swappiness range is 0-100"),
        ),
        (
            hc(json!({"NanoCpus": -1})),
            Refused("Range of CPUs is from 0.01 to"),
        ),
        (
            hc(json!({"CpuPeriod": 5})),
            Refused(
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
            ),
        ),
        (
            hc(json!({"CpuQuota": 5})),
            Refused("CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        ),
        (
            hc(json!({"NanoCpus": 1_000_000, "CpuQuota": 100_000})),
            Refused("Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
        ),
        (
            hc(json!({"CpusetCpus": "abc"})),
            Refused("Invalid value abc for cpuset cpus: invalid format: abc"),
        ),
        (
            hc(json!({"ShmSize": -1})),
            Refused("SHM size can not be less than 0"),
        ),
        (
            hc(json!({"OomScoreAdj": 5000})),
            Refused("Invalid value 5000, range for oom score adj is [-1000, 1000]"),
        ),
        (
            cfg(json!({"StopSignal": "SIGBOGUS"})),
            Refused("Invalid signal: SIGBOGUS"),
        ),
        (
            cfg(json!({"Env": ["A=1", "=x"]})),
            Refused("invalid environment variable: =x"),
        ),
        (
            cfg(json!({"WorkingDir": "rel/dir"})),
            Refused("the working directory 'rel/dir' is invalid, it needs to be an absolute path"),
        ),
        (
            hc(json!({"CpuShares": -1})),
            RefusedByBerth("invalid CPU shares: must be positive"),
        ),
        (
            hc(json!({"Ulimits": [{"Name": "nofile", "Soft": -5, "Hard": 10}]})),
            RefusedByBerth("invalid ulimit argument: nofile=-5:10"),
        ),
        (
            hc(json!({"Ulimits": [{"Name": "nofile", "Soft": 20, "Hard": 10}]})),
            RefusedByBerth("ulimit soft limit must be less than or equal to hard limit: 20 > 10"),
        ),
        (
            hc(json!({"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]})),
            RefusedByBerth("invalid ulimit type: bogus"),
        ),
        (
            hc(json!({"BlkioWeight": 5000})),
            RefusedOrDiscarded("Range of blkio weight is from 10 to 1000"),
        ),
    ]
}

fn message(v: &Value) -> String {
    v["message"].as_str().unwrap_or_default().to_owned()
}

/// Runs the create table against one daemon; `berth` says which it is.
fn check_creates(sock: &Path, berth: bool) {
    let (_, before) = api(sock, "GET", "/containers/json?all=1", None);
    for (body, expect) in create_cases() {
        let (code, resp) = api(sock, "POST", "/containers/create", Some(&body));
        let who = if berth { "berth" } else { "dockerd" };
        match expect {
            Expect::Refused(msg) => {
                assert_eq!(code, 400, "{who}: {body} -> {resp}");
                assert!(message(&resp).starts_with(msg), "{who}: {body} -> {resp}");
            }
            Expect::RefusedByBerth(msg) if berth => {
                assert_eq!(code, 400, "{who}: {body} -> {resp}");
                assert!(message(&resp).starts_with(msg), "{who}: {body} -> {resp}");
            }
            Expect::RefusedByBerth(_) => {
                // dockerd 20.10: created, and the start fails (500) — the hole.
                assert_eq!(code, 201, "{who}: {body} -> {resp}");
                let id = resp["Id"].as_str().unwrap();
                let (start, _) = api(sock, "POST", &format!("/containers/{id}/start"), None);
                assert!(start >= 400, "{who}: {body} started");
                api(sock, "DELETE", &format!("/containers/{id}?force=1"), None);
            }
            Expect::RefusedOrDiscarded(msg) => {
                if code == 201 {
                    let w = resp["Warnings"].to_string();
                    assert!(w.contains("Weight discarded"), "{who}: {body} -> {resp}");
                    let id = resp["Id"].as_str().unwrap();
                    api(sock, "DELETE", &format!("/containers/{id}?force=1"), None);
                } else {
                    assert_eq!(code, 400, "{who}: {body} -> {resp}");
                    assert_eq!(message(&resp), msg, "{who}");
                }
            }
        }
    }
    // Nothing was made by a refused create.
    let (_, after) = api(sock, "GET", "/containers/json?all=1", None);
    assert_eq!(before, after);
}

#[test]
fn invalid_values_are_refused_at_create_as_dockerd_refuses_them() {
    let Some(d) =
        Daemon::with_busybox("invalid_values_are_refused_at_create_as_dockerd_refuses_them")
    else {
        return;
    };
    check_creates(&d.sock(), true);
    let dd = Dockerd::start();
    check_creates(&dd.dir.path().join("d.sock"), false);
}

fn check_updates(sock: &Path, id: &str) {
    for (body, msg) in [
        (json!({"Memory": -9}), "Minimum memory limit allowed is 6MB"),
        (
            json!({"CpuPeriod": 5}),
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ),
        (json!({"NanoCpus": -1}), "Range of CPUs is from 0.01 to"),
        (
            json!({"CpusetCpus": "abc"}),
            "Invalid value abc for cpuset cpus: invalid format: abc",
        ),
    ] {
        let (code, resp) = api(
            sock,
            "POST",
            &format!("/containers/{id}/update"),
            Some(&body),
        );
        assert_eq!(code, 400, "{body} -> {resp}");
        assert!(message(&resp).starts_with(msg), "{body} -> {resp}");
    }
    let (_, insp) = api(sock, "GET", &format!("/containers/{id}/json"), None);
    assert_eq!(
        insp["HostConfig"]["Memory"], 67_108_864,
        "a refused update stored nothing"
    );
}

#[test]
fn invalid_updates_are_refused_and_store_nothing() {
    let Some(d) = Daemon::with_busybox("invalid_updates_are_refused_and_store_nothing") else {
        return;
    };
    let id = d.ok(&["run", "-d", "-m", "64m", "busybox", "sleep", "600"]);
    check_updates(&d.sock(), &id);
    let limit = common::cgroup_dir("memory", &id).join("memory.limit_in_bytes");
    if limit.exists() {
        assert_eq!(std::fs::read_to_string(&limit).unwrap().trim(), "67108864");
    }
    d.ok(&["update", "-m", "96m", "--memory-swap", "192m", &id]);
    let (_, insp) = api(&d.sock(), "GET", &format!("/containers/{id}/json"), None);
    assert_eq!(insp["HostConfig"]["Memory"], 100_663_296);
    let dd = Dockerd::start();
    let id = dd.ok(&["run", "-d", "-m", "64m", "busybox", "sleep", "600"]);
    check_updates(&dd.dir.path().join("d.sock"), &id);
}

#[test]
fn exec_as_a_missing_user_fails_like_docker() {
    let Some(d) = Daemon::with_busybox("exec_as_a_missing_user_fails_like_docker") else {
        return;
    };
    let id = d.ok(&["run", "-d", "busybox", "sleep", "600"]);
    for args in [
        vec!["exec", "-u", "nosuchuser", &id, "true"],
        vec!["exec", "-u", "root:nosuchgroup", &id, "true"],
    ] {
        let o = d.run(&args);
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert_eq!(o.status.code(), Some(126), "{args:?}: {all}");
        assert!(all.contains("unable to find"), "{args:?}: {all}");
        assert!(
            !all.contains("Unrecognized input header"),
            "{args:?}: {all}"
        );
    }
    // The exec is recorded as failed with Docker's code, and the container goes on.
    assert_eq!(d.ok(&["exec", "-u", "nobody", &id, "id", "-u"]), "65534");
}

/// Makes volume `name` holding `sub/inside`, `top-secret`, and `esc -> /` (a symlink that
/// must resolve inside the volume, not on the host).
fn volume_with_subdir(d: &Daemon, name: &str) {
    d.ok(&["volume", "create", name]);
    d.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{name}:/v"),
        "busybox",
        "sh",
        "-c",
        "mkdir -p /v/sub && echo in > /v/sub/inside && echo no > /v/top-secret && ln -s / /v/esc && ln -s ../.. /v/up",
    ]);
}

#[test]
fn volume_subpath_mounts_only_the_subdirectory() {
    let Some(d) = Daemon::with_busybox("volume_subpath_mounts_only_the_subdirectory") else {
        return;
    };
    volume_with_subdir(&d, "subv");
    let m = |sub: &str| format!("type=volume,src=subv,dst=/d,volume-subpath={sub}");
    let seen = d.ok(&["run", "--rm", "--mount", &m("sub"), "busybox", "ls", "/d"]);
    assert_eq!(seen, "inside", "only the subdirectory is mounted");
    // Symlinks are resolved inside the volume: `/` and `../..` are the volume's root.
    for link in ["esc", "up"] {
        let seen = d.ok(&["run", "--rm", "--mount", &m(link), "busybox", "ls", "/d"]);
        let names: Vec<&str> = seen.lines().collect();
        assert!(names.contains(&"top-secret"), "{link}: {seen}");
        assert!(!names.contains(&"etc"), "{link} left the volume: {seen}");
    }
    // Writes land in the subdirectory.
    d.ok(&[
        "run",
        "--rm",
        "--mount",
        &m("sub"),
        "busybox",
        "sh",
        "-c",
        "echo w > /d/new",
    ]);
    let all = d.ok(&["run", "--rm", "-v", "subv:/v", "busybox", "ls", "/v/sub"]);
    assert_eq!(all.lines().collect::<Vec<_>>(), ["inside", "new"]);
    // A missing subdirectory is moby's error; a path that leaves the volume is refused at
    // create.
    let o = d.run(&["run", "--rm", "--mount", &m("missing"), "busybox", "true"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot access path"), "{}", stderr(&o));
    assert!(stderr(&o).contains("missing"), "{}", stderr(&o));
    for bad in ["../x", "/etc"] {
        let o = d.run(&["create", "--mount", &m(bad), "busybox", "true"]);
        assert!(
            stderr(&o).contains("subpath must be a relative path within the volume"),
            "{bad}: {}",
            stderr(&o)
        );
    }
    assert_eq!(d.ok(&["ps", "-aq"]), "", "nothing left by the refused ones");
    assert_no_mounts_under(&d.dir.path().join("exec").join("containers"));
}

fn assert_no_mounts_under(dir: &Path) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let left: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| Path::new(p).starts_with(dir))
        .collect();
    assert!(
        left.is_empty(),
        "mounts left under {}: {left:?}",
        dir.display()
    );
}

fn exec_root_entries(d: &Daemon) -> Vec<PathBuf> {
    std::fs::read_dir(d.dir.path().join("exec").join("containers"))
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn cp_export_and_inspect_say_what_docker_says() {
    let Some(d) = Daemon::with_busybox("cp_export_and_inspect_say_what_docker_says") else {
        return;
    };
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "cpx",
        "busybox",
        "sh",
        "-c",
        "ln -s / /rootlink; sleep 600",
    ]);
    // A missing path.
    let o = d.run(&["cp", "cpx:/nonexistent", d.dir.path().to_str().unwrap()]);
    assert!(
        stderr(&o).contains("Could not find the file /nonexistent in container cpx"),
        "{}",
        stderr(&o)
    );
    // A symlink to / is archived as a link to `/`.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "curl -s --unix-socket {} 'http://x/v1.41/containers/{id}/archive?path=/rootlink' | tar tvf -",
            d.sock().display()
        ))
        .output()
        .unwrap();
    let listing = stdout(&out);
    assert!(listing.trim_end().ends_with("rootlink -> /"), "{listing}");
    // `MemorySwap` as Docker shows it: twice the memory limit unless set.
    let m = d.ok(&["create", "-m", "64m", "busybox", "true"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.HostConfig.MemorySwap}}", &m]),
        "134217728"
    );
    // `export` then `rm` of a never-started container leaves nothing in the exec root.
    let before = exec_root_entries(&d);
    let tar = d.dir.path().join("export.tar");
    d.ok(&["export", "-o", tar.to_str().unwrap(), &m]);
    d.ok(&["rm", &m]);
    assert_eq!(exec_root_entries(&d), before);
}

/// A tar whose symlink points at itself, then a file through it.
fn loop_tar(path: &Path) {
    let f = std::fs::File::create(path).unwrap();
    let mut b = tar::Builder::new(f);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "loop", "loop").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    b.append_data(&mut h, "loop/file", &b"x\n"[..]).unwrap();
    b.finish().unwrap();
}

#[test]
fn a_symlink_loop_in_an_upload_is_a_clear_400() {
    let Some(d) = Daemon::with_busybox("a_symlink_loop_in_an_upload_is_a_clear_400") else {
        return;
    };
    let id = d.ok(&["run", "-d", "busybox", "sleep", "600"]);
    let tar = d.dir.path().join("loop.tar");
    loop_tar(&tar);
    let o = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-X", "PUT", "--unix-socket"])
        .arg(d.sock())
        .args(["-H", "Content-Type: application/x-tar", "--data-binary"])
        .arg(format!("@{}", tar.display()))
        .arg(format!("http://x/v1.41/containers/{id}/archive?path=/tmp"))
        .output()
        .unwrap();
    let text = stdout(&o);
    let (body, code) = text.rsplit_once('\n').unwrap();
    assert_eq!(code.trim(), "400", "{body}");
    let v: Value = serde_json::from_str(body).unwrap();
    assert!(!message(&v).is_empty(), "{body}");
    // Nothing escaped: the container's /tmp has at most the link itself.
    let ls = d.ok(&["exec", &id, "ls", "-a", "/tmp"]);
    assert!(!ls.contains("file"), "{ls}");
}
