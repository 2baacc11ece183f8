//! A container's process ended: record it, tear down what start prepared, wake waiters, then
//! apply `--rm` or the restart policy.

use std::sync::Arc;
use std::time::Duration;

use crate::container::restart::{Policy, next_delay};
use crate::container::state::{Action, Status, transition};
use crate::engine::{Ctr, Engine};
use crate::monitor::protocol::ExitInfo;

impl Engine {
    /// Called once per exit, by the task reading the monitor's control connection.
    pub(crate) async fn on_exit(&self, ctr: &Arc<Ctr>, info: ExitInfo) {
        *ctr.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        ctr.attachers.close_all();
        let rec = ctr.snapshot();
        self.teardown(&rec).await;
        let finished = chrono::DateTime::from_timestamp_nanos(info.finished_at_ns);
        let rec = ctr.update(|r| {
            r.state.status = transition(r.state.status, Action::Exit).unwrap_or(Status::Exited);
            r.state.exit_code = info.code;
            r.state.oom_killed = info.oom_killed;
            r.state.pid = 0;
            r.state.monitor_pid = 0;
            r.state.finished_at = Some(finished);
            if let Some(h) = &mut r.state.health {
                h.status = "unhealthy".into();
            }
            r.state.health = None;
            r.net.sandbox_key = None;
            r.clone()
        });
        ctr.watch.send_modify(|s| s.exits += 1);
        if let Err(e) = ctr.persist(&self.inner.cfg.containers_dir()) {
            tracing::error!(container = %rec.id, error = %e, "recording an exit");
        }
        if info.oom_killed {
            self.container_event(&rec, "oom", &[]);
        }
        self.container_event(&rec, "die", &[("exitCode", info.code.to_string())]);
        self.after_exit(ctr, info.code);
    }

    /// `--rm`, or a restart by policy (in the background, with Docker's back-off).
    fn after_exit(&self, ctr: &Arc<Ctr>, code: i32) {
        let rec = ctr.snapshot();
        if rec.host_config.auto_remove.unwrap_or(false) {
            let engine = self.clone();
            let id = rec.id.clone();
            tokio::spawn(async move {
                if let Err(e) = engine
                    .remove(
                        &id,
                        crate::lifecycle::remove::RemoveOptions {
                            force: true,
                            volumes: true,
                            link: false,
                        },
                    )
                    .await
                {
                    tracing::warn!(container = %id, error = %e, "auto-removing");
                }
            });
            return;
        }
        let rp = rec.host_config.restart_policy.clone().unwrap_or_default();
        let name = rp.name.map(|n| n.to_string()).unwrap_or_default();
        let policy =
            Policy::from_docker(&name, rp.maximum_retry_count.unwrap_or(0)).unwrap_or_default();
        if !policy.should_restart(code, rec.state.manually_stopped, rec.state.restart_count) {
            return;
        }
        let ran_for = match (rec.state.started_at, rec.state.finished_at) {
            (Some(s), Some(f)) => (f - s).to_std().unwrap_or_default(),
            _ => Duration::ZERO,
        };
        let delay = {
            let mut delays = self
                .inner
                .restart_delays
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let d = next_delay(delays.get(&rec.id).copied(), ran_for);
            delays.insert(rec.id.clone(), d);
            d
        };
        let _ = ctr.update(|r| {
            transition(r.state.status, Action::ScheduleRestart).map(|s| r.state.status = s)
        });
        let (engine, ctr) = (self.clone(), ctr.clone());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _guard = ctr.lifecycle.lock().await;
            let rec = ctr.snapshot();
            if rec.state.status != Status::Restarting || rec.state.manually_stopped {
                return;
            }
            ctr.update(|r| r.state.restart_count += 1);
            if let Err(e) = engine.start_locked(&ctr).await {
                tracing::warn!(container = %rec.id, error = %e, "restart by policy failed");
                ctr.update(|r| r.state.status = Status::Exited);
            } else {
                engine.container_event(&ctr.snapshot(), "restart", &[]);
            }
        });
    }
}
