//! CVE-2019-5736 defence: processes that enter a container must not run from a binary the
//! container could overwrite through `/proc/<pid>/exe`.
//!
//! berth re-executes itself, once per process that will create or enter containers, from a
//! copy of its binary that is bind-mounted read-only onto itself. A write through
//! `/proc/self/exe` (or a later re-open of an `O_PATH` fd to it) then fails with `EROFS`. The
//! copy is made once per binary version and reused, so the price per start is one `execve`,
//! not a copy of the binary (runc's memfd copy costs ~70% of its exec time).

use std::ffi::{CString, OsString};
use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::statvfs::{FsFlags, fstatvfs};

/// Where protected copies live (shared by every runtime root on the host).
pub const DEFAULT_STORE: &str = "/run/berth/exe";

/// Set in the environment of the re-executed process, to detect a loop.
const MARKER: &str = "_BERTH_EXE_GUARDED";

/// Errors while protecting the binary.
#[derive(Debug, thiserror::Error)]
pub enum ExeGuardError {
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{what} {}", path.display())]
    Sys {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: nix::errno::Errno,
    },
    #[error("re-executed from {} but /proc/self/exe is still writable", .0.display())]
    StillWritable(PathBuf),
}

impl berth_errdefs::HasKind for ExeGuardError {
    fn kind(&self) -> berth_errdefs::ErrorKind {
        berth_errdefs::ErrorKind::Internal
    }
}

/// True when this process runs from a read-only mount.
pub fn is_protected() -> bool {
    fs::File::open("/proc/self/exe")
        .ok()
        .and_then(|f| fstatvfs(f.as_fd()).ok())
        .is_some_and(|s| s.flags().contains(FsFlags::ST_RDONLY))
}

/// Makes sure this process runs from a protected binary: returns at once if it does,
/// otherwise re-executes itself (same argv, same environment) from the protected copy in
/// `store` and does not return on success.
pub fn ensure_protected(store: &Path) -> Result<(), ExeGuardError> {
    if is_protected() {
        return Ok(());
    }
    let copy = protected_copy(store)?;
    if std::env::var_os(MARKER).is_some() {
        return Err(ExeGuardError::StillWritable(copy));
    }
    let io_err = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| ExeGuardError::Io { what, path, source }
    };
    let to_c = |s: OsString| {
        CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    };
    let argv: Vec<CString> = std::env::args_os()
        .map(to_c)
        .collect::<io::Result<_>>()
        .map_err(io_err("preparing argv for", &copy))?;
    let mut envp: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            to_c(kv)
        })
        .collect::<io::Result<_>>()
        .map_err(io_err("preparing the environment for", &copy))?;
    envp.push(
        CString::new(format!("{MARKER}=1"))
            .map_err(|e| io_err("preparing", &copy)(io::Error::other(e)))?,
    );
    let path = CString::new(copy.as_os_str().as_bytes())
        .map_err(|e| io_err("preparing", &copy)(io::Error::other(e)))?;
    let err = nix::unistd::execve(&path, &argv, &envp).unwrap_err();
    Err(ExeGuardError::Sys {
        what: "re-executing from",
        path: copy,
        source: err,
    })
}

/// The read-only copy of the running binary, made on first use.
pub fn protected_copy(store: &Path) -> Result<PathBuf, ExeGuardError> {
    let io_err = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| ExeGuardError::Io { what, path, source }
    };
    let exe = Path::new("/proc/self/exe");
    let meta = fs::metadata(exe).map_err(io_err("reading", exe))?;
    let name = format!(
        "berth-{:x}-{:x}-{}-{}",
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime_nsec() ^ meta.mtime()
    );
    let target = store.join(&name);
    fs::create_dir_all(store).map_err(io_err("creating", store))?;
    let lock_file =
        fs::File::create(store.join(".lock")).map_err(io_err("creating the lock in", store))?;
    let _lock =
        Flock::lock(lock_file, FlockArg::LockExclusive).map_err(|(_, e)| ExeGuardError::Sys {
            what: "locking",
            path: store.to_path_buf(),
            source: e,
        })?;
    if is_read_only(&target) {
        return Ok(target);
    }
    remove_stale(store, &name);
    let tmp = store.join(format!(".{name}.tmp"));
    fs::copy(exe, &tmp).map_err(io_err("copying the binary to", &tmp))?;
    fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io_err("syncing", &tmp))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o555))
        .map_err(io_err("chmod of", &tmp))?;
    fs::rename(&tmp, &target).map_err(io_err("renaming into", &target))?;
    let sys = |what| {
        let path = target.clone();
        move |source| ExeGuardError::Sys { what, path, source }
    };
    mount(
        Some(&target),
        &target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(sys("bind-mounting"))?;
    let ro = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV;
    mount(None::<&str>, &target, None::<&str>, ro, None::<&str>)
        .map_err(sys("remounting read-only"))?;
    Ok(target)
}

fn is_read_only(path: &Path) -> bool {
    fs::File::open(path)
        .ok()
        .and_then(|f| fstatvfs(f.as_fd()).ok())
        .is_some_and(|s| s.flags().contains(FsFlags::ST_RDONLY))
}

/// Copies of older binaries: detach their mounts (processes still running them keep their
/// mapping) and remove them.
fn remove_stale(store: &Path, keep: &str) {
    let Ok(entries) = fs::read_dir(store) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("berth-") && name != keep {
            let path = entry.path();
            while umount2(&path, MntFlags::MNT_DETACH).is_ok() {}
            let _ = fs::remove_file(&path);
        }
    }
}
