//! Container records on disk: `<data-root>/containers/<id>/config.v2.json`, written
//! atomically; a directory without a readable record is a create that crashed, removed at
//! start-up.

use std::path::Path;

use crate::container::record::ContainerRecord;
use crate::error::{EngineError, Result};

const RECORD: &str = "config.v2.json";

/// Writes a record through to disk. The record of a `--rm` container is replaced without
/// fsync: such a container does not outlive a daemon restart (see `Engine::reconcile_all`),
/// so a power loss may only lose what would be removed anyway, and a run saves three fsync
/// pairs (~1.2 ms here). A killed daemon still leaves the old or the new record, never a torn
/// one.
pub(crate) fn save(containers_dir: &Path, rec: &ContainerRecord) -> Result<()> {
    let dir = containers_dir.join(&rec.id);
    std::fs::create_dir_all(&dir)
        .map_err(|e| EngineError::internal(format!("creating {}", dir.display()), e))?;
    let json = serde_json::to_vec(rec)
        .map_err(|e| EngineError::internal(format!("encoding the record of {}", rec.id), e))?;
    let write = if rec.host_config.auto_remove.unwrap_or(false) {
        berth_runtime::fsutil::replace
    } else {
        berth_runtime::fsutil::atomic_write
    };
    write(&dir.join(RECORD), &json).map_err(|e| {
        EngineError::internal(format!("writing the record of container {}", rec.id), e)
    })
}

/// Loads every record; half-created directories are removed.
pub(crate) fn load_all(containers_dir: &Path) -> Result<Vec<ContainerRecord>> {
    let entries = match std::fs::read_dir(containers_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(EngineError::internal(
                format!("reading {}", containers_dir.display()),
                e,
            ));
        }
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path().join(RECORD);
        match std::fs::read(&path)
            .ok()
            .and_then(|d| serde_json::from_slice::<ContainerRecord>(&d).ok())
        {
            Some(rec) => out.push(rec),
            None => {
                tracing::warn!(dir = %entry.path().display(), "removing a container directory without a record");
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    Ok(out)
}

/// Removes a container's directory (record, log, etc files).
pub(crate) fn remove(containers_dir: &Path, id: &str) -> Result<()> {
    let dir = containers_dir.join(id);
    // The record goes first: a crash mid-way leaves a directory load_all cleans up.
    let _ = std::fs::remove_file(dir.join(RECORD));
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(EngineError::internal(
            format!("removing {}", dir.display()),
            e,
        )),
        _ => Ok(()),
    }
}
