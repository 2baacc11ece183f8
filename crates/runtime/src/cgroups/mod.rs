//! cgroups on v1, v2 and hybrid hosts.
//!
//! A [`Cgroup`] is a set of directories — one per v1 hierarchy, plus the unified one — that
//! belong to one container. Limits go to whichever hierarchy holds each controller (on this
//! hybrid host: memory, cpu, pids, ... in v1; hugetlb in v2). The container is placed in every
//! hierarchy, `name=systemd` and the unified one included, so its cgroup namespace shows its
//! own cgroups everywhere. Controllers write plain files under a directory they are given, so
//! unit tests aim them at a temporary directory.

mod hierarchy;
mod stats;
mod v1;
mod v2;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_errdefs::{ErrorKind, HasKind};
use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

pub use hierarchy::{Hierarchy, Layout, V1Mount};
pub use stats::{BlkioEntry, CpuStats, MemoryStats, PidsStats, Stats, host_memory};

/// cgroup failures, each naming the file or directory involved.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no cgroup hierarchy is mounted")]
    NoHierarchy,
    #[error(
        "cgroupsPath {0:?} uses the systemd driver's slice:prefix:name form, which berth does not support"
    )]
    Systemd(String),
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing {value:?} to {}", path.display())]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("cgroup {} did not reach {state} in time", path.display())]
    Freeze { path: PathBuf, state: &'static str },
}

impl HasKind for CgroupError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Systemd(_) | Self::Unsupported(_) => ErrorKind::NotImplemented,
            Self::Write { source, .. } if source.raw_os_error() == Some(libc::EINVAL) => {
                ErrorKind::InvalidArgument
            }
            _ => ErrorKind::Internal,
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, CgroupError>;

pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_owned(),
        source,
    })
}

pub(crate) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| CgroupError::Io {
        what: "reading",
        path: path.to_path_buf(),
        source,
    })
}

/// One container's cgroups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    layout: Layout,
    /// Directory per v1 controller (several controllers may share one).
    v1: BTreeMap<String, PathBuf>,
    unified: Option<PathBuf>,
}

impl Cgroup {
    /// Computes the directories for `path` (the spec's `linux.cgroupsPath`); touches nothing.
    /// An absolute path is taken from each hierarchy's root; a relative one from this process's
    /// own cgroup, as runc does.
    pub fn new(h: &Hierarchy, path: &str) -> Result<Self> {
        if path.contains(':') && !path.starts_with('/') {
            return Err(CgroupError::Systemd(path.to_owned()));
        }
        let own = own_cgroups();
        let rel = |key: &str| -> PathBuf {
            let p = Path::new(path);
            if p.is_absolute() {
                p.strip_prefix("/").unwrap_or(p).to_path_buf()
            } else {
                let base = own.get(key).map_or("/", String::as_str);
                Path::new(base.trim_start_matches('/')).join(p)
            }
        };
        let v1 =
            h.v1.iter()
                .map(|(c, m)| (c.clone(), m.mount_point.join(rel(&m.data))))
                .collect();
        let unified = h.unified.as_ref().map(|u| u.join(rel("")));
        Ok(Self {
            layout: h.layout,
            v1,
            unified,
        })
    }

    /// Every distinct directory, v1 hierarchies first.
    fn dirs(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = Vec::new();
        for d in self.v1.values() {
            if !out.contains(&d.as_path()) {
                out.push(d);
            }
        }
        if let Some(u) = &self.unified {
            out.push(u);
        }
        out
    }

    pub(crate) fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.v1.get(controller).map(PathBuf::as_path)
    }

    /// The unified-hierarchy directory, for clone3(CLONE_INTO_CGROUP).
    pub fn unified_dir(&self) -> Option<&Path> {
        self.unified.as_deref()
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Makes every directory (idempotent). v1 cpuset directories inherit cpus/mems from
    /// their parent at each new level (they start empty); on v2, the controllers are enabled
    /// down the path.
    pub fn create(&self) -> Result<()> {
        for d in self.dirs() {
            if let Some(cpuset) = self.v1_dir("cpuset").filter(|c| *c == d) {
                v1::create_cpuset(cpuset)?;
            } else {
                std::fs::create_dir_all(d).map_err(|source| CgroupError::Io {
                    what: "creating",
                    path: d.to_path_buf(),
                    source,
                })?;
            }
        }
        if let (Layout::V2, Some(u)) = (self.layout, &self.unified) {
            v2::enable_controllers(u)?;
        }
        Ok(())
    }

    /// Applies `linux.resources` (also used by `update`).
    pub fn apply(&self, r: &LinuxResources) -> Result<()> {
        match self.layout {
            Layout::V2 => v2::apply(self.unified.as_deref().ok_or(CgroupError::NoHierarchy)?, r),
            Layout::V1 | Layout::Hybrid => {
                v1::apply(&self.v1, r)?;
                if let (Some(u), Some(pages)) = (&self.unified, r.hugepage_limits())
                    && !pages.is_empty()
                    && !self.v1.contains_key("hugetlb")
                {
                    v2::apply_hugetlb(u, pages)?;
                }
                if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
                    return Err(CgroupError::Unsupported(
                        "linux.resources.unified needs a cgroup v2 host".into(),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Puts `pid` in every hierarchy.
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        for d in self.dirs() {
            write(&d.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Pids in the container's cgroup (from the freezer or memory hierarchy on v1, which
    /// every container joins; the unified one otherwise).
    pub fn pids(&self) -> Result<Vec<i32>> {
        let dir = match self.layout {
            Layout::V2 => self.unified.as_deref(),
            _ => self
                .v1_dir("freezer")
                .or_else(|| self.v1_dir("memory"))
                .or(self.unified.as_deref()),
        }
        .ok_or(CgroupError::NoHierarchy)?;
        let text = match std::fs::read_to_string(dir.join("cgroup.procs")) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(CgroupError::Io {
                    what: "reading",
                    path: dir.join("cgroup.procs"),
                    source,
                });
            }
        };
        Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    pub fn freeze(&self) -> Result<()> {
        self.set_frozen(true)
    }

    pub fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        match (self.layout, self.v1_dir("freezer")) {
            (Layout::V1 | Layout::Hybrid, Some(d)) => v1::set_frozen(d, frozen),
            _ => v2::set_frozen(
                self.unified.as_deref().ok_or(CgroupError::NoHierarchy)?,
                frozen,
            ),
        }
    }

    pub fn is_frozen(&self) -> Result<bool> {
        match (self.layout, self.v1_dir("freezer")) {
            (Layout::V1 | Layout::Hybrid, Some(d)) => {
                Ok(read(&d.join("freezer.state"))?.trim() == "FROZEN")
            }
            _ => {
                let dir = self.unified.as_deref().ok_or(CgroupError::NoHierarchy)?;
                Ok(read(&dir.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1"))
            }
        }
    }

    /// Signals every process. SIGKILL uses `cgroup.kill` where the kernel has it (any
    /// non-root v2 cgroup, so the unified one on hybrid hosts too); otherwise the cgroup is
    /// frozen while each process is signalled, so none can fork away.
    pub fn kill_all(&self, sig: Signal) -> Result<()> {
        if sig == Signal::SIGKILL
            && let Some(u) = &self.unified
        {
            let f = u.join("cgroup.kill");
            if f.exists() && write(&f, "1").is_ok() {
                return Ok(());
            }
        }
        let was_frozen = self.is_frozen().unwrap_or(false);
        let _ = self.freeze();
        for pid in self.pids()? {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
        if !was_frozen {
            let _ = self.thaw();
        }
        Ok(())
    }

    /// How many times the OOM killer struck in this cgroup.
    pub fn oom_kill_count(&self) -> Result<u64> {
        match (self.layout, self.v1_dir("memory")) {
            (Layout::V1 | Layout::Hybrid, Some(d)) => Ok(stats::keyed(
                &read(&d.join("memory.oom_control"))?,
                "oom_kill",
            )),
            _ => Ok(stats::keyed(
                &read(
                    &self
                        .unified
                        .as_deref()
                        .ok_or(CgroupError::NoHierarchy)?
                        .join("memory.events"),
                )?,
                "oom_kill",
            )),
        }
    }

    /// Usage figures (for `docker stats`).
    pub fn stats(&self) -> Result<Stats> {
        match self.layout {
            Layout::V2 => stats::v2(self.unified.as_deref().ok_or(CgroupError::NoHierarchy)?),
            _ => stats::v1(&self.v1),
        }
    }

    /// Removes every directory, deepest first; a missing one is fine. rmdir can fail with
    /// EBUSY for a moment after the last process exits, so it is retried briefly.
    pub fn destroy(&self) -> Result<()> {
        for d in self.dirs() {
            remove_dir(d)?;
        }
        Ok(())
    }
}

fn remove_dir(dir: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(2);
    // Child cgroups (made inside the container, with cgroupns) go first.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_dir(&e.path())?;
            }
        }
    }
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(source) => {
                return Err(CgroupError::Io {
                    what: "removing",
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
    }
}

/// This process's cgroup in each hierarchy (`/proc/self/cgroup`), keyed by the v1 mount data
/// (`memory`, `cpu,cpuacct`, `name=systemd`) or "" for the unified hierarchy.
fn own_cgroups() -> BTreeMap<String, String> {
    std::fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
            Some((ctrl.to_owned(), path.to_owned()))
        })
        .collect()
}

/// Makes moving processes between cgroups cheap: by default the kernel's
/// `cgroup_threadgroup_rwsem` favours readers, so the first migration after a quiet period
/// waits for an RCU grace period (measured here: 12 ms for the first `cgroup.procs` write,
/// 0.1 ms with this). The `favordynmods` mount option of the cgroup2 hierarchy switches it to
/// favour writers, host-wide, at a small cost to fork and exit. Returns whether it changed
/// anything. (systemd sets the same option on recent distributions.)
pub fn favor_dynamic_mods(h: &Hierarchy) -> Result<bool> {
    let Some(unified) = &h.unified else {
        return Ok(false);
    };
    let mountinfo = read(Path::new("/proc/self/mountinfo"))?;
    let mp = unified.display().to_string();
    let Some(line) = mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(mp.as_str()))
    else {
        return Ok(false);
    };
    // Keep the hierarchy's other options (nsdelegate, memory_recursiveprot, ...): a cgroup2
    // remount replaces the whole set.
    let current: Vec<&str> = line
        .rsplit(' ')
        .next()
        .unwrap_or("")
        .split(',')
        .filter(|o| *o != "rw" && *o != "ro")
        .collect();
    if current.contains(&"favordynmods") {
        return Ok(false);
    }
    let mut opts = current;
    opts.push("favordynmods");
    let data = opts.join(",");
    nix::mount::mount(
        None::<&str>,
        unified,
        None::<&str>,
        nix::mount::MsFlags::MS_REMOUNT,
        Some(data.as_str()),
    )
    .map_err(|e| CgroupError::Io {
        what: "remounting with favordynmods",
        path: unified.clone(),
        source: e.into(),
    })?;
    Ok(true)
}

/// The cgroup mount of a container without a cgroup namespace: its own directories
/// bind-mounted (runc's behaviour; dockerd on v1 hosts runs containers so).
pub fn bind_layout(h: &Hierarchy, path: &str) -> Result<crate::rootfs::CgroupMountLayout> {
    let cg = Cgroup::new(h, path)?;
    if h.layout == Layout::V2 {
        let dir = cg.unified.clone().unwrap_or_default();
        return Ok(crate::rootfs::CgroupMountLayout::V2Bind(dir));
    }
    let mut binds = Vec::new();
    for (dir, data) in h.v1_mounts() {
        if let Some(host) =
            h.v1.iter()
                .find(|(_, m)| m.data == data)
                .and_then(|(c, _)| cg.v1.get(c))
        {
            binds.push((dir, host.clone()));
        }
    }
    Ok(crate::rootfs::CgroupMountLayout::V1Bind {
        binds,
        unified: cg.unified,
    })
}

/// The cgroup mount layout a container should see (for the rootfs plan).
pub fn mount_layout(h: &Hierarchy) -> crate::rootfs::CgroupMountLayout {
    match h.layout {
        Layout::V2 => crate::rootfs::CgroupMountLayout::V2,
        Layout::V1 | Layout::Hybrid => crate::rootfs::CgroupMountLayout::V1 {
            controllers: h.v1_mounts(),
            unified: h.unified.is_some(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hybrid_in(root: &Path) -> Hierarchy {
        let mut v1 = BTreeMap::new();
        for c in [
            "memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "devices", "blkio",
        ] {
            v1.insert(
                c.to_owned(),
                V1Mount {
                    mount_point: root.join(c),
                    data: c.to_owned(),
                },
            );
        }
        v1.insert(
            "name=systemd".into(),
            V1Mount {
                mount_point: root.join("systemd"),
                data: "name=systemd".into(),
            },
        );
        Hierarchy {
            layout: Layout::Hybrid,
            v1,
            unified: Some(root.join("unified")),
        }
    }

    #[test]
    fn paths_per_hierarchy() {
        let d = tempfile::tempdir().unwrap();
        let h = hybrid_in(d.path());
        let cg = Cgroup::new(&h, "/berth/abc").unwrap();
        assert_eq!(
            cg.v1_dir("memory"),
            Some(d.path().join("memory/berth/abc").as_path())
        );
        assert_eq!(
            cg.unified_dir(),
            Some(d.path().join("unified/berth/abc").as_path())
        );
        assert_eq!(cg.dirs().len(), 10);
        assert!(matches!(
            Cgroup::new(&h, "system.slice:berth:abc"),
            Err(CgroupError::Systemd(_))
        ));
    }

    #[test]
    fn destroy_is_idempotent_and_recursive() {
        let d = tempfile::tempdir().unwrap();
        let h = hybrid_in(d.path());
        let cg = Cgroup::new(&h, "/x/y").unwrap();
        for dir in cg.dirs() {
            std::fs::create_dir_all(dir.join("child")).unwrap();
        }
        cg.destroy().unwrap();
        assert!(!d.path().join("memory/x/y").exists());
        cg.destroy().unwrap();
    }
}
