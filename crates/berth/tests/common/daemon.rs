//! A private `berth daemon` for tests driving it with the real docker CLI: its own socket,
//! data root, exec root, pid file, bridge and nftables table, all removed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running test daemon.
pub(crate) struct Daemon {
    pub dir: tempfile::TempDir,
    pub bridge: String,
    child: Option<Child>,
    extra: Vec<String>,
}

/// The docker CLI (28.x from /usr/local/bin, else Debian's).
pub(crate) fn docker_bin() -> &'static str {
    if Path::new("/usr/local/bin/docker").exists() {
        "/usr/local/bin/docker"
    } else {
        "docker"
    }
}

impl Daemon {
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// A daemon with extra `berth daemon` flags.
    pub(crate) fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("berth-d-")
            .tempdir_in("/tmp")
            .unwrap();
        // Linux caps interface names at 15 bytes.
        let n = std::process::id() % 100_000;
        let seq = super::unique_id("b");
        let bridge = format!("bt{n}{}", &seq[seq.rfind('-').unwrap() + 1..]);
        let mut d = Self {
            dir,
            bridge,
            child: None,
            extra: extra.iter().map(ToString::to_string).collect(),
        };
        d.spawn();
        d
    }

    pub(crate) fn sock(&self) -> PathBuf {
        self.dir.path().join("berth.sock")
    }

    pub(crate) fn host(&self) -> String {
        format!("unix://{}", self.sock().display())
    }

    fn spawn(&mut self) {
        self.spawn_child();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(self.sock()).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("berth daemon did not come up; log:\n{}", self.log());
    }

    fn spawn_child(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .unwrap();
        let _ = std::fs::remove_file(self.sock());
        let child = Command::new(super::berth())
            .arg("daemon")
            .arg("-H")
            .arg(self.host())
            .arg("--data-root")
            .arg(self.dir.path().join("data"))
            .arg("--exec-root")
            .arg(self.dir.path().join("exec"))
            .arg("--pidfile")
            .arg(self.dir.path().join("berth.pid"))
            .arg("--bridge")
            .arg(&self.bridge)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting berth daemon");
        self.child = Some(child);
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// SIGKILLs the daemon (containers keep running) and starts it again.
    pub(crate) fn kill_and_restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// SIGKILLs the daemon (containers keep running) and leaves it down.
    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the daemon again after [`Self::kill`].
    pub(crate) fn start_again(&mut self) {
        self.spawn();
    }

    /// Starts the daemon again and expects it to refuse to start: returns how it exited and
    /// what it logged.
    pub(crate) fn start_expecting_failure(&mut self) -> (std::process::ExitStatus, String) {
        self.spawn_child();
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return (st, self.log());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the daemon kept running; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A docker CLI command against this daemon.
    pub(crate) fn docker(&self) -> Command {
        let mut c = Command::new(docker_bin());
        c.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("DOCKER_CONTEXT");
        c
    }

    /// Runs `docker <args>` and returns its output (stdin empty).
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        super::run_to_files(self.docker().args(args))
    }

    /// Runs `docker <args>`, asserting success; returns trimmed stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "docker {args:?} failed ({:?}):\nstdout: {}\nstderr: {}\ndaemon log tail:\n{}",
            o.status.code(),
            super::stdout(&o),
            super::stderr(&o),
            tail(&self.log(), 20)
        );
        super::stdout(&o).trim().to_owned()
    }

    /// As root: a daemon with the busybox test image; else `None` (the test `name` is
    /// skipped, and says so).
    pub(crate) fn with_busybox(name: &str) -> Option<Self> {
        if !super::require_root(name) {
            return None;
        }
        let d = Self::start();
        d.import_busybox();
        Some(d)
    }

    /// Imports the busybox test image as `busybox:latest`.
    pub(crate) fn import_busybox(&self) {
        let tar = self.dir.path().join("busybox.tar");
        berth_test_support::make_busybox_tar(&tar).unwrap();
        self.ok(&[
            "import",
            "-c",
            "CMD [\"sh\"]",
            tar.to_str().unwrap(),
            "busybox:latest",
        ]);
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = self.run(&["ps", "-aq"]);
            for id in super::stdout(&ids).split_whitespace() {
                let _ = self.run(&["rm", "-f", "-v", id]);
            }
            let _ = self.run(&["network", "prune", "-f"]);
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The daemon leaves its bridge and rules for live restore; a test removes them, and
        // the accept rules it put in Docker's DOCKER-USER chain for its bridge.
        if let Ok(o) = Command::new("nft")
            .args(["-a", "list", "chain", "ip", "filter", "DOCKER-USER"])
            .output()
        {
            let needle = format!("\"{}\"", self.bridge);
            for line in String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.contains(&needle))
            {
                if let Some(h) = line.rsplit("# handle ").next() {
                    let _ = Command::new("nft")
                        .args([
                            "delete",
                            "rule",
                            "ip",
                            "filter",
                            "DOCKER-USER",
                            "handle",
                            h.trim(),
                        ])
                        .output();
                }
            }
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        let table = self.bridge.replace('-', "_");
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &table])
            .output();
        // Anything still mounted under the exec root (rootfs, netns) would pin the temp dir.
        super::unmount_under(self.dir.path());
    }
}
