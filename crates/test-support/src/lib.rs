//! Fixtures every berth test ring uses.
//!
//! The busybox root filesystem is made from Debian's `busybox-static` (`/bin/busybox`): the
//! static binary, one symlink per applet (as `busybox --install -s` would make them), and an
//! `/etc/passwd` / `/etc/group` with `root` and `nobody`. It has no dynamic libraries, so it
//! runs in any container without further setup.
#![forbid(unsafe_code)]

use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where Debian's `busybox-static` installs the binary.
pub const BUSYBOX: &str = "/bin/busybox";

const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

/// True when the current process runs as root; integration tests skip (and say so) otherwise.
pub fn is_root() -> bool {
    // `id -u` avoids an unsafe geteuid() in a crate that forbids unsafe code.
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .map(|l| l.split_whitespace().nth(2) == Some("0"))
            })
            .unwrap_or(false)
    })
}

/// Returns false and prints why when a root-only test cannot run here.
pub fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    eprintln!("skipped {test}: needs root");
    false
}

/// A short id unique within this test process and across concurrent test processes.
pub fn unique_id(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The applet paths busybox reports (`bin/sh`, `usr/bin/env`, ...), computed once.
fn applets() -> io::Result<&'static [String]> {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    if let Some(a) = APPLETS.get() {
        return Ok(a);
    }
    let out = Command::new(BUSYBOX)
        .arg("--list-full")
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("running {BUSYBOX} --list-full (install Debian's busybox-static): {e}"),
            )
        })?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{BUSYBOX} --list-full failed: {}",
            out.status
        )));
    }
    let list = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_start_matches('/').to_owned())
        .filter(|l| !l.is_empty() && l != "bin/busybox")
        .collect();
    Ok(APPLETS.get_or_init(|| list))
}

/// Populates `dest` (created if missing) with a busybox root filesystem.
pub fn make_busybox_rootfs(dest: &Path) -> io::Result<()> {
    for dir in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "home", "var", "proc", "sys", "dev",
    ] {
        fs::create_dir_all(dest.join(dir))?;
    }
    for dir in ["tmp", "var/tmp"] {
        let p = dest.join(dir);
        fs::create_dir_all(&p)?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o1777))?;
    }
    let bin = dest.join("bin/busybox");
    if fs::hard_link(BUSYBOX, &bin).is_err() {
        fs::copy(BUSYBOX, &bin)?;
    }
    for applet in applets()? {
        let link = dest.join(applet);
        if link.symlink_metadata().is_ok() {
            continue;
        }
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent)?;
        }
        symlink("/bin/busybox", &link)?;
    }
    fs::write(dest.join("etc/passwd"), PASSWD)?;
    fs::write(dest.join("etc/group"), GROUP)?;
    fs::write(dest.join("etc/hostname"), "busybox\n")?;
    Ok(())
}

/// Writes an uncompressed tarball of a busybox root filesystem (as `docker import` takes it).
pub fn make_busybox_tar(dest_file: &Path) -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    make_busybox_rootfs(dir.path())?;
    let file = fs::File::create(dest_file)?;
    let mut builder = tar::Builder::new(file);
    builder.follow_symlinks(false);
    builder.append_dir_all(".", dir.path())?;
    builder.into_inner()?.sync_all()
}

/// An OCI bundle directory holding `rootfs/` (busybox) and, once written, `config.json`.
#[derive(Debug)]
pub struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    /// Makes a fresh bundle with a busybox rootfs and no config.json yet.
    pub fn busybox() -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("berth-bundle-").tempdir()?;
        make_busybox_rootfs(&dir.path().join("rootfs"))?;
        Ok(Self { dir })
    }

    /// The bundle directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The bundle's root filesystem.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Writes `config.json` verbatim.
    pub fn write_config(&self, json: &str) -> io::Result<()> {
        fs::write(self.dir.path().join("config.json"), json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootfs_has_shell_and_users() {
        if !Path::new(BUSYBOX).exists() {
            eprintln!("skipped: {BUSYBOX} missing");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        make_busybox_rootfs(dir.path()).unwrap();
        assert_eq!(
            fs::read_link(dir.path().join("bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
        let passwd = fs::read_to_string(dir.path().join("etc/passwd")).unwrap();
        assert!(passwd.contains("root:x:0:0") && passwd.contains("nobody:x:65534"));
        let tmp = fs::metadata(dir.path().join("tmp")).unwrap();
        assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777);
    }
}
