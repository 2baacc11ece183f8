//! HostConfig resource options → OCI `linux.resources`, and the device cgroup rules.

use bollard_stubs::models::{DeviceMapping, HostConfig};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory, LinuxPids,
    LinuxResources, LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder,
};

use super::SpecError;

/// Docker's default device allow list (what an unprivileged container may mknod/open).
fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_owned()));
        r
    };
    let mut deny = LinuxDeviceCgroup::default();
    deny.set_allow(false);
    deny.set_access(Some("rwm".into()));
    vec![
        deny,
        rule(LinuxDeviceType::C, None, None, "m"),
        rule(LinuxDeviceType::B, None, None, "m"),
        rule(LinuxDeviceType::C, Some(1), Some(3), "rwm"), // null
        rule(LinuxDeviceType::C, Some(1), Some(5), "rwm"), // zero
        rule(LinuxDeviceType::C, Some(1), Some(7), "rwm"), // full
        rule(LinuxDeviceType::C, Some(1), Some(8), "rwm"), // random
        rule(LinuxDeviceType::C, Some(1), Some(9), "rwm"), // urandom
        rule(LinuxDeviceType::C, Some(5), Some(0), "rwm"), // tty
        rule(LinuxDeviceType::C, Some(5), Some(1), "rwm"), // console
        rule(LinuxDeviceType::C, Some(5), Some(2), "rwm"), // ptmx
        rule(LinuxDeviceType::C, Some(136), None, "rwm"),  // pts
        rule(LinuxDeviceType::C, Some(10), Some(200), "rwm"), // tun
    ]
}

fn allow_all() -> Vec<LinuxDeviceCgroup> {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true);
    r.set_access(Some("rwm".into()));
    vec![r]
}

/// `--device-cgroup-rule 'c 42:* rmw'`.
fn parse_cgroup_rule(s: &str) -> Result<LinuxDeviceCgroup, SpecError> {
    let bad = || SpecError::Invalid(format!("invalid device cgroup rule {s:?}"));
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [typ, nums, access] = parts.as_slice() else {
        return Err(bad());
    };
    let typ = match *typ {
        "c" => Some(LinuxDeviceType::C),
        "b" => Some(LinuxDeviceType::B),
        "a" => None,
        _ => return Err(bad()),
    };
    let (major, minor) = nums.split_once(':').ok_or_else(bad)?;
    let num = |v: &str| {
        if v == "*" {
            Ok(None)
        } else {
            v.parse::<i64>().map(Some).map_err(|_| bad())
        }
    };
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true);
    r.set_typ(typ);
    r.set_major(num(major)?);
    r.set_minor(num(minor)?);
    r.set_access(Some((*access).to_owned()));
    Ok(r)
}

/// Cgroup rules for `--device` entries (resolved to major/minor by the caller).
pub fn device_rule(
    typ: LinuxDeviceType,
    major: i64,
    minor: i64,
    permissions: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true);
    r.set_typ(Some(typ));
    r.set_major(Some(major));
    r.set_minor(Some(minor));
    r.set_access(Some(if permissions.is_empty() {
        "rwm".into()
    } else {
        permissions.to_owned()
    }));
    r
}

fn throttle(
    list: Option<&Vec<bollard_stubs::models::ThrottleDevice>>,
) -> Result<Option<Vec<oci_spec::runtime::LinuxThrottleDevice>>, SpecError> {
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    list.iter()
        .map(|d| {
            let path = d.path.clone().unwrap_or_default();
            let (major, minor) = super::devices::major_minor(&path)?;
            LinuxThrottleDeviceBuilder::default()
                .major(major)
                .minor(minor)
                .rate(u64::try_from(d.rate.unwrap_or(0)).unwrap_or(0))
                .build()
                .map_err(|e| SpecError::Build(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn memory(h: &HostConfig) -> Option<LinuxMemory> {
    let any = h.memory.is_some_and(|v| v > 0)
        || h.memory_swap.is_some_and(|v| v != 0)
        || h.memory_reservation.is_some_and(|v| v > 0)
        || h.memory_swappiness.is_some_and(|v| v >= 0)
        || h.oom_kill_disable.is_some();
    if !any {
        return None;
    }
    let mut m = LinuxMemory::default();
    m.set_limit(h.memory.filter(|v| *v > 0));
    m.set_reservation(h.memory_reservation.filter(|v| *v > 0));
    // Docker: MemorySwap is memory+swap; unset with a memory limit means twice the limit.
    let swap = match (h.memory.filter(|v| *v > 0), h.memory_swap) {
        (_, Some(-1)) => Some(-1),
        (Some(_), Some(s)) if s > 0 => Some(s),
        // Saturating: a limit past half of i64 (validation lets it through) means no limit.
        (Some(mem), _) => Some(mem.saturating_mul(2)),
        _ => None,
    };
    m.set_swap(swap);
    m.set_swappiness(
        h.memory_swappiness
            .filter(|v| *v >= 0)
            .and_then(|v| u64::try_from(v).ok()),
    );
    m.set_disable_oom_killer(h.oom_kill_disable);
    Some(m)
}

fn cpu(h: &HostConfig) -> Result<Option<LinuxCpu>, SpecError> {
    let mut c = LinuxCpu::default();
    let mut any = false;
    if let Some(s) = h.cpu_shares.filter(|v| *v > 0) {
        c.set_shares(u64::try_from(s).ok());
        any = true;
    }
    if let Some(n) = h.nano_cpus.filter(|v| *v > 0) {
        if h.cpu_quota.is_some_and(|q| q > 0) || h.cpu_period.is_some_and(|p| p > 0) {
            return Err(SpecError::Invalid(
                "conflicting options: Nano CPUs and CPU Period cannot both be set".into(),
            ));
        }
        let period: u64 = 100_000;
        c.set_period(Some(period));
        c.set_quota(Some(n * 100_000 / 1_000_000_000));
        any = true;
    }
    if let Some(q) = h.cpu_quota.filter(|v| *v > 0) {
        c.set_quota(Some(q));
        any = true;
    }
    if let Some(p) = h.cpu_period.filter(|v| *v > 0) {
        c.set_period(u64::try_from(p).ok());
        any = true;
    }
    if let Some(cpus) = h.cpuset_cpus.clone().filter(|s| !s.is_empty()) {
        c.set_cpus(Some(cpus));
        any = true;
    }
    if let Some(mems) = h.cpuset_mems.clone().filter(|s| !s.is_empty()) {
        c.set_mems(Some(mems));
        any = true;
    }
    Ok(any.then_some(c))
}

fn block_io(h: &HostConfig) -> Result<Option<LinuxBlockIo>, SpecError> {
    let mut b = LinuxBlockIo::default();
    let mut any = false;
    if let Some(w) = h.blkio_weight.filter(|w| *w > 0) {
        b.set_weight(Some(w));
        any = true;
    }
    if let Some(list) = h.blkio_weight_device.as_ref().filter(|l| !l.is_empty()) {
        let mut out = Vec::new();
        for d in list {
            let (major, minor) =
                super::devices::major_minor(d.path.as_deref().unwrap_or_default())?;
            let mut b = LinuxWeightDeviceBuilder::default()
                .major(major)
                .minor(minor);
            if let Some(w) = d.weight {
                b = b.weight(u16::try_from(w).unwrap_or(u16::MAX));
            }
            out.push(b.build().map_err(|e| SpecError::Build(e.to_string()))?);
        }
        b.set_weight_device(Some(out));
        any = true;
    }
    let rb = throttle(h.blkio_device_read_bps.as_ref())?;
    let wb = throttle(h.blkio_device_write_bps.as_ref())?;
    let ri = throttle(h.blkio_device_read_iops.as_ref())?;
    let wi = throttle(h.blkio_device_write_iops.as_ref())?;
    any |= rb.is_some() || wb.is_some() || ri.is_some() || wi.is_some();
    b.set_throttle_read_bps_device(rb);
    b.set_throttle_write_bps_device(wb);
    b.set_throttle_read_iops_device(ri);
    b.set_throttle_write_iops_device(wi);
    Ok(any.then_some(b))
}

/// The container's `linux.resources`. `devices` are the `--device` mappings already turned
/// into cgroup rules.
pub fn resources(
    h: &HostConfig,
    privileged: bool,
    device_rules: Vec<LinuxDeviceCgroup>,
) -> Result<LinuxResources, SpecError> {
    let mut r = LinuxResources::default();
    r.set_memory(memory(h));
    r.set_cpu(cpu(h)?);
    r.set_block_io(block_io(h)?);
    if let Some(limit) = h.pids_limit.filter(|v| *v > 0) {
        let mut p = LinuxPids::default();
        p.set_limit(limit);
        r.set_pids(Some(p));
    }
    let mut devices = if privileged {
        allow_all()
    } else {
        default_device_rules()
    };
    devices.extend(device_rules);
    for rule in h.device_cgroup_rules.iter().flatten() {
        devices.push(parse_cgroup_rule(rule)?);
    }
    r.set_devices(Some(devices));
    Ok(r)
}

/// `--device /dev/x[:/dev/y][:rwm]` mappings, for callers that need the parts.
pub fn device_mapping_parts(d: &DeviceMapping) -> (String, String, String) {
    let host = d.path_on_host.clone().unwrap_or_default();
    let inside = d
        .path_in_container
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| host.clone());
    let perms = d
        .cgroup_permissions
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "rwm".into());
    (host, inside, perms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_swap_follows_docker() {
        let h = HostConfig {
            memory: Some(64 << 20),
            ..Default::default()
        };
        let m = memory(&h).unwrap();
        assert_eq!(m.limit(), Some(64 << 20));
        assert_eq!(m.swap(), Some(128 << 20));
        let h = HostConfig {
            memory: Some(64 << 20),
            memory_swap: Some(-1),
            ..Default::default()
        };
        assert_eq!(memory(&h).unwrap().swap(), Some(-1));
        assert!(memory(&HostConfig::default()).is_none());
    }

    #[test]
    fn nano_cpus_become_quota() {
        let h = HostConfig {
            nano_cpus: Some(1_500_000_000),
            ..Default::default()
        };
        let c = cpu(&h).unwrap().unwrap();
        assert_eq!((c.quota(), c.period()), (Some(150_000), Some(100_000)));
        let h = HostConfig {
            nano_cpus: Some(1),
            cpu_period: Some(5),
            ..Default::default()
        };
        assert!(cpu(&h).is_err());
    }

    #[test]
    fn device_rules() {
        let r = resources(&HostConfig::default(), false, Vec::new()).unwrap();
        let d = r.devices().as_ref().unwrap();
        assert!(!d[0].allow());
        assert!(d.iter().any(|x| x.major() == Some(136)));
        let r = resources(&HostConfig::default(), true, Vec::new()).unwrap();
        assert_eq!(r.devices().as_ref().unwrap().len(), 1);
        let rule = parse_cgroup_rule("c 42:* rmw").unwrap();
        assert_eq!((rule.major(), rule.minor()), (Some(42), None));
        assert!(parse_cgroup_rule("x 1:2 r").is_err());
    }
}
