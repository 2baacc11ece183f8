//! Per-process settings from the spec: rlimits, OOM score, sysctls, hostname.

use nix::pty::Winsize;
use nix::sys::resource::{Resource, setrlimit};
use oci_spec::runtime::{Box as ConsoleBox, PosixRlimitType, Process, Spec};

use super::error::{InitError, Step};
use crate::sys;

fn resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

/// Applies `process.rlimits`.
pub(crate) fn rlimits(proc: &Process) -> Result<(), InitError> {
    for r in proc.rlimits().iter().flatten() {
        setrlimit(resource(r.typ()), r.soft(), r.hard())
            .step(|| format!("setting rlimit {:?} to {}:{}", r.typ(), r.soft(), r.hard()))?;
    }
    Ok(())
}

/// Writes `process.oomScoreAdj`; done while init still has CAP_SYS_RESOURCE.
pub(crate) fn oom_score_adj(proc: &Process) -> Result<(), InitError> {
    let Some(score) = proc.oom_score_adj() else {
        return Ok(());
    };
    std::fs::write("/proc/self/oom_score_adj", score.to_string())
        .step(|| format!("setting oom_score_adj to {score}"))
}

/// Writes `linux.sysctl` into the container's /proc/sys (after pivot_root, before /proc/sys
/// is made read-only).
pub(crate) fn sysctls(spec: &Spec) -> Result<(), InitError> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    for (key, value) in map {
        if key.contains("..") || key.starts_with('/') {
            return Err(InitError::msg(
                format!("setting sysctl {key}"),
                "invalid key",
            ));
        }
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, value).step(|| format!("setting sysctl {key}={value}"))?;
    }
    Ok(())
}

/// Hostname and domain name (they need a new UTS namespace, which validation checked).
pub(crate) fn uts(spec: &Spec) -> Result<(), InitError> {
    if let Some(name) = spec.hostname().as_deref().filter(|n| !n.is_empty()) {
        nix::unistd::sethostname(name).step(|| format!("setting hostname {name}"))?;
    }
    if let Some(name) = spec.domainname().as_deref().filter(|n| !n.is_empty()) {
        sys::uts::set_domainname(name).step(|| format!("setting domain name {name}"))?;
    }
    Ok(())
}

pub(crate) fn winsize(b: &ConsoleBox) -> Winsize {
    let clamp = |v: u64| u16::try_from(v).unwrap_or(u16::MAX);
    Winsize {
        ws_row: clamp(b.height()),
        ws_col: clamp(b.width()),
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}
