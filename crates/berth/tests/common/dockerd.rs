//! A private dockerd (Debian's docker.io) for interop tests: its own socket, roots and no
//! network of its own; `berth` registered as the runtime `berth` through a `berth-runc` link.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::daemon::docker_bin;
use super::{run_to_files, stderr, stdout};

pub(crate) struct Dockerd {
    pub(crate) dir: tempfile::TempDir,
    child: Child,
}

impl Dockerd {
    /// A private dockerd with `berth` registered as a runtime and busybox imported, without
    /// networking of its own.
    pub(crate) fn start() -> Self {
        Self::start_with(&["--bridge", "none", "--iptables=false", "--ip-masq=false"])
    }

    /// The same with other dockerd flags (`--bridge <name>` for a networked one).
    pub(crate) fn start_with(flags: &[&str]) -> Self {
        if Command::new("dockerd").arg("--version").output().is_err() {
            panic!("dockerd is missing: install Debian's docker.io (scripts/setup.sh does)");
        }
        let dir = tempfile::Builder::new()
            .prefix("berth-dd-")
            .tempdir_in("/tmp")
            .unwrap();
        let runc = dir.path().join("berth-runc");
        std::os::unix::fs::symlink(super::berth(), &runc).unwrap();
        let log = std::fs::File::create(dir.path().join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", dir.path().join("d.sock").display()))
            .arg("--pidfile")
            .arg(dir.path().join("d.pid"))
            .args(flags)
            .arg("--add-runtime")
            .arg(format!("berth={}", runc.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Self { dir, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !d.run(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "dockerd did not start:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let tar = d.dir.path().join("busybox.tar");
        berth_test_support::make_busybox_tar(&tar).unwrap();
        d.ok(&[
            "import",
            "-c",
            "CMD [\"sh\"]",
            tar.to_str().unwrap(),
            "busybox:latest",
        ]);
        d
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    pub(crate) fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("d.sock").display())
    }

    pub(crate) fn run(&self, args: &[&str]) -> std::process::Output {
        run_to_files(
            Command::new(docker_bin())
                .env("DOCKER_HOST", self.host())
                .env("DOCKER_CONFIG", self.dir.path().join("cfg"))
                .args(args),
        )
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "docker {args:?}: {}\n{}",
            stderr(&o),
            self.log()
        );
        stdout(&o).trim().to_owned()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = self.run(&["ps", "-aq"]);
        for id in stdout(&ids).split_whitespace() {
            let _ = self.run(&["rm", "-f", id]);
        }
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        super::unmount_under(self.dir.path());
    }
}
