//! Usage figures from the cgroup files, in the units Docker's stats API uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Result;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    pub usage: u64,
    pub max_usage: u64,
    pub limit: u64,
    pub failcnt: u64,
    /// memory.stat, key → value.
    pub stats: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    /// Nanoseconds.
    pub total_usage: u64,
    pub percpu_usage: Vec<u64>,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
    pub throttling_periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidsStats {
    pub current: u64,
    /// 0 = no limit.
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

/// One reading of a container's cgroups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub memory: MemoryStats,
    pub cpu: CpuStats,
    pub pids: PidsStats,
    pub io_service_bytes: Vec<BlkioEntry>,
}

fn num(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// `key value` lines.
pub(super) fn keyed(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(key)
                .and_then(|v| v.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn keyed_map(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

/// The host's memory (`MemTotal`), in bytes; 0 if unknown. Read once: it does not change.
pub fn host_memory() -> u64 {
    static TOTAL: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TOTAL.get_or_init(|| {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
                let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
                kib.checked_mul(1024)
            })
            .unwrap_or(0)
    })
}

/// A memory limit as dockerd reports it: no limit (v2's `max`, read as 0) or one above the
/// host's memory (v1's `9223372036854771712`) is the host's memory, so `docker stats` shows
/// `/ 23.4GiB`, not `/ 8EiB`.
fn host_bounded(limit: u64) -> u64 {
    let host = host_memory();
    if host > 0 && (limit == 0 || limit > host) {
        host
    } else {
        limit
    }
}

/// USER_HZ ticks (cpuacct.stat) to nanoseconds.
const TICK_NS: u64 = 10_000_000;

pub(super) fn v1(dirs: &BTreeMap<String, PathBuf>) -> Result<Stats> {
    let mut s = Stats::default();
    if let Some(d) = dirs.get("memory") {
        s.memory = MemoryStats {
            usage: num(&d.join("memory.usage_in_bytes")),
            max_usage: num(&d.join("memory.max_usage_in_bytes")),
            limit: host_bounded(num(&d.join("memory.limit_in_bytes"))),
            failcnt: num(&d.join("memory.failcnt")),
            stats: keyed_map(&std::fs::read_to_string(d.join("memory.stat")).unwrap_or_default()),
        };
    }
    if let Some(d) = dirs.get("cpuacct") {
        s.cpu.total_usage = num(&d.join("cpuacct.usage"));
        s.cpu.percpu_usage = std::fs::read_to_string(d.join("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let stat = std::fs::read_to_string(d.join("cpuacct.stat")).unwrap_or_default();
        s.cpu.usage_in_usermode = keyed(&stat, "user") * TICK_NS;
        s.cpu.usage_in_kernelmode = keyed(&stat, "system") * TICK_NS;
    }
    if let Some(d) = dirs.get("cpu") {
        let stat = std::fs::read_to_string(d.join("cpu.stat")).unwrap_or_default();
        s.cpu.throttling_periods = keyed(&stat, "nr_periods");
        s.cpu.throttled_periods = keyed(&stat, "nr_throttled");
        s.cpu.throttled_time = keyed(&stat, "throttled_time");
    }
    if let Some(d) = dirs.get("pids") {
        s.pids.current = num(&d.join("pids.current"));
        s.pids.limit = num(&d.join("pids.max"));
    }
    if let Some(d) = dirs.get("blkio") {
        let text = std::fs::read_to_string(d.join("blkio.throttle.io_service_bytes_recursive"))
            .unwrap_or_default();
        s.io_service_bytes = text
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let [dev, op, value] = f.as_slice() else {
                    return None;
                };
                let (major, minor) = dev.split_once(':')?;
                Some(BlkioEntry {
                    major: major.parse().ok()?,
                    minor: minor.parse().ok()?,
                    op: (*op).to_owned(),
                    value: value.parse().ok()?,
                })
            })
            .collect();
    }
    Ok(s)
}

pub(super) fn v2(d: &Path) -> Result<Stats> {
    let mut s = Stats::default();
    let stat = keyed_map(&std::fs::read_to_string(d.join("memory.stat")).unwrap_or_default());
    s.memory = MemoryStats {
        usage: num(&d.join("memory.current")),
        max_usage: num(&d.join("memory.peak")),
        limit: host_bounded(num(&d.join("memory.max"))),
        failcnt: keyed(
            &std::fs::read_to_string(d.join("memory.events")).unwrap_or_default(),
            "max",
        ),
        stats: stat,
    };
    let cpu = std::fs::read_to_string(d.join("cpu.stat")).unwrap_or_default();
    s.cpu.total_usage = keyed(&cpu, "usage_usec") * 1000;
    s.cpu.usage_in_usermode = keyed(&cpu, "user_usec") * 1000;
    s.cpu.usage_in_kernelmode = keyed(&cpu, "system_usec") * 1000;
    s.cpu.throttling_periods = keyed(&cpu, "nr_periods");
    s.cpu.throttled_periods = keyed(&cpu, "nr_throttled");
    s.cpu.throttled_time = keyed(&cpu, "throttled_usec") * 1000;
    s.pids.current = num(&d.join("pids.current"));
    s.pids.limit = num(&d.join("pids.max"));
    let io = std::fs::read_to_string(d.join("io.stat")).unwrap_or_default();
    for line in io.lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in f {
            let (k, v) = kv.split_once('=').unwrap_or((kv, "0"));
            let op = match k {
                "rbytes" => "read",
                "wbytes" => "write",
                _ => continue,
            };
            s.io_service_bytes.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value: v.parse().unwrap_or(0),
            });
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_memory_limit_is_the_hosts_memory() {
        let host = host_memory();
        assert!(host > 0, "MemTotal read from /proc/meminfo");
        assert_eq!(host_bounded(0), host, "v2 max");
        assert_eq!(
            host_bounded(9_223_372_036_854_771_712),
            host,
            "v1 unlimited"
        );
        assert_eq!(host_bounded(64 << 20), 64 << 20);
    }

    #[test]
    fn reads_v1_files() {
        let d = tempfile::tempdir().unwrap();
        let mut dirs = BTreeMap::new();
        for c in ["memory", "cpuacct", "pids"] {
            std::fs::create_dir(d.path().join(c)).unwrap();
            dirs.insert(c.to_owned(), d.path().join(c));
        }
        std::fs::write(d.path().join("memory/memory.usage_in_bytes"), "4096\n").unwrap();
        std::fs::write(d.path().join("memory/memory.stat"), "cache 10\nrss 20\n").unwrap();
        std::fs::write(d.path().join("cpuacct/cpuacct.usage"), "123456\n").unwrap();
        std::fs::write(
            d.path().join("cpuacct/cpuacct.usage_percpu"),
            "100 23456 \n",
        )
        .unwrap();
        std::fs::write(d.path().join("cpuacct/cpuacct.stat"), "user 3\nsystem 2\n").unwrap();
        std::fs::write(d.path().join("pids/pids.current"), "2\n").unwrap();
        let s = v1(&dirs).unwrap();
        assert_eq!(s.memory.usage, 4096);
        assert_eq!(s.memory.stats["rss"], 20);
        assert_eq!(s.cpu.total_usage, 123_456);
        assert_eq!(s.cpu.percpu_usage, vec![100, 23456]);
        assert_eq!(s.cpu.usage_in_usermode, 30_000_000);
        assert_eq!(s.pids.current, 2);
    }

    #[test]
    fn keyed_lines() {
        assert_eq!(
            keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill"),
            3
        );
        assert_eq!(
            keyed("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n", "oom_kill"),
            1
        );
    }
}
