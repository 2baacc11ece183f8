//! `berth runtime` (runc's CLI) driven as containerd's shim drives it, with real containers.
//! Root only; each test has its own state root, ids and cgroups.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;

use common::*;

#[test]
fn run_reports_exit_code_and_output() {
    if !require_root("run_reports_exit_code_and_output") {
        return;
    }
    let env = RuntimeEnv::new();
    let b = bundle(|v| args(v, &["sh", "-c", "echo out; echo err >&2; exit 3"]));
    let id = env.id();
    let o = env.run(&["run", "-b", b.path().to_str().unwrap(), &id]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    assert!(
        !env.root.path().join(&id).exists(),
        "run deletes the container"
    );
    assert!(!cgroup_dir("memory", &id).exists(), "and its cgroup");
}

#[test]
fn default_spec_isolates_like_docker() {
    if !require_root("default_spec_isolates_like_docker") {
        return;
    }
    let env = RuntimeEnv::new();
    let b = bundle(|v| {
        v["hostname"] = "boxy".into();
        args(
            v,
            &[
                "sh",
                "-c",
                "echo pid=$$; hostname; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; wc -c < /proc/kcore; cat /proc/timer_list | wc -c; ls /proc/self/fd",
            ],
        );
    });
    let o = env.run(&["run", "-b", b.path().to_str().unwrap(), &env.id()]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pid=1");
    assert_eq!(lines[1], "boxy");
    assert!(out.contains("CapEff:\t00000000a80425fb"), "{out}");
    assert!(
        out.contains("Seccomp:\t2"),
        "seccomp filter installed: {out}"
    );
    assert_eq!(lines[5], "0", "/proc/kcore is masked");
    assert_eq!(lines[6], "0", "/proc/timer_list is masked");
    let fds: Vec<&str> = lines[7..].to_vec();
    assert!(
        fds.len() <= 4,
        "only stdio (and ls's own dir fd) are open: {fds:?}"
    );
}

#[test]
fn readonly_paths_and_mount_flags() {
    if !require_root("readonly_paths_and_mount_flags") {
        return;
    }
    let env = RuntimeEnv::new();
    let b = bundle(|v| {
        args(
            v,
            &[
                "sh",
                "-c",
                "echo 1 > /proc/sys/kernel/core_pattern && echo WROTE; echo x > /sys/fs/cgroup/memory/memory.limit_in_bytes && echo CGWROTE; true",
            ],
        );
    });
    let o = env.run(&["run", "-b", b.path().to_str().unwrap(), &env.id()]);
    assert!(
        !stdout(&o).contains("WROTE"),
        "/proc/sys and the cgroup tree are read-only: {}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn cgroup_limits_are_applied_and_updated() {
    if !require_root("cgroup_limits_are_applied_and_updated") {
        return;
    }
    let env = RuntimeEnv::new();
    let b = bundle(|v| {
        args(v, &["sleep", "30"]);
        v["linux"]["resources"]["memory"] = serde_json::json!({"limit": 67108864});
        v["linux"]["resources"]["pids"] = serde_json::json!({"limit": 20});
    });
    let id = env.id();
    let o = env.run(&["create", "-b", b.path().to_str().unwrap(), &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mem =
        std::fs::read_to_string(cgroup_dir("memory", &id).join("memory.limit_in_bytes")).unwrap();
    assert_eq!(mem.trim(), "67108864");
    let pids = std::fs::read_to_string(cgroup_dir("pids", &id).join("pids.max")).unwrap();
    assert_eq!(pids.trim(), "20");
    assert!(env.run(&["start", &id]).status.success());
    let o = env.run(&["update", "--memory", "134217728", "--pids-limit", "30", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mem =
        std::fs::read_to_string(cgroup_dir("memory", &id).join("memory.limit_in_bytes")).unwrap();
    assert_eq!(mem.trim(), "134217728");
    let o = env.run(&["exec", &id, "cat", "/sys/fs/cgroup/pids/pids.max"]);
    assert_eq!(
        stdout(&o).trim(),
        "30",
        "the container sees its own cgroup: {}",
        stderr(&o)
    );
    assert!(env.run(&["delete", "--force", &id]).status.success());
    assert!(!cgroup_dir("memory", &id).exists());
}

fn status(env: &RuntimeEnv, id: &str) -> String {
    let o = env.run(&["state", id]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v["status"].as_str().unwrap_or("?").to_owned()
}

#[test]
fn lifecycle_create_start_pause_kill_delete() {
    if !require_root("lifecycle_create_start_pause_kill_delete") {
        return;
    }
    let env = RuntimeEnv::new();
    let b = bundle(|v| args(v, &["sleep", "30"]));
    let id = env.id();
    let pid_file = b.path().join("pid");
    let o = env.run(&[
        "create",
        "-b",
        b.path().to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(status(&env, &id), "created");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert!(env.run(&["start", &id]).status.success());
    assert_eq!(status(&env, &id), "running");
    assert!(
        !env.run(&["start", &id]).status.success(),
        "start twice is refused"
    );
    let o = env.run(&["ps", "-f", "json", &id]);
    let pids: Vec<i32> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(pids, vec![pid]);
    assert!(env.run(&["pause", &id]).status.success());
    assert_eq!(status(&env, &id), "paused");
    assert!(env.run(&["resume", &id]).status.success());
    assert_eq!(status(&env, &id), "running");
    let o = env.run(&["delete", &id]);
    assert!(!o.status.success(), "a running container needs --force");
    assert!(env.run(&["kill", &id, "KILL"]).status.success());
    for _ in 0..200 {
        if status(&env, &id) == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(status(&env, &id), "stopped");
    assert!(env.run(&["delete", &id]).status.success());
    let o = env.run(&["state", &id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    assert!(!cgroup_dir("freezer", &id).exists());
}

#[test]
fn exec_runs_in_the_container() {
    if !require_root("exec_runs_in_the_container") {
        return;
    }
    let env = RuntimeEnv::new();
    let b = bundle(|v| {
        v["hostname"] = "inside".into();
        args(v, &["sleep", "30"]);
    });
    let id = env.id();
    assert!(
        env.run(&["run", "-d", "-b", b.path().to_str().unwrap(), &id])
            .status
            .success()
    );
    let o = env.run(&[
        "exec",
        "-e",
        "X=42",
        &id,
        "sh",
        "-c",
        "echo $X $(hostname) $$; exit 5",
    ]);
    assert_eq!(o.status.code(), Some(5));
    let out = stdout(&o);
    assert!(out.starts_with("42 inside "), "{out}");
    let o = env.run(&["exec", &id, "no-such-program"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("executable file not found in $PATH"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn tty_through_console_socket() {
    if !require_root("tty_through_console_socket") {
        return;
    }
    let env = RuntimeEnv::new();
    let b = bundle(|v| {
        v["process"]["terminal"] = true.into();
        args(v, &["sh", "-c", "tty; echo hello-from-tty"]);
    });
    let sock_path = b.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let id = env.id();
    let b_path = b.path().to_str().unwrap().to_owned();
    let (root, idc, sp) = (env.root.path().to_owned(), id.clone(), sock_path.clone());
    let create = std::thread::spawn(move || {
        run_to_files(
            Command::new(berth())
                .args(["runtime", "--root"])
                .arg(&root)
                .args([
                    "create",
                    "-b",
                    &b_path,
                    "--console-socket",
                    sp.to_str().unwrap(),
                    &idc,
                ]),
        )
    });
    let (conn, _) = listener.accept().unwrap();
    let (master, _name) = berth_runtime::sys::fd::recv_fd(conn.as_fd()).unwrap();
    let o = create.join().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(env.run(&["start", &id]).status.success());
    let mut out = Vec::new();
    let mut f = std::fs::File::from(master);
    let mut buf = [0u8; 1024];
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("hello-from-tty"), "{text}");
}

#[test]
fn seccomp_profile_denies_a_syscall() {
    if !require_root("seccomp_profile_denies_a_syscall") {
        return;
    }
    let env = RuntimeEnv::new();
    let b = bundle(|v| {
        args(
            v,
            &[
                "sh",
                "-c",
                "mkdir /tmp/x && echo MADE; unshare -U true && echo UNSHARED; true",
            ],
        );
        v["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    });
    let o = env.run(&["run", "-b", b.path().to_str().unwrap(), &env.id()]);
    assert!(!stdout(&o).contains("MADE"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
    // Docker's default profile (from `spec`) refuses unshare(CLONE_NEWUSER).
    let b = bundle(|v| args(v, &["sh", "-c", "unshare -U true && echo UNSHARED; true"]));
    let o = env.run(&["run", "-b", b.path().to_str().unwrap(), &env.id()]);
    assert!(!stdout(&o).contains("UNSHARED"), "{}", stdout(&o));
}

#[test]
fn bad_input_leaves_nothing_behind() {
    if !require_root("bad_input_leaves_nothing_behind") {
        return;
    }
    let env = RuntimeEnv::new();
    let b = bundle(|v| args(v, &["true"]));
    let id = env.id();
    std::fs::write(b.path().join("config.json"), "{not json").unwrap();
    let o = env.run(&["create", "-b", b.path().to_str().unwrap(), &id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("config.json"), "{}", stderr(&o));
    let b = bundle(|v| v["root"]["path"] = "/no/such/rootfs".into());
    let o = env.run(&["create", "-b", b.path().to_str().unwrap(), &id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("rootfs"), "{}", stderr(&o));
    let b = bundle(|v| args(v, &[]));
    assert!(
        !env.run(&["create", "-b", b.path().to_str().unwrap(), &id])
            .status
            .success()
    );
    assert!(!env.root.path().join(&id).exists(), "no state");
    assert!(!cgroup_dir("memory", &id).exists(), "no cgroup");
    for verb in ["state", "start", "pause", "delete"] {
        let o = env.run(&[verb, "no-such-container"]);
        assert!(!o.status.success(), "{verb}");
        assert!(
            stderr(&o).contains("does not exist"),
            "{verb}: {}",
            stderr(&o)
        );
    }
    let o = env.run(&["state", "../etc"]);
    assert!(
        stderr(&o).contains("invalid container id"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn host_fds_do_not_leak_and_cwd_cannot_escape() {
    if !require_root("host_fds_do_not_leak_and_cwd_cannot_escape") {
        return;
    }
    let env = RuntimeEnv::new();
    // CVE-2024-21626: a directory fd leaked from the caller, and a cwd through it.
    let b = bundle(|v| {
        args(v, &["sh", "-c", "ls /proc/self/fd | wc -l"]);
        v["process"]["cwd"] = "/proc/self/fd/7".into();
    });
    let script = format!(
        "exec 7</sys/fs/cgroup; exec {} runtime --root {} run -b {} {}",
        berth(),
        env.root.path().display(),
        b.path().display(),
        env.id()
    );
    let o = run_to_files(Command::new("sh").arg("-c").arg(&script));
    assert!(
        !o.status.success(),
        "a cwd through a magic link is refused: {}",
        stdout(&o)
    );
    let b = bundle(|v| args(v, &["sh", "-c", "ls /proc/self/fd | wc -l"]));
    let script = format!(
        "exec 7</sys/fs/cgroup; exec {} runtime --root {} run -b {} {}",
        berth(),
        env.root.path().display(),
        b.path().display(),
        env.id()
    );
    let o = run_to_files(Command::new("sh").arg("-c").arg(&script));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        "4",
        "fd 7 is not inherited (0,1,2 and ls's own)"
    );
}

#[test]
fn mounts_do_not_follow_symlinks_out_of_the_rootfs() {
    if !require_root("mounts_do_not_follow_symlinks_out_of_the_rootfs") {
        return;
    }
    let env = RuntimeEnv::new();
    let host_target = tempfile::tempdir().unwrap();
    let b = bundle(|v| {
        args(
            v,
            &["sh", "-c", "grep ' /evil ' /proc/self/mountinfo | wc -l"],
        );
        v["mounts"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"}));
    });
    std::os::unix::fs::symlink(host_target.path(), b.rootfs().join("evil")).unwrap();
    let o = env.run(&["run", "-b", b.path().to_str().unwrap(), &env.id()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains(&host_target.path().display().to_string()),
        "nothing was mounted on the host path"
    );
}

#[test]
fn hooks_run_at_their_points() {
    if !require_root("hooks_run_at_their_points") {
        return;
    }
    let env = RuntimeEnv::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hooks.log");
    let hook = |name: &str| serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {name} >> {}", log.display())]});
    let b = bundle(|v| {
        args(v, &["true"]);
        v["hooks"] = serde_json::json!({
            "createRuntime": [hook("createRuntime")],
            "poststart": [hook("poststart")],
            "poststop": [hook("poststop")]
        });
    });
    let o = env.run(&["run", "-b", b.path().to_str().unwrap(), &env.id()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = std::fs::read_to_string(&log).unwrap();
    assert_eq!(got, "createRuntime\npoststart\npoststop\n");
}

#[test]
fn init_runs_from_a_read_only_binary() {
    if !require_root("init_runs_from_a_read_only_binary") {
        return;
    }
    // CVE-2019-5736: until it execs, init is a copy of berth; that copy must not be writable.
    let env = RuntimeEnv::new();
    let b = bundle(|v| args(v, &["true"]));
    let id = env.id();
    let pid_file = b.path().join("pid");
    let o = env.run(&[
        "create",
        "-b",
        b.path().to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let exe = format!("/proc/{}/exe", pid.trim());
    // ETXTBSY protects the binary only while it runs; the attack writes after the runtime
    // exits, so what must hold is that the file lives on a read-only mount.
    let f = std::fs::File::open(&exe).unwrap();
    let st = nix::sys::statvfs::fstatvfs(&f).unwrap();
    assert!(
        st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
        "{exe} -> {:?} is writable",
        std::fs::read_link(&exe)
    );
}
