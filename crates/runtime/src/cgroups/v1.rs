//! cgroup v1 controllers: each writes its files in its hierarchy's directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory, LinuxResources,
};

use super::{CgroupError, Result, read, write};

/// Applies resources to the v1 hierarchies in `dirs` (controller → directory).
pub(super) fn apply(dirs: &BTreeMap<String, PathBuf>, r: &LinuxResources) -> Result<()> {
    let dir = |c: &str| dirs.get(c).map(PathBuf::as_path);
    if let (Some(d), Some(m)) = (dir("memory"), r.memory()) {
        memory(d, m)?;
    }
    if let Some(c) = r.cpu() {
        if let Some(d) = dir("cpu") {
            cpu(d, c)?;
        }
        if let Some(d) = dir("cpuset") {
            cpuset(d, c)?;
        }
    }
    if let (Some(d), Some(p)) = (dir("pids"), r.pids()) {
        let limit = p.limit();
        write(
            &d.join("pids.max"),
            &if limit > 0 {
                limit.to_string()
            } else {
                "max".into()
            },
        )?;
    }
    if let (Some(d), Some(b)) = (dir("blkio"), r.block_io()) {
        blkio(d, b)?;
    }
    if let (Some(d), Some(devs)) = (dir("devices"), r.devices()) {
        devices(d, devs)?;
    }
    if let (Some(d), Some(pages)) = (dir("hugetlb"), r.hugepage_limits()) {
        for p in pages {
            write(
                &d.join(format!("hugetlb.{}.limit_in_bytes", p.page_size())),
                &p.limit().to_string(),
            )?;
        }
    }
    if let Some(n) = r.network() {
        if let (Some(d), Some(id)) = (dir("net_cls"), n.class_id()) {
            write(&d.join("net_cls.classid"), &id.to_string())?;
        }
        if let (Some(d), Some(prios)) = (dir("net_prio"), n.priorities()) {
            for p in prios {
                write(
                    &d.join("net_prio.ifpriomap"),
                    &format!("{} {}", p.name(), p.priority()),
                )?;
            }
        }
    }
    Ok(())
}

fn memory(d: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = d.join("memory.limit_in_bytes");
    let memsw = d.join("memory.memsw.limit_in_bytes");
    let swap_ok = memsw.exists();
    if let Some(l) = m.limit() {
        // memsw must stay >= limit at every step: raise memsw first when growing.
        let new_swap = m.swap().filter(|_| swap_ok);
        let current_memsw: i64 = std::fs::read_to_string(&memsw)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(i64::MAX);
        match new_swap {
            Some(s) if s == -1 || s > current_memsw || l > current_memsw => {
                write(&memsw, &s.to_string())?;
                write(&limit, &l.to_string())?;
            }
            Some(s) => {
                write(&limit, &l.to_string())?;
                write(&memsw, &s.to_string())?;
            }
            None => write(&limit, &l.to_string())?,
        }
    } else if let Some(s) = m.swap()
        && swap_ok
    {
        write(&memsw, &s.to_string())?;
    }
    if m.swap().is_some() && !swap_ok {
        tracing::warn!(cgroup = %d.display(), "swap limit ignored: the kernel has no swap accounting (memory.memsw.*)");
    }
    if let Some(r) = m.reservation() {
        write(&d.join("memory.soft_limit_in_bytes"), &r.to_string())?;
    }
    if let Some(s) = m.swappiness() {
        write(&d.join("memory.swappiness"), &s.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        write(&d.join("memory.oom_control"), "1")?;
    }
    if m.kernel().is_some() || m.kernel_tcp().is_some() {
        tracing::warn!(cgroup = %d.display(), "kernel memory limits are ignored (deprecated by the kernel)");
    }
    Ok(())
}

fn cpu(d: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares().filter(|s| *s > 0) {
        write(&d.join("cpu.shares"), &s.to_string())?;
    }
    if let Some(p) = c.period().filter(|p| *p > 0) {
        write(&d.join("cpu.cfs_period_us"), &p.to_string())?;
    }
    if let Some(q) = c.quota().filter(|q| *q != 0) {
        write(&d.join("cpu.cfs_quota_us"), &q.to_string())?;
    }
    if let Some(p) = c.realtime_period().filter(|p| *p > 0) {
        write(&d.join("cpu.rt_period_us"), &p.to_string())?;
    }
    if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
        write(&d.join("cpu.rt_runtime_us"), &r.to_string())?;
    }
    Ok(())
}

fn cpuset(d: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        write(&d.join("cpuset.cpus"), cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        write(&d.join("cpuset.mems"), mems)?;
    }
    Ok(())
}

fn blkio(d: &Path, b: &LinuxBlockIo) -> Result<()> {
    // With the BFQ scheduler the weight file is blkio.bfq.weight.
    let weight_file = |name: &str| {
        let plain = d.join(format!("blkio.{name}"));
        if plain.exists() {
            plain
        } else {
            d.join(format!("blkio.bfq.{name}"))
        }
    };
    // 0 means "not set" (dockerd always sends the field), as runc reads it.
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        write(&weight_file("weight"), &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        write(&weight_file("leaf_weight"), &w.to_string())?;
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            write(
                &weight_file("weight_device"),
                &format!("{}:{} {w}", wd.major(), wd.minor()),
            )?;
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, list) in throttles {
        for t in list.iter().flatten() {
            write(
                &d.join(file),
                &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
            )?;
        }
    }
    Ok(())
}

/// `c 1:3 rwm`, `a *:* rwm`.
pub(super) fn device_rule(r: &LinuxDeviceCgroup) -> String {
    let typ = match r.typ() {
        Some(LinuxDeviceType::B) => "b",
        Some(LinuxDeviceType::C | LinuxDeviceType::U) => "c",
        Some(LinuxDeviceType::P) => "p",
        Some(LinuxDeviceType::A) | None => "a",
    };
    let n = |v: Option<i64>| {
        v.filter(|v| *v >= 0)
            .map_or("*".to_owned(), |v| v.to_string())
    };
    let access = r
        .access()
        .clone()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "rwm".into());
    format!("{typ} {}:{} {access}", n(r.major()), n(r.minor()))
}

fn devices(d: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    for r in rules {
        let file = if r.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write(&d.join(file), &device_rule(r))?;
    }
    Ok(())
}

/// Creates a cpuset directory, copying cpus and mems into each new level (v1 cpusets start
/// empty, and a task cannot join an empty one).
pub(super) fn create_cpuset(dir: &Path) -> Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let parent = dir.parent().ok_or(CgroupError::NoHierarchy)?;
    create_cpuset(parent)?;
    std::fs::create_dir(dir)
        .or_else(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Ok(())
            } else {
                Err(e)
            }
        })
        .map_err(|source| CgroupError::Io {
            what: "creating",
            path: dir.to_path_buf(),
            source,
        })?;
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let current = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        if current.trim().is_empty() {
            let value = read(&parent.join(f))?;
            write(&dir.join(f), value.trim())?;
        }
    }
    Ok(())
}

/// Freezes or thaws, waiting until the kernel reports the state.
pub(super) fn set_frozen(d: &Path, frozen: bool) -> Result<()> {
    let (want, value) = if frozen {
        ("FROZEN", "FROZEN")
    } else {
        ("THAWED", "THAWED")
    };
    let state = d.join("freezer.state");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        write(&state, value)?;
        if read(&state)?.trim() == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(CgroupError::Freeze {
                path: d.to_path_buf(),
                state: want,
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    fn fixture(controllers: &[&str]) -> (tempfile::TempDir, BTreeMap<String, PathBuf>) {
        let d = tempfile::tempdir().unwrap();
        let mut m = BTreeMap::new();
        for c in controllers {
            let p = d.path().join(c);
            std::fs::create_dir_all(&p).unwrap();
            m.insert((*c).to_owned(), p);
        }
        (d, m)
    }

    fn get(m: &BTreeMap<String, PathBuf>, c: &str, f: &str) -> String {
        std::fs::read_to_string(m[c].join(f)).unwrap()
    }

    #[test]
    fn writes_limits_to_their_files() {
        let (_d, m) = fixture(&["memory", "cpu", "cpuset", "pids", "blkio", "devices"]);
        std::fs::write(
            m["memory"].join("memory.memsw.limit_in_bytes"),
            "9223372036854771712",
        )
        .unwrap();
        std::fs::write(m["blkio"].join("blkio.weight"), "").unwrap();
        let r = resources(
            r#"{"memory":{"limit":67108864,"swap":134217728,"reservation":1000},
            "cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0"},
            "pids":{"limit":20},"blockIO":{"weight":300,"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}]},
            "devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}"#,
        );
        apply(&m, &r).unwrap();
        assert_eq!(get(&m, "memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(
            get(&m, "memory", "memory.memsw.limit_in_bytes"),
            "134217728"
        );
        assert_eq!(get(&m, "memory", "memory.soft_limit_in_bytes"), "1000");
        assert_eq!(get(&m, "cpu", "cpu.shares"), "512");
        assert_eq!(get(&m, "cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(get(&m, "cpuset", "cpuset.cpus"), "0");
        assert_eq!(get(&m, "pids", "pids.max"), "20");
        assert_eq!(get(&m, "blkio", "blkio.weight"), "300");
        assert_eq!(
            get(&m, "blkio", "blkio.throttle.read_bps_device"),
            "8:0 1048576"
        );
        assert_eq!(get(&m, "devices", "devices.allow"), "c 1:3 rwm");
        assert_eq!(get(&m, "devices", "devices.deny"), "a *:* rwm");
    }

    #[test]
    fn unlimited_pids_and_no_swap_accounting() {
        let (_d, m) = fixture(&["memory", "pids"]);
        apply(
            &m,
            &resources(r#"{"memory":{"limit":1000,"swap":2000},"pids":{"limit":0}}"#),
        )
        .unwrap();
        assert_eq!(get(&m, "pids", "pids.max"), "max");
        assert_eq!(get(&m, "memory", "memory.limit_in_bytes"), "1000");
        assert!(!m["memory"].join("memory.memsw.limit_in_bytes").exists());
    }

    #[test]
    fn cpuset_levels_inherit() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("cpuset.cpus"), "0-1\n").unwrap();
        std::fs::write(d.path().join("cpuset.mems"), "0\n").unwrap();
        let leaf = d.path().join("berth/abc");
        create_cpuset(&leaf).unwrap();
        assert_eq!(
            std::fs::read_to_string(leaf.join("cpuset.cpus")).unwrap(),
            "0-1"
        );
        assert_eq!(
            std::fs::read_to_string(d.path().join("berth/cpuset.mems")).unwrap(),
            "0"
        );
    }
}
