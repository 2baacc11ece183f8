//! `update`: new resource limits from `--resources` JSON and/or individual flags.

use std::io::Read;

use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpu, LinuxMemory, LinuxPidsBuilder, LinuxResources,
};

use super::CliError;
use super::args::UpdateArgs;

/// `current` with `--resources` replacing it and the flags applied on top.
pub(crate) fn resources(
    current: LinuxResources,
    a: &UpdateArgs,
) -> Result<LinuxResources, CliError> {
    let mut r = match &a.resources {
        Some(path) => read_resources(path)?,
        None => current,
    };
    let mut mem = (*r.memory()).unwrap_or_else(LinuxMemory::default);
    if let Some(v) = a.memory {
        mem.set_limit(Some(v));
    }
    if let Some(v) = a.memory_swap {
        mem.set_swap(Some(v));
    }
    if let Some(v) = a.memory_reservation {
        mem.set_reservation(Some(v));
    }
    if a.memory.is_some() || a.memory_swap.is_some() || a.memory_reservation.is_some() {
        r.set_memory(Some(mem));
    }
    let mut cpu = r.cpu().clone().unwrap_or_else(LinuxCpu::default);
    let cpu_flags = [
        a.cpu_shares.is_some(),
        a.cpu_quota.is_some(),
        a.cpu_period.is_some(),
        a.cpuset_cpus.is_some(),
        a.cpuset_mems.is_some(),
    ];
    if let Some(v) = a.cpu_shares {
        cpu.set_shares(Some(v));
    }
    if let Some(v) = a.cpu_quota {
        cpu.set_quota(Some(v));
    }
    if let Some(v) = a.cpu_period {
        cpu.set_period(Some(v));
    }
    if let Some(v) = &a.cpuset_cpus {
        cpu.set_cpus(Some(v.clone()));
    }
    if let Some(v) = &a.cpuset_mems {
        cpu.set_mems(Some(v.clone()));
    }
    if cpu_flags.contains(&true) {
        r.set_cpu(Some(cpu));
    }
    if let Some(limit) = a.pids_limit {
        let pids = LinuxPidsBuilder::default()
            .limit(limit)
            .build()
            .map_err(|e| CliError::Usage(e.to_string()))?;
        r.set_pids(Some(pids));
    }
    if let Some(w) = a.blkio_weight {
        let bio = LinuxBlockIoBuilder::default()
            .weight(w)
            .build()
            .map_err(|e| CliError::Usage(e.to_string()))?;
        r.set_block_io(Some(bio));
    }
    Ok(r)
}

fn read_resources(path: &std::path::Path) -> Result<LinuxResources, CliError> {
    let mut data = Vec::new();
    let read = if path == std::path::Path::new("-") {
        std::io::stdin().read_to_end(&mut data).map(drop)
    } else {
        std::fs::read(path).map(|d| data = d)
    };
    read.map_err(|source| CliError::Io {
        what: "reading",
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&data)
        .map_err(|e| CliError::Usage(format!("parsing resources from {}: {e}", path.display())))
}
