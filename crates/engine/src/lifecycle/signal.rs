//! stop, kill, restart, pause, unpause, wait.

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::container::state::{Action, Status, transition};
use crate::engine::{Ctr, Engine};
use crate::error::{EngineError, Result};

/// Docker's default stop timeout.
const DEFAULT_STOP_TIMEOUT: i64 = 10;

/// How long `kill` with SIGKILL waits for the exit it caused.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// `wait` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "" | "not-running" => Ok(Self::NotRunning),
            "next-exit" => Ok(Self::NextExit),
            "removed" => Ok(Self::Removed),
            other => Err(EngineError::InvalidArgument(format!(
                "invalid condition: {other:?}"
            ))),
        }
    }
}

/// Parses a signal as Docker accepts it: `SIGTERM`, `TERM`, `15`.
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n)
            .map_err(|_| EngineError::InvalidArgument(format!("Invalid signal: {s}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse()
        .map_err(|_| EngineError::InvalidArgument(format!("Invalid signal: {s}")))
}

impl Engine {
    fn runtime_container(&self, id: &str) -> Result<berth_runtime::Container> {
        self.inner
            .runtime
            .load(id)
            .map_err(|e| EngineError::from_lib(&e))
    }

    /// Sends a signal to the container's init (Docker's `kill`).
    pub async fn kill(&self, key: &str, signal: Option<&str>) -> Result<()> {
        let ctr = self.lookup(key)?;
        let rec = ctr.snapshot();
        let sig = parse_signal(signal.filter(|s| !s.is_empty()).unwrap_or("SIGKILL"))?;
        if rec.state.status == Status::Restarting {
            // Nothing runs to signal; as dockerd, a kill between restarts ends the policy.
            ctr.update(|r| {
                r.state.manually_stopped = true;
                r.state.status = Status::Exited;
            });
            return Ok(());
        }
        if !rec.is_running() {
            return Err(EngineError::NotRunning(rec.id));
        }
        if matches!(sig, Signal::SIGKILL | Signal::SIGTERM | Signal::SIGINT) {
            ctr.update(|r| r.state.manually_stopped = true);
        }
        let mut rx = ctr.watch.subscribe();
        let exits = rx.borrow().exits;
        self.runtime_container(&rec.id)?
            .kill(sig, false)
            .map_err(|e| EngineError::from_lib(&e))?;
        self.container_event(&rec, "kill", &[("signal", (sig as i32).to_string())]);
        if sig == Signal::SIGKILL {
            if rec.state.status == Status::Paused {
                // A frozen process takes its SIGKILL when thawed.
                let _ = self.runtime_container(&rec.id).map(|c| c.resume());
            }
            // As dockerd: `kill` with SIGKILL answers once the container is dead, so an
            // inspect right after sees it stopped.
            let dead = rx.wait_for(|s| s.exits > exits || s.removed);
            if tokio::time::timeout(KILL_WAIT, dead).await.is_err() {
                tracing::warn!(container = %rec.id, "still running {KILL_WAIT:?} after SIGKILL");
            }
        }
        Ok(())
    }

    /// Stops the container: its stop signal, then SIGKILL after `timeout` seconds. Returns
    /// false when it was not running (Docker's 304).
    pub async fn stop(
        &self,
        key: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<bool> {
        let ctr = self.lookup(key)?;
        let _guard = ctr.lifecycle.lock().await;
        ctr.update(|r| r.state.manually_stopped = true);
        self.stop_locked(&ctr, timeout, signal).await
    }

    pub(crate) async fn stop_locked(
        &self,
        ctr: &Arc<Ctr>,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<bool> {
        let rec = ctr.snapshot();
        if rec.state.status == Status::Restarting {
            ctr.update(|r| r.state.status = Status::Exited);
            return Ok(true);
        }
        if !rec.is_running() {
            return Ok(false);
        }
        let sig = parse_signal(
            signal
                .or(rec.config.stop_signal.as_deref())
                .filter(|s| !s.is_empty())
                .unwrap_or("SIGTERM"),
        )?;
        let secs = timeout
            .or(rec.config.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        let mut rx = ctr.watch.subscribe();
        let exits = rx.borrow().exits;
        let container = self.runtime_container(&rec.id)?;
        if let Err(e) = container.kill(sig, false) {
            tracing::debug!(container = %rec.id, error = %e, "stop signal");
        }
        if rec.state.status == Status::Paused {
            let _ = container.resume();
        }
        let exited = |s: &crate::engine::Snapshot| s.exits > exits;
        let graceful = if secs < 0 {
            rx.wait_for(exited).await.is_ok()
        } else {
            let wait = rx.wait_for(exited);
            tokio::time::timeout(Duration::from_secs(u64::try_from(secs).unwrap_or(0)), wait)
                .await
                .is_ok_and(|r| r.is_ok())
        };
        if !graceful {
            let _ = container.kill(Signal::SIGKILL, true);
            let _ = container.resume();
            let _ = rx.wait_for(exited).await;
        }
        self.container_event(&ctr.snapshot(), "stop", &[]);
        Ok(true)
    }

    /// Stops (if running) and starts again.
    pub async fn restart(
        &self,
        key: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let ctr = self.lookup(key)?;
        let _guard = ctr.lifecycle.lock().await;
        ctr.update(|r| r.state.manually_stopped = true);
        self.stop_locked(&ctr, timeout, signal).await?;
        ctr.update(|r| {
            r.state.manually_stopped = false;
            r.state.restart_count = 0;
        });
        self.start_locked(&ctr).await?;
        self.container_event(&ctr.snapshot(), "restart", &[]);
        Ok(())
    }

    pub async fn pause(&self, key: &str) -> Result<()> {
        self.pause_as(key, false).await
    }

    /// Pauses a running container for the length of a commit (`unpause` ends it). The record
    /// says so, so that a daemon killed mid-commit thaws it at its next start instead of
    /// leaving it frozen.
    pub async fn pause_for_commit(&self, key: &str) -> Result<()> {
        self.pause_as(key, true).await
    }

    async fn pause_as(&self, key: &str, for_commit: bool) -> Result<()> {
        let ctr = self.lookup(key)?;
        let rec = ctr.snapshot();
        match rec.state.status {
            Status::Paused => return Err(EngineError::AlreadyPaused(rec.id)),
            Status::Running => {}
            _ => return Err(EngineError::NotRunning(rec.id)),
        }
        // Recorded first: a crash between the two leaves a record that says paused (for a
        // commit) over a running container, which the next start sorts out.
        ctr.update(|r| r.state.paused_for_commit = for_commit);
        self.set_status(&ctr, Action::Pause)?;
        if let Err(e) = self
            .runtime_container(&rec.id)
            .and_then(|c| c.pause().map_err(|e| EngineError::from_lib(&e)))
        {
            ctr.update(|r| r.state.paused_for_commit = false);
            let _ = self.set_status(&ctr, Action::Unpause);
            return Err(e);
        }
        self.container_event(&rec, "pause", &[]);
        Ok(())
    }

    pub async fn unpause(&self, key: &str) -> Result<()> {
        let ctr = self.lookup(key)?;
        let rec = ctr.snapshot();
        if rec.state.status != Status::Paused {
            return Err(EngineError::NotPaused(rec.id));
        }
        self.runtime_container(&rec.id)?
            .resume()
            .map_err(|e| EngineError::from_lib(&e))?;
        ctr.update(|r| r.state.paused_for_commit = false);
        self.set_status(&ctr, Action::Unpause)?;
        self.container_event(&rec, "unpause", &[]);
        Ok(())
    }

    fn set_status(&self, ctr: &Ctr, action: Action) -> Result<()> {
        ctr.update(|r| transition(r.state.status, action).map(|s| r.state.status = s))
            .map_err(|source| EngineError::State {
                id: ctr.id.clone(),
                source,
            })?;
        ctr.persist(&self.inner.cfg.containers_dir())
    }

    /// Waits for `condition`; returns the exit code. Registers at once, so a wait made before
    /// `start` sees the exit that follows it (the docker CLI's order for `run`).
    pub async fn wait(&self, key: &str, condition: WaitCondition) -> Result<i32> {
        let mut rx = self.watch(key)?;
        let start = *rx.borrow();
        // A container that runs (or is about to restart) is waited for until its next exit,
        // whatever its restart policy does next: dockerd wakes not-running waiters when a
        // container exits, not when it stays down.
        let stopped = !start.status.is_live() && start.status != Status::Restarting;
        let done = |s: &crate::engine::Snapshot| match condition {
            WaitCondition::Removed => s.removed,
            WaitCondition::NotRunning if stopped => true,
            WaitCondition::NextExit | WaitCondition::NotRunning => {
                s.exits > start.exits || s.removed
            }
        };
        let snap = *rx
            .wait_for(done)
            .await
            .map_err(|_| EngineError::NoSuchContainer(key.to_owned()))?;
        Ok(snap.exit_code)
    }
}
