//! Which cgroup hierarchies this host has, read from /proc/self/mountinfo: v1 (one hierarchy
//! per controller or group of controllers), v2 (one unified hierarchy), or hybrid (v1
//! controllers plus a cgroup2 mount, usually at /sys/fs/cgroup/unified).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::CgroupError;

/// The host's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    V1,
    V2,
    Hybrid,
}

/// One v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1Mount {
    pub mount_point: PathBuf,
    /// The mount's options naming its controllers, e.g. `cpu,cpuacct` or `name=systemd`.
    pub data: String,
}

/// The host's hierarchies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hierarchy {
    pub layout: Layout,
    /// v1 hierarchies by controller (`memory`, `cpu`, ..., `name=systemd`).
    pub v1: BTreeMap<String, V1Mount>,
    /// The cgroup2 mount point, if any.
    pub unified: Option<PathBuf>,
}

const NOT_CONTROLLERS: &[&str] = &[
    "rw",
    "ro",
    "relatime",
    "noatime",
    "nosuid",
    "nodev",
    "noexec",
    "xattr",
    "clone_children",
    "noprefix",
    "cpuset_v2_mode",
    "memory_recursiveprot",
    "memory_localevents",
    "nsdelegate",
    "favordynmods",
    "memory_hugetlb_accounting",
];

impl Hierarchy {
    /// Reads this process's mountinfo.
    pub fn detect() -> Result<Self, CgroupError> {
        let text =
            std::fs::read_to_string("/proc/self/mountinfo").map_err(|source| CgroupError::Io {
                what: "reading",
                path: "/proc/self/mountinfo".into(),
                source,
            })?;
        Self::from_mountinfo(&text)
    }

    /// Parses mountinfo text (pure, for tests).
    pub fn from_mountinfo(text: &str) -> Result<Self, CgroupError> {
        let mut v1 = BTreeMap::new();
        let mut unified = None;
        for line in text.lines() {
            let Some((pre, post)) = line.split_once(" - ") else {
                continue;
            };
            let mount_point = pre.split(' ').nth(4).map(unescape);
            let mut post = post.split(' ');
            let (Some(fstype), Some(_source), Some(opts)) = (post.next(), post.next(), post.next())
            else {
                continue;
            };
            let Some(mp) = mount_point else { continue };
            match fstype {
                "cgroup2" => {
                    // The first cgroup2 mount wins (bind mounts of it may appear later).
                    unified.get_or_insert_with(|| PathBuf::from(&mp));
                }
                "cgroup" => {
                    let controllers: Vec<&str> = opts
                        .split(',')
                        .filter(|o| !NOT_CONTROLLERS.contains(o) && !o.starts_with("release_agent"))
                        .collect();
                    let data = controllers.join(",");
                    for c in controllers {
                        v1.entry(c.to_owned()).or_insert_with(|| V1Mount {
                            mount_point: PathBuf::from(&mp),
                            data: data.clone(),
                        });
                    }
                }
                _ => {}
            }
        }
        let layout = match (v1.is_empty(), unified.is_some()) {
            (true, true) => Layout::V2,
            (false, true) => Layout::Hybrid,
            (false, false) => Layout::V1,
            (true, false) => return Err(CgroupError::NoHierarchy),
        };
        Ok(Self {
            layout,
            v1,
            unified,
        })
    }

    /// The v1 hierarchies, one entry per mount (directory name under the cgroup root, mount
    /// data) — what a container's own /sys/fs/cgroup shows.
    pub fn v1_mounts(&self) -> Vec<(String, String)> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for m in self.v1.values() {
            if seen.insert(m.mount_point.clone()) {
                let dir = m
                    .mount_point
                    .file_name()
                    .map_or_else(|| m.data.clone(), |n| n.to_string_lossy().into_owned());
                out.push((dir, m.data.clone()));
            }
        }
        out
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(char::from(v));
            i += 4;
            continue;
        }
        out.push(char::from(b[i]));
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This very host's cgroup lines.
    const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";

    const V2: &str = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot";

    const V1_JOINED: &str =
        "25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
26 24 0:23 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory";

    #[test]
    fn detects_hybrid() {
        let h = Hierarchy::from_mountinfo(HYBRID).unwrap();
        assert_eq!(h.layout, Layout::Hybrid);
        assert_eq!(h.unified, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert_eq!(
            h.v1["memory"].mount_point,
            PathBuf::from("/sys/fs/cgroup/memory")
        );
        assert_eq!(
            h.v1["name=systemd"].mount_point,
            PathBuf::from("/sys/fs/cgroup/systemd")
        );
        assert_eq!(h.v1_mounts().len(), 9);
        assert!(
            h.v1_mounts()
                .contains(&("systemd".into(), "name=systemd".into()))
        );
    }

    #[test]
    fn detects_v2_and_joined_v1() {
        let h = Hierarchy::from_mountinfo(V2).unwrap();
        assert_eq!((h.layout, h.v1.len()), (Layout::V2, 0));
        let h = Hierarchy::from_mountinfo(V1_JOINED).unwrap();
        assert_eq!(h.layout, Layout::V1);
        assert_eq!(h.v1["cpu"].mount_point, h.v1["cpuacct"].mount_point);
        assert_eq!(
            h.v1_mounts(),
            vec![
                ("cpu,cpuacct".to_owned(), "cpu,cpuacct".to_owned()),
                ("memory".to_owned(), "memory".to_owned())
            ]
        );
        assert!(Hierarchy::from_mountinfo("").is_err());
    }
}
