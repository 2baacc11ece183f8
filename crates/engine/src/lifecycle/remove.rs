//! `rm`: kill if forced, then remove the writable layer, anonymous volumes (`-v`), the
//! record, and the name.

use crate::container::state::{Action, Status, transition};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::{mounts, store};

/// `docker rm` flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveOptions {
    pub force: bool,
    /// Remove the container's anonymous volumes.
    pub volumes: bool,
    /// Remove the link `parent/alias` named by the key instead of a container.
    pub link: bool,
}

impl Engine {
    pub async fn remove(&self, key: &str, opts: RemoveOptions) -> Result<()> {
        if opts.link {
            return self.remove_link(key).await;
        }
        let ctr = self.lookup(key)?;
        let _guard = ctr.lifecycle.lock().await;
        let rec = ctr.snapshot();
        if rec.state.status == Status::Removing {
            return Err(EngineError::Conflict(format!(
                "removal of container {} is already in progress",
                rec.id
            )));
        }
        let live = rec.is_running() || rec.state.status == Status::Restarting;
        if live {
            if !opts.force {
                let (state, hint) = match rec.state.status {
                    Status::Paused => ("paused", "Unpause and then stop the container"),
                    Status::Restarting => ("restarting", "Stop the container"),
                    _ => ("running", "Stop the container"),
                };
                return Err(EngineError::RemoveLive {
                    state,
                    id: rec.id.clone(),
                    hint,
                });
            }
            ctr.update(|r| r.state.manually_stopped = true);
            self.stop_locked(&ctr, Some(0), Some("SIGKILL")).await?;
        }
        ctr.update(|r| transition(r.state.status, Action::Remove).map(|s| r.state.status = s))
            .map_err(|source| EngineError::State {
                id: rec.id.clone(),
                source,
            })?;
        let rec = ctr.snapshot();
        if let Err(e) = self.inner.images.remove(&rec.id) {
            ctr.update(|r| {
                r.state.status =
                    transition(r.state.status, Action::RemoveFailed).unwrap_or(Status::Dead);
            });
            return Err(EngineError::from_lib(&e));
        }
        crate::rootfs::remove_run_dir(&self.inner.cfg.run_dir(&rec.id));
        store::remove(&self.inner.cfg.containers_dir(), &rec.id)?;
        self.forget(&rec.id);
        self.forget_execs(&rec.id);
        self.inner
            .restart_delays
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&rec.id);
        if opts.volumes {
            for name in mounts::volume_names(&rec.mounts) {
                let anonymous = self.volumes().get(name).is_ok_and(|v| v.is_anonymous());
                if anonymous && self.volume_users(name).is_empty() {
                    let _ = self.volumes().remove(name, &[]);
                }
            }
        }
        ctr.watch.send_modify(|s| s.removed = true);
        self.container_event(&rec, "destroy", &[]);
        Ok(())
    }

    /// Containers (ids) that use volume `name`.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.containers()
            .into_iter()
            .filter(|c| mounts::volume_names(&c.mounts).any(|n| n == name))
            .map(|c| c.id)
            .collect()
    }
}
