//! Helpers shared by berth's integration tests (root only).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) mod compose;
pub(crate) mod daemon;
pub(crate) mod dockerd;
pub(crate) mod registry;

pub(crate) use berth_test_support::{Bundle, require_root, unique_id};

/// The berth binary under test.
pub(crate) fn berth() -> &'static str {
    env!("CARGO_BIN_EXE_berth")
}

/// Compiles a C probe from `tests/probe/` statically into `dir`.
pub(crate) fn build_probe(name: &str, dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/probe/{name}.c"));
    let out = dir.join(name);
    let o = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .expect("running cc (gcc) for the probe");
    assert!(o.status.success(), "cc {}: {}", src.display(), stderr(&o));
    out
}

/// A private runtime state root; deletes every container it created when dropped.
pub(crate) struct RuntimeEnv {
    pub root: tempfile::TempDir,
    ids: std::sync::Mutex<Vec<String>>,
}

impl RuntimeEnv {
    pub(crate) fn new() -> Self {
        Self {
            root: tempfile::Builder::new()
                .prefix("berth-rt-")
                .tempdir()
                .unwrap(),
            ids: Default::default(),
        }
    }

    pub(crate) fn cmd(&self) -> Command {
        let mut c = Command::new(berth());
        c.arg("runtime").arg("--root").arg(self.root.path());
        c
    }

    /// Runs `berth runtime <args>`. Output goes through files, not pipes: a created
    /// container's init inherits the runtime's stdio (as with containerd's shim) and would
    /// keep pipes open until it exits.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        run_to_files(self.cmd().args(args))
    }

    /// A fresh id that is cleaned up with this environment.
    pub(crate) fn id(&self) -> String {
        let id = unique_id("c");
        self.ids.lock().unwrap().push(id.clone());
        id
    }
}

impl Drop for RuntimeEnv {
    fn drop(&mut self) {
        for id in self.ids.lock().unwrap().iter() {
            let _ = self.cmd().args(["delete", "--force", id]).output();
        }
    }
}

/// Detaches every mount under `root`, deepest first (what a killed daemon or runtime left).
pub(crate) fn unmount_under(root: &Path) {
    let Ok(m) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let root = root.to_string_lossy();
    let mut points: Vec<&str> = m
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(root.as_ref()))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Runs `cmd` with stdout/stderr in temporary files and returns them as an `Output`.
pub(crate) fn run_to_files(cmd: &mut Command) -> Output {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    let status = cmd
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .status()
        .expect("running berth");
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        f.rewind().unwrap();
        f.read_to_end(&mut v).unwrap();
        v
    };
    Output {
        status,
        stdout: read(out),
        stderr: read(err),
    }
}

/// A busybox bundle whose config.json is `berth runtime spec`'s, edited by `edit`.
pub(crate) fn bundle(edit: impl FnOnce(&mut serde_json::Value)) -> Bundle {
    let b = Bundle::busybox().unwrap();
    let out = Command::new(berth())
        .args(["runtime", "spec", "-b"])
        .arg(b.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "spec: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = b.path().join("config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["process"]["terminal"] = false.into();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    b
}

/// Sets the process args.
pub(crate) fn args(v: &mut serde_json::Value, args: &[&str]) {
    v["process"]["args"] = serde_json::json!(args);
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The v1 (or unified) cgroup directory of a container created with the default path.
pub(crate) fn cgroup_dir(controller: &str, id: &str) -> PathBuf {
    let v1 = Path::new("/sys/fs/cgroup")
        .join(controller)
        .join("berth")
        .join(id);
    if Path::new("/sys/fs/cgroup").join(controller).exists() {
        v1
    } else {
        Path::new("/sys/fs/cgroup/berth").join(id)
    }
}
