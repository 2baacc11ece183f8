//! cgroup v2 (the unified hierarchy).

use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxHugepageLimit, LinuxResources};

use super::{CgroupError, Result, read, write};

/// Enables every available controller in each ancestor's `cgroup.subtree_control`, from the
/// hierarchy root down to `dir`'s parent, so `dir` gets the controllers' files.
pub(super) fn enable_controllers(dir: &Path) -> Result<()> {
    let mut ancestors: Vec<&Path> = dir
        .ancestors()
        .skip(1)
        .take_while(|p| p.join("cgroup.controllers").exists())
        .collect();
    ancestors.reverse();
    for a in ancestors {
        let available = read(&a.join("cgroup.controllers"))?;
        let wanted: Vec<String> = available
            .split_whitespace()
            .map(|c| format!("+{c}"))
            .collect();
        if !wanted.is_empty() {
            // One write per controller: a controller the kernel refuses here (e.g. a domain
            // with threaded children) must not block the others.
            for w in wanted {
                let _ = write(&a.join("cgroup.subtree_control"), &w);
            }
        }
    }
    Ok(())
}

/// runc's conversion of cpu shares (2..262144) to cpu.weight (1..10000).
pub(super) fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.saturating_sub(2)) * 9999) / 262_142
}

pub(super) fn apply(d: &Path, r: &LinuxResources) -> Result<()> {
    if let Some(m) = r.memory() {
        if let Some(l) = m.limit() {
            write(&d.join("memory.max"), &max(l))?;
        }
        if let Some(res) = m.reservation() {
            write(&d.join("memory.low"), &max(res))?;
        }
        // OCI swap is memory+swap; v2's swap.max is swap alone.
        if let Some(s) = m.swap() {
            let swap = match (s, m.limit()) {
                (-1, _) => "max".to_owned(),
                (s, Some(l)) if l > 0 => (s - l).max(0).to_string(),
                (s, _) => s.to_string(),
            };
            let f = d.join("memory.swap.max");
            if f.exists() {
                write(&f, &swap)?;
            }
        }
        if m.disable_oom_killer() == Some(true) {
            return Err(CgroupError::Unsupported(
                "disabling the OOM killer is not possible on cgroup v2".into(),
            ));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|s| *s > 0) {
            write(&d.join("cpu.weight"), &shares_to_weight(s).to_string())?;
        }
        if c.quota().is_some() || c.period().is_some() {
            let quota = c
                .quota()
                .filter(|q| *q > 0)
                .map_or("max".to_owned(), |q| q.to_string());
            let period = c.period().filter(|p| *p > 0).unwrap_or(100_000);
            write(&d.join("cpu.max"), &format!("{quota} {period}"))?;
        }
        if let Some(idle) = c.idle() {
            write(&d.join("cpu.idle"), &idle.to_string())?;
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            write(&d.join("cpuset.cpus"), cpus)?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            write(&d.join("cpuset.mems"), mems)?;
        }
    }
    if let Some(p) = r.pids() {
        write(
            &d.join("pids.max"),
            &if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".into()
            },
        )?;
    }
    if let Some(b) = r.block_io() {
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            // io.weight is 1..10000; blkio weight 10..1000.
            write(&d.join("io.weight"), &(u64::from(w) * 10).to_string())?;
        }
        let limits = [
            ("rbps", b.throttle_read_bps_device()),
            ("wbps", b.throttle_write_bps_device()),
            ("riops", b.throttle_read_iops_device()),
            ("wiops", b.throttle_write_iops_device()),
        ];
        for (key, list) in limits {
            for t in list.iter().flatten() {
                write(
                    &d.join("io.max"),
                    &format!("{}:{} {key}={}", t.major(), t.minor(), t.rate()),
                )?;
            }
        }
    }
    if let Some(pages) = r.hugepage_limits() {
        apply_hugetlb(d, pages)?;
    }
    if let Some(devs) = r.devices() {
        let restrictive = devs.iter().any(|d| !d.allow());
        let allow_all = devs.len() == 1 && devs[0].allow() && devs[0].typ().is_none();
        if restrictive && !allow_all {
            // Device control on v2 needs an eBPF program attached to the cgroup.
            tracing::warn!(cgroup = %d.display(), "device rules are not enforced on cgroup v2 hosts by berth");
        }
    }
    for (k, v) in r.unified().iter().flatten() {
        if k.contains('/') || k.contains("..") {
            return Err(CgroupError::Unsupported(format!(
                "invalid unified key {k:?}"
            )));
        }
        write(&d.join(k), v)?;
    }
    Ok(())
}

fn max(v: i64) -> String {
    if v < 0 { "max".into() } else { v.to_string() }
}

/// `hugetlb.<size>.max` (on hybrid hosts hugetlb may live in the unified hierarchy).
pub(super) fn apply_hugetlb(d: &Path, pages: &[LinuxHugepageLimit]) -> Result<()> {
    if !pages.is_empty() {
        enable_controllers(d)?;
    }
    for p in pages {
        let f = d.join(format!("hugetlb.{}.max", p.page_size()));
        if !f.exists() {
            return Err(CgroupError::Unsupported(format!(
                "hugetlb page size {} is not available on this host",
                p.page_size()
            )));
        }
        write(&f, &p.limit().to_string())?;
    }
    Ok(())
}

pub(super) fn set_frozen(d: &Path, frozen: bool) -> Result<()> {
    write(&d.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
    let want = if frozen { "frozen 1" } else { "frozen 0" };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if read(&d.join("cgroup.events"))?
            .lines()
            .any(|l| l.trim() == want)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(CgroupError::Freeze {
                path: d.to_path_buf(),
                state: if frozen { "frozen" } else { "thawed" },
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_conversion_matches_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10000);
    }

    #[test]
    fn writes_v2_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("memory.swap.max"), "").unwrap();
        let r: LinuxResources = serde_json::from_str(
            r#"{"memory":{"limit":1000,"swap":3000},"cpu":{"shares":1024,"quota":50000,"period":100000},"pids":{"limit":5},
            "blockIO":{"weight":500,"throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":10}]}}"#,
        )
        .unwrap();
        apply(d.path(), &r).unwrap();
        let get = |f: &str| {
            std::fs::read_to_string(d.path().join(f)).unwrap_or_else(|e| panic!("{f}: {e}"))
        };
        assert_eq!(get("memory.max"), "1000");
        assert_eq!(get("memory.swap.max"), "2000");
        assert_eq!(get("cpu.weight"), "39");
        assert_eq!(get("cpu.max"), "50000 100000");
        assert_eq!(get("pids.max"), "5");
        assert_eq!(get("io.weight"), "5000");
        assert_eq!(get("io.max"), "8:0 wiops=10");
    }
}
