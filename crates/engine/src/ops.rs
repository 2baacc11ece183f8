//! top, stats, update, rename, prune.

use std::collections::HashMap;

use bollard_stubs::models::{ContainerUpdateBody, HostConfig};

use crate::container::names;
use crate::container::restart::Policy;
use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// `docker top`: ps's titles and the rows of the container's processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub deleted: Vec<String>,
    pub space_reclaimed: u64,
}

impl Engine {
    fn running_runtime_container(
        &self,
        key: &str,
    ) -> Result<(
        crate::container::record::ContainerRecord,
        berth_runtime::Container,
    )> {
        let rec = self.container(key)?;
        if !rec.is_running() {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        let c = self
            .inner
            .runtime
            .load(&rec.id)
            .map_err(|e| EngineError::from_lib(&e))?;
        Ok((rec, c))
    }

    /// `docker top <id> [ps args]`.
    pub async fn top(&self, key: &str, ps_args: Option<&str>) -> Result<Top> {
        let (_, c) = self.running_runtime_container(key)?;
        let pids = c.processes().map_err(|e| EngineError::from_lib(&e))?;
        let args: Vec<String> = ps_args
            .filter(|a| !a.is_empty())
            .unwrap_or("-ef")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let out = tokio::process::Command::new("ps")
            .args(&args)
            .output()
            .await
            .map_err(|e| EngineError::internal("running ps", e))?;
        if !out.status.success() {
            return Err(EngineError::InvalidArgument(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }

    /// Resource usage from the container's cgroups.
    pub fn stats(&self, key: &str) -> Result<Option<berth_runtime::cgroups::Stats>> {
        let rec = self.container(key)?;
        if !rec.is_running() {
            return Ok(None);
        }
        let c = self
            .inner
            .runtime
            .load(&rec.id)
            .map_err(|e| EngineError::from_lib(&e))?;
        c.stats().map(Some).map_err(|e| EngineError::from_lib(&e))
    }

    /// `docker update`: resources (live, if running) and the restart policy.
    pub async fn update(&self, key: &str, body: ContainerUpdateBody) -> Result<Vec<String>> {
        let ctr = self.lookup(key)?;
        let _guard = ctr.lifecycle.lock().await;
        let rec = ctr.snapshot();
        let mut host = rec.host_config.clone();
        let info = crate::lifecycle::validate::host_info();
        let warnings = crate::lifecycle::validate::resources(
            &crate::lifecycle::validate::Resources::of_update(&body),
            info,
            true,
        )?;
        apply_update(&mut host, &body).map_err(|e| match e {
            EngineError::Conflict(m) => {
                EngineError::Conflict(format!("Cannot update container {}: {m}", rec.id))
            }
            other => other,
        })?;
        if !info.blkio_weight {
            host.blkio_weight = rec.host_config.blkio_weight;
        }
        if let Some(rp) = &body.restart_policy
            && host.auto_remove.unwrap_or(false)
            && rp
                .name
                .as_ref()
                .is_some_and(|n| n.to_string() != "no" && !n.to_string().is_empty())
        {
            return Err(EngineError::InvalidArgument(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
                    .into(),
            ));
        }
        if rec.is_running() {
            let resources = crate::ocispec::resources::resources(
                &host,
                host.privileged.unwrap_or(false),
                Vec::new(),
            )
            .map_err(|e| EngineError::from_lib(&e))?;
            let mut c = self
                .inner
                .runtime
                .load(&rec.id)
                .map_err(|e| EngineError::from_lib(&e))?;
            c.update(&resources)
                .map_err(|e| EngineError::from_lib(&e))?;
        }
        let rec = ctr.update(|r| {
            r.host_config = host;
            r.clone()
        });
        ctr.persist(&self.inner.cfg.containers_dir())?;
        self.container_event(&rec, "update", &[]);
        Ok(warnings)
    }

    /// `docker rename`.
    pub async fn rename(&self, key: &str, new_name: &str) -> Result<()> {
        let ctr = self.lookup(key)?;
        let new_name = new_name.trim_start_matches('/');
        if !names::is_valid(new_name) {
            return Err(EngineError::InvalidName(new_name.to_owned()));
        }
        let old = ctr.snapshot().name;
        if old == new_name {
            return Err(EngineError::InvalidArgument(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        self.reserve_name(new_name, &ctr.id)?;
        let rec = ctr.update(|r| {
            r.name = new_name.to_owned();
            r.clone()
        });
        if let Err(e) = ctr.persist(&self.inner.cfg.containers_dir()) {
            self.release_name(new_name);
            ctr.update(|r| r.name = old.clone());
            return Err(e);
        }
        self.release_name(&old);
        self.container_event(&rec, "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }

    /// `docker container prune`: removes stopped containers matching `until`/`label` filters.
    pub async fn prune_containers(&self, filters: &HashMap<String, Vec<String>>) -> Result<Pruned> {
        let until = filters
            .get("until")
            .and_then(|v| v.first())
            .map(|u| crate::filters::parse_time(u))
            .transpose()?;
        let mut out = Pruned::default();
        for rec in self.containers() {
            if rec.is_running() || rec.state.status == crate::container::state::Status::Restarting {
                continue;
            }
            if until.is_some_and(|u| rec.created.timestamp_nanos_opt().unwrap_or(0) >= u) {
                continue;
            }
            if !crate::filters::labels_match(filters, rec.config.labels.as_ref()) {
                continue;
            }
            let size = self.inner.images.container_size(&rec.id).unwrap_or(0);
            if self
                .remove(&rec.id, crate::lifecycle::remove::RemoveOptions::default())
                .await
                .is_ok()
            {
                out.deleted.push(rec.id);
                out.space_reclaimed += size;
            }
        }
        Ok(out)
    }
}

fn apply_update(h: &mut HostConfig, b: &ContainerUpdateBody) -> Result<()> {
    macro_rules! set {
        ($($f:ident),*) => { $( if b.$f.is_some() { h.$f = b.$f.clone(); } )* };
    }
    set!(
        cpu_shares,
        memory,
        cpu_period,
        cpu_quota,
        cpuset_cpus,
        cpuset_mems,
        memory_reservation,
        memory_swap,
        nano_cpus,
        pids_limit,
        blkio_weight,
        restart_policy
    );
    if let Some(rp) = &b.restart_policy {
        Policy::from_docker(
            &rp.name.map(|n| n.to_string()).unwrap_or_default(),
            rp.maximum_retry_count.unwrap_or(0),
        )
        .map_err(EngineError::InvalidArgument)?;
    }
    if let (Some(m), Some(s)) = (h.memory, h.memory_swap)
        && m > 0
        && s > 0
        && s < m
    {
        return Err(EngineError::Conflict("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into()));
    }
    Ok(())
}

/// Keeps ps's header and the rows whose PID column is one of `pids`.
fn parse_ps(out: &str, pids: &[i32]) -> Result<Top> {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    let titles: Vec<String> = header.split_whitespace().map(str::to_owned).collect();
    let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| {
        EngineError::InvalidArgument("Couldn't find PID field in ps output".into())
    })?;
    let n = titles.len();
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < n {
            continue;
        }
        if fields[pid_col]
            .parse::<i32>()
            .is_ok_and(|p| pids.contains(&p))
        {
            // The last column (the command) keeps its spaces.
            let mut row: Vec<String> = fields[..n - 1].iter().map(|s| (*s).to_owned()).collect();
            row.push(fields[n - 1..].join(" "));
            processes.push(row);
        }
    }
    Ok(Top { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_are_filtered_by_pid() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 /sbin/init\nroot 42 1 0 10:01 ? 00:00:00 sleep 100\n";
        let top = parse_ps(out, &[42]).unwrap();
        assert_eq!(top.titles.len(), 8);
        assert_eq!(
            top.processes,
            vec![vec![
                "root",
                "42",
                "1",
                "0",
                "10:01",
                "?",
                "00:00:00",
                "sleep 100"
            ]]
        );
        assert!(parse_ps("USER CMD\n", &[1]).is_err());
    }
}
