//! Running health checks: a probe exec'd in the container every interval, with a timeout;
//! results kept in the container's State.Health, changes published as events.

use std::sync::Arc;
use std::time::Instant;

use crate::container::health::{HealthState, MAX_OUTPUT, Probe, ProbeResult};
use crate::container::record::ContainerRecord;
use crate::engine::{Ctr, Engine};
use crate::exec::ExecConfig;
use crate::live::Output;

fn probe(rec: &ContainerRecord) -> Option<Probe> {
    rec.config.healthcheck.as_ref().and_then(Probe::from_config)
}

/// `Some(starting)` for a container with a health check.
pub(crate) fn initial_state(rec: &ContainerRecord) -> Option<HealthState> {
    probe(rec).map(|_| HealthState::default())
}

/// Starts the probe loop of a container that just started.
pub(crate) fn spawn_checks(engine: &Engine, ctr: &Arc<Ctr>) {
    let rec = ctr.snapshot();
    let Some(probe) = probe(&rec) else { return };
    let (engine, ctr) = (engine.clone(), ctr.clone());
    let started = Instant::now();
    let exits = ctr.watch.borrow().exits;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(probe.interval).await;
            let snap = *ctr.watch.borrow();
            if snap.exits != exits || snap.removed || !snap.status.is_live() {
                return;
            }
            let result = run_probe(&engine, &ctr.id, &probe).await;
            let in_start = started.elapsed() < probe.start_period;
            let (changed, rec) = ctr.update(|r| {
                let h = r.state.health.get_or_insert_with(HealthState::default);
                (h.record(result, probe.retries, in_start), r.clone())
            });
            if changed {
                let status = rec
                    .state
                    .health
                    .as_ref()
                    .map(|h| h.status.clone())
                    .unwrap_or_default();
                engine.container_event(&rec, &format!("health_status: {status}"), &[]);
                let _ = ctr.persist(&engine.inner.cfg.containers_dir());
            }
        }
    });
}

async fn run_probe(engine: &Engine, id: &str, probe: &Probe) -> ProbeResult {
    let start = chrono::Utc::now();
    let cfg = ExecConfig {
        cmd: probe.argv.clone(),
        attach_stdout: true,
        attach_stderr: true,
        ..ExecConfig::default()
    };
    let (code, output) = match engine.exec_create(id, cfg) {
        Err(e) => (-1, e.to_string()),
        Ok(exec_id) => match engine.exec_start(&exec_id, false).await {
            Err(e) => (-1, e.to_string()),
            Ok(mut streams) => {
                let mut out = Vec::new();
                let collect = async {
                    while let Some(o) = streams.output.recv().await {
                        let (Output::Stdout(b) | Output::Stderr(b)) = o;
                        if out.len() < MAX_OUTPUT {
                            out.extend_from_slice(&b[..b.len().min(MAX_OUTPUT - out.len())]);
                        }
                    }
                };
                match tokio::time::timeout(probe.timeout, collect).await {
                    Ok(()) => (
                        engine.exec_wait(&exec_id).await.unwrap_or(-1),
                        String::from_utf8_lossy(&out).into_owned(),
                    ),
                    Err(_) => {
                        if let Ok(inst) = engine.exec_get(&exec_id) {
                            let pid = inst.state().pid;
                            if pid > 0 {
                                let _ = nix::sys::signal::kill(
                                    nix::unistd::Pid::from_raw(pid),
                                    nix::sys::signal::Signal::SIGKILL,
                                );
                            }
                        }
                        (
                            -1,
                            format!("Health check exceeded timeout ({:?})", probe.timeout),
                        )
                    }
                }
            }
        },
    };
    ProbeResult {
        start: start.to_rfc3339(),
        end: chrono::Utc::now().to_rfc3339(),
        exit_code: i64::from(code),
        output,
    }
}
