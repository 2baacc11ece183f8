//! What dockerd refuses at create and update, refused the same way (400, dockerd's message)
//! before anything is made or stored — so that no value reaches the runtime, to fail there
//! with a 500 at start, or sits in a record while the cgroup keeps another.
//!
//! The checks and messages are moby's `verifyContainerSettings` and
//! `verifyPlatformContainerResources`, in their order. Where dockerd accepts a value it
//! cannot apply and fails at start (a negative CPU share, a ulimit the kernel refuses),
//! berth refuses it here instead, with the message of the docker CLI's own parser.

use bollard_stubs::models::{ContainerConfig, HostConfig, ResourcesUlimits};

use crate::error::{EngineError, Result};

/// Docker's smallest memory limit and reservation (6 MiB).
const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// Docker's smallest healthcheck interval, timeout and start period (1 ms).
const MIN_DURATION_NS: i64 = 1_000_000;

/// The resource fields create and update share (`HostConfig` and `ContainerUpdateBody`
/// both flatten Docker's `Resources`).
#[derive(Debug, Default, Clone)]
pub(crate) struct Resources<'a> {
    pub(crate) memory: Option<i64>,
    pub(crate) memory_swap: Option<i64>,
    pub(crate) memory_reservation: Option<i64>,
    pub(crate) memory_swappiness: Option<i64>,
    pub(crate) nano_cpus: Option<i64>,
    pub(crate) cpu_shares: Option<i64>,
    pub(crate) cpu_period: Option<i64>,
    pub(crate) cpu_quota: Option<i64>,
    pub(crate) cpuset_cpus: Option<&'a str>,
    pub(crate) cpuset_mems: Option<&'a str>,
    pub(crate) blkio_weight: Option<u16>,
    pub(crate) ulimits: Option<&'a [ResourcesUlimits]>,
}

impl<'a> Resources<'a> {
    pub(crate) fn of_host(h: &'a HostConfig) -> Self {
        Self {
            memory: h.memory,
            memory_swap: h.memory_swap,
            memory_reservation: h.memory_reservation,
            memory_swappiness: h.memory_swappiness,
            nano_cpus: h.nano_cpus,
            cpu_shares: h.cpu_shares,
            cpu_period: h.cpu_period,
            cpu_quota: h.cpu_quota,
            cpuset_cpus: h.cpuset_cpus.as_deref(),
            cpuset_mems: h.cpuset_mems.as_deref(),
            blkio_weight: h.blkio_weight,
            ulimits: h.ulimits.as_deref(),
        }
    }

    pub(crate) fn of_update(b: &'a bollard_stubs::models::ContainerUpdateBody) -> Self {
        Self {
            memory: b.memory,
            memory_swap: b.memory_swap,
            memory_reservation: b.memory_reservation,
            memory_swappiness: b.memory_swappiness,
            nano_cpus: b.nano_cpus,
            cpu_shares: b.cpu_shares,
            cpu_period: b.cpu_period,
            cpu_quota: b.cpu_quota,
            cpuset_cpus: b.cpuset_cpus.as_deref(),
            cpuset_mems: b.cpuset_mems.as_deref(),
            blkio_weight: b.blkio_weight,
            ulimits: b.ulimits.as_deref(),
        }
    }
}

/// What the host can enforce, as dockerd's `sysinfo` sees it.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    pub(crate) ncpu: usize,
    /// Online CPUs and memory nodes (`0-1`).
    pub(crate) cpus: String,
    pub(crate) mems: String,
    pub(crate) blkio_weight: bool,
}

impl Host {
    pub(crate) fn detect() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_owned());
        Self {
            ncpu: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            cpus: read("/sys/fs/cgroup/cpuset/cpuset.cpus")
                .or_else(|_| read("/sys/devices/system/cpu/online"))
                .unwrap_or_default(),
            mems: read("/sys/fs/cgroup/cpuset/cpuset.mems")
                .or_else(|_| read("/sys/devices/system/node/online"))
                .unwrap_or_else(|_| "0".into()),
            // berth writes `blkio.weight`, or `blkio.bfq.weight` under BFQ (v1), or `io.weight`.
            blkio_weight: std::path::Path::new("/sys/fs/cgroup/blkio").is_dir()
                || std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
        }
    }
}

/// The host as detected once per daemon.
pub(crate) fn host_info() -> &'static Host {
    static HOST: std::sync::OnceLock<Host> = std::sync::OnceLock::new();
    HOST.get_or_init(Host::detect)
}

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::InvalidArgument(msg.into())
}

/// `Config` checks: working directory, stop signal, environment, healthcheck.
pub(crate) fn config(c: &ContainerConfig) -> Result<()> {
    if let Some(wd) = c.working_dir.as_deref().filter(|w| !w.is_empty())
        && !wd.starts_with('/')
    {
        return Err(bad(format!(
            "the working directory '{wd}' is invalid, it needs to be an absolute path"
        )));
    }
    if let Some(s) = c.stop_signal.as_deref().filter(|s| !s.is_empty()) {
        crate::lifecycle::signal::parse_signal(s)?;
    }
    for e in c.env.iter().flatten() {
        if e.split('=').next().is_none_or(str::is_empty) {
            return Err(bad(format!("invalid environment variable: {e}")));
        }
    }
    if let Some(h) = &c.healthcheck {
        for (name, v) in [
            ("Interval", h.interval),
            ("Timeout", h.timeout),
            ("StartPeriod", h.start_period),
        ] {
            if v.is_some_and(|v| v != 0 && v < MIN_DURATION_NS) {
                return Err(bad(format!(
                    "{name} in Healthcheck cannot be less than 1ms"
                )));
            }
        }
        if h.retries.is_some_and(|r| r < 0) {
            return Err(bad("Retries in Healthcheck cannot be negative"));
        }
    }
    Ok(())
}

/// `HostConfig` checks beyond resources: shm size, OOM score.
pub(crate) fn host(h: &HostConfig) -> Result<()> {
    if h.shm_size.is_some_and(|s| s < 0) {
        return Err(bad("SHM size can not be less than 0"));
    }
    if let Some(o) = h.oom_score_adj.filter(|o| !(-1000..=1000).contains(o)) {
        return Err(bad(format!(
            "Invalid value {o}, range for oom score adj is [-1000, 1000]"
        )));
    }
    Ok(())
}

/// Resource checks; returns Docker's warnings. `update`: the values of an update, which may
/// set a swap limit alone.
pub(crate) fn resources(r: &Resources<'_>, host: &Host, update: bool) -> Result<Vec<String>> {
    memory(r, update)?;
    cpu(r, host)?;
    cpuset(r, host)?;
    if let Some(u) = r.ulimits {
        ulimits(u)?;
    }
    let mut warnings = Vec::new();
    match r.blkio_weight.filter(|w| *w > 0) {
        Some(_) if !host.blkio_weight => warnings.push(
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
                .to_owned(),
        ),
        Some(w) if !(10..=1000).contains(&w) => {
            return Err(bad("Range of blkio weight is from 10 to 1000"));
        }
        _ => {}
    }
    Ok(warnings)
}

fn memory(r: &Resources<'_>, update: bool) -> Result<()> {
    let mem = r.memory.unwrap_or(0);
    let swap = r.memory_swap.unwrap_or(0);
    if mem != 0 && mem < MIN_MEMORY {
        return Err(bad("Minimum memory limit allowed is 6MB"));
    }
    if mem > 0 && swap > 0 && swap < mem {
        return Err(bad(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if mem == 0 && swap > 0 && !update {
        return Err(bad(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if let Some(s) = r.memory_swappiness.filter(|s| !(0..=100).contains(s)) {
        // -1 is how older clients say "unset".
        if s != -1 {
            return Err(bad(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
    }
    let reservation = r.memory_reservation.unwrap_or(0);
    if reservation > 0 && reservation < MIN_MEMORY {
        return Err(bad("Minimum memory reservation allowed is 6MB"));
    }
    if mem > 0 && reservation > 0 && mem < reservation {
        return Err(bad(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    Ok(())
}

fn cpu(r: &Resources<'_>, host: &Host) -> Result<()> {
    let nano = r.nano_cpus.unwrap_or(0);
    let (period, quota) = (r.cpu_period.unwrap_or(0), r.cpu_quota.unwrap_or(0));
    if nano > 0 && period > 0 {
        return Err(bad(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if nano > 0 && quota > 0 {
        return Err(bad(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    let max = i64::try_from(host.ncpu).unwrap_or(i64::MAX / 1_000_000_000);
    if nano < 0 || nano > max.saturating_mul(1_000_000_000) {
        return Err(bad(format!(
            "Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available",
            n = host.ncpu
        )));
    }
    // dockerd passes a negative share to the runtime, whose write fails at start.
    if r.cpu_shares.is_some_and(|s| s < 0) {
        return Err(bad("invalid CPU shares: must be positive"));
    }
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return Err(bad(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if quota > 0 && quota < 1000 {
        return Err(bad("CPU cfs quota can not be less than 1ms (i.e. 1000)"));
    }
    Ok(())
}

fn cpuset(r: &Resources<'_>, host: &Host) -> Result<()> {
    for (what, requested, available) in [
        ("cpus", r.cpuset_cpus, &host.cpus),
        ("mems", r.cpuset_mems, &host.mems),
    ] {
        let Some(req) = requested.filter(|s| !s.is_empty()) else {
            continue;
        };
        let wanted = parse_uint_list(req)
            .map_err(|e| bad(format!("Invalid value {req} for cpuset {what}: {e}")))?;
        let have = parse_uint_list(available).unwrap_or_default();
        if !wanted.iter().all(|r| covered(*r, &have)) {
            let noun = if what == "cpus" {
                "CPUs"
            } else {
                "memory nodes"
            };
            return Err(bad(format!(
                "Requested {noun} are not available - requested {req}, available: {available}"
            )));
        }
    }
    Ok(())
}

/// Whether `lo..=hi` lies inside the union of `have` (merged, so `0,1` covers `0-1`).
fn covered((lo, hi): (u32, u32), have: &[(u32, u32)]) -> bool {
    let mut merged: Vec<(u32, u32)> = have.to_vec();
    merged.sort_unstable();
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for (a, b) in merged {
        match runs.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => runs.push((a, b)),
        }
    }
    runs.iter().any(|(a, b)| *a <= lo && hi <= *b)
}

/// moby's `parsers.ParseUintList` (`0-2,4`), as ranges, so a huge range costs nothing.
pub(crate) fn parse_uint_list(s: &str) -> std::result::Result<Vec<(u32, u32)>, String> {
    let invalid = || format!("invalid format: {s}");
    let mut out = Vec::new();
    if s.is_empty() {
        return Ok(out);
    }
    for part in s.split(',') {
        let (lo, hi) = match part.split_once('-') {
            None => {
                let v: u32 = part.parse().map_err(|_| invalid())?;
                (v, v)
            }
            Some((a, b)) => {
                let lo: u32 = a.parse().map_err(|_| invalid())?;
                let hi: u32 = b.parse().map_err(|_| invalid())?;
                if hi < lo {
                    return Err(invalid());
                }
                (lo, hi)
            }
        };
        out.push((lo, hi));
    }
    Ok(out)
}

/// The names `--ulimit` takes (go-units' `ulimitNameMapping`).
const ULIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

fn ulimits(u: &[ResourcesUlimits]) -> Result<()> {
    for l in u {
        let name = l.name.as_deref().unwrap_or_default();
        if !ULIMITS.contains(&name) {
            return Err(bad(format!("invalid ulimit type: {name}")));
        }
        let (soft, hard) = (l.soft.unwrap_or(0), l.hard.unwrap_or(0));
        // -1 is "unlimited"; anything else below 0 is no limit the kernel knows.
        for v in [soft, hard] {
            if v < -1 {
                return Err(bad(format!(
                    "invalid ulimit argument: {name}={soft}:{hard}: limits must be -1 (unlimited) or at least 0"
                )));
            }
        }
        if hard != -1 && (soft == -1 || soft > hard) {
            return Err(bad(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        Host {
            ncpu: 2,
            cpus: "0-1".into(),
            mems: "0".into(),
            blkio_weight: true,
        }
    }

    fn refused(r: Resources<'_>) -> String {
        resources(&r, &host(), false).unwrap_err().to_string()
    }

    #[test]
    fn resources_are_refused_with_dockerds_messages() {
        let r = Resources::default;
        assert_eq!(
            refused(Resources {
                memory: Some(-9),
                ..r()
            }),
            "Minimum memory limit allowed is 6MB"
        );
        assert_eq!(
            refused(Resources {
                nano_cpus: Some(-1),
                ..r()
            }),
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
        );
        assert_eq!(
            refused(Resources {
                cpu_period: Some(5),
                ..r()
            }),
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        );
        assert_eq!(
            refused(Resources {
                cpuset_cpus: Some("abc"),
                ..r()
            }),
            "Invalid value abc for cpuset cpus: invalid format: abc"
        );
        assert_eq!(
            refused(Resources {
                cpuset_cpus: Some("0-4000000000"),
                ..r()
            }),
            "Requested CPUs are not available - requested 0-4000000000, available: 0-1"
        );
        assert_eq!(
            refused(Resources {
                blkio_weight: Some(5000),
                ..r()
            }),
            "Range of blkio weight is from 10 to 1000"
        );
        assert_eq!(
            refused(Resources {
                memory_swap: Some(1 << 30),
                ..r()
            }),
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        );
        // An update may set the swap limit alone.
        let swap_only = Resources {
            memory_swap: Some(1 << 30),
            ..r()
        };
        assert!(resources(&swap_only, &host(), true).is_ok());
    }

    #[test]
    fn what_the_host_cannot_do_is_a_warning() {
        let h = Host {
            blkio_weight: false,
            ..host()
        };
        let w = resources(
            &Resources {
                blkio_weight: Some(5000),
                ..Resources::default()
            },
            &h,
            false,
        )
        .unwrap();
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn ulimits_follow_the_clis_parser() {
        let u = |name: &str, soft, hard| ResourcesUlimits {
            name: Some(name.into()),
            soft: Some(soft),
            hard: Some(hard),
        };
        assert!(ulimits(&[u("nofile", 1024, 2048), u("core", -1, -1)]).is_ok());
        for (l, msg) in [
            (u("bogus", 1, 1), "invalid ulimit type: bogus"),
            (
                u("nofile", 20, 10),
                "ulimit soft limit must be less than or equal to hard limit: 20 > 10",
            ),
            (u("nofile", -5, 10), "invalid ulimit argument: nofile=-5:10"),
        ] {
            let e = ulimits(&[l]).unwrap_err().to_string();
            assert!(e.starts_with(msg), "{e}");
        }
    }

    #[test]
    fn config_is_refused_with_dockerds_messages() {
        let c = |f: fn(&mut ContainerConfig)| {
            let mut c = ContainerConfig::default();
            f(&mut c);
            config(&c).unwrap_err().to_string()
        };
        assert_eq!(
            c(|c| c.working_dir = Some("rel/dir".into())),
            "the working directory 'rel/dir' is invalid, it needs to be an absolute path"
        );
        assert_eq!(
            c(|c| c.stop_signal = Some("SIGBOGUS".into())),
            "Invalid signal: SIGBOGUS"
        );
        assert_eq!(
            c(|c| c.env = Some(vec!["A=1".into(), "=x".into()])),
            "invalid environment variable: =x"
        );
        assert!(
            config(&ContainerConfig {
                env: Some(vec!["A".into(), "B=".into()]),
                working_dir: Some("/w".into()),
                stop_signal: Some("TERM".into()),
                ..Default::default()
            })
            .is_ok()
        );
    }

    #[test]
    fn uint_lists_parse_like_moby() {
        assert_eq!(parse_uint_list("0-2,4").unwrap(), [(0, 2), (4, 4)]);
        for bad in ["abc", "-1", "2-1", "1,", "1-", "1--2"] {
            assert!(parse_uint_list(bad).is_err(), "{bad}");
        }
    }
}
