//! Container records on disk: `<data-root>/containers/<id>/config.v2.json`, versioned and
//! written atomically (`berth_fsutil::record`). At start-up a directory without a record is
//! a create or a remove that crashed half-way, and is removed; a record that does not parse
//! is moved aside with its directory (`<id>.corrupt-<time>`) and reported; a record that
//! cannot be read stops the start.

use std::path::{Path, PathBuf};

use berth_fsutil::record::{self, Loaded, Record};

use crate::container::record::ContainerRecord;
use crate::error::{EngineError, Result};

const RECORD: &str = "config.v2.json";

impl Record for ContainerRecord {
    const KIND: &'static str = "container record";
    const SCHEMA_VERSION: u32 = 1;
}

/// The path of a container's record.
pub(crate) fn record_path(containers_dir: &Path, id: &str) -> PathBuf {
    containers_dir.join(id).join(RECORD)
}

/// Writes a record through to disk. The record of a `--rm` container is replaced without
/// fsync: such a container does not outlive a daemon restart (see `Engine::reconcile_all`),
/// so a power loss may only lose what would be removed anyway, and a run saves three fsync
/// pairs (~1.2 ms here). A killed daemon still leaves the old or the new record, never a torn
/// one.
pub(crate) fn save(containers_dir: &Path, rec: &ContainerRecord) -> Result<()> {
    let dir = containers_dir.join(&rec.id);
    std::fs::create_dir_all(&dir)
        .map_err(|e| EngineError::internal(format!("creating {}", dir.display()), e))?;
    let path = record_path(containers_dir, &rec.id);
    let written = if rec.host_config.auto_remove.unwrap_or(false) {
        record::replace(&path, rec)
    } else {
        record::save(&path, rec)
    };
    written.map_err(|e| EngineError::from_lib(&e))
}

impl crate::engine::Ctr {
    /// Writes the record as it is now. Writers queue on the record's disk lock and each
    /// writes the state current when its turn comes, so the last write is never older than
    /// an earlier one: a save that snapshotted before a concurrent change (a health probe
    /// racing an exit) can no longer land after it and put the older state back on disk.
    pub(crate) fn persist(&self, containers_dir: &Path) -> Result<()> {
        let _writer = self
            .disk
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        save(containers_dir, &self.snapshot())
    }
}

/// What a load found: the records, and what it had to move aside (or found moved aside by
/// an earlier start), as warnings for the log and `/info`.
#[derive(Debug, Default)]
pub(crate) struct LoadedRecords {
    pub(crate) records: Vec<ContainerRecord>,
    pub(crate) warnings: Vec<String>,
}

/// Loads every record (see the module's comment for what happens to the others).
pub(crate) fn load_all(containers_dir: &Path) -> Result<LoadedRecords> {
    let entries = match std::fs::read_dir(containers_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LoadedRecords::default()),
        Err(e) => {
            return Err(EngineError::internal(
                format!("reading {}", containers_dir.display()),
                e,
            ));
        }
    };
    let mut out = LoadedRecords::default();
    for entry in entries {
        let entry = entry.map_err(|e| {
            EngineError::internal(format!("reading {}", containers_dir.display()), e)
        })?;
        let dir = entry.path();
        if record::is_quarantined(&entry.file_name()) {
            out.warnings.push(format!(
                "container data moved aside by an earlier start: {}",
                dir.display()
            ));
            continue;
        }
        match record::load::<ContainerRecord>(&dir.join(RECORD))
            .map_err(|e| EngineError::from_lib(&e))?
        {
            Loaded::Record(rec) if dir.file_name() == Some(rec.id.as_ref()) => {
                out.records.push(rec);
            }
            Loaded::Record(rec) => {
                let reason = format!("it holds the record of container {}", rec.id);
                out.warnings.push(move_aside(&dir, &reason)?);
            }
            Loaded::Corrupt(reason) => out.warnings.push(move_aside(&dir, &reason)?),
            Loaded::Missing => {
                tracing::info!(dir = %dir.display(), "removing what a crashed create or remove left");
                remove_dir(&dir)?;
            }
        }
    }
    Ok(out)
}

fn move_aside(dir: &Path, reason: &str) -> Result<String> {
    let to = record::quarantine(dir).map_err(|e| EngineError::from_lib(&e))?;
    let msg = format!(
        "container record {} does not parse ({reason}): moved aside to {}",
        dir.join(RECORD).display(),
        to.display()
    );
    tracing::error!("{msg}");
    Ok(msg)
}

fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(EngineError::internal(
            format!("removing {}", dir.display()),
            e,
        )),
        _ => Ok(()),
    }
}

/// Removes a container's directory (record, log, etc files).
pub(crate) fn remove(containers_dir: &Path, id: &str) -> Result<()> {
    let dir = containers_dir.join(id);
    // The record goes first: a crash mid-way leaves a directory load_all cleans up.
    let _ = std::fs::remove_file(dir.join(RECORD));
    remove_dir(&dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src/testdata/records")
                .join(name),
        )
        .unwrap()
    }

    fn put(dir: &Path, id: &str, data: &[u8]) {
        std::fs::create_dir_all(dir.join(id)).unwrap();
        std::fs::write(dir.join(id).join(RECORD), data).unwrap();
    }

    /// `container-v0-running.json`: running on a user network, as main wrote it before
    /// records had versions; `container-v1.json`: created, with a volume and a memory limit,
    /// as this berth writes it.
    const V0_ID: &str = "a9669c5ce4966a4480b74fdcb9360e333e31c82bcf09ad905934a55022daf221";
    const V1_ID: &str = "2ac41c2b6d37188f4669487c57a9294707320d278b530935ee97563edbd031ac";

    #[test]
    fn records_of_every_format_load() {
        let dir = tempfile::tempdir().unwrap();
        put(dir.path(), V0_ID, &fixture("container-v0-running.json"));
        put(dir.path(), V1_ID, &fixture("container-v1.json"));
        let got = load_all(dir.path()).unwrap();
        assert!(got.warnings.is_empty(), "{:?}", got.warnings);
        let mut ids: Vec<&str> = got.records.iter().map(|r| r.id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, [V1_ID, V0_ID]);
        let old = got.records.iter().find(|r| r.id == V0_ID).unwrap();
        assert_eq!(old.name, "runner");
        assert!(old.is_running());
        assert_eq!(old.net.networks["fxnet"].ip_address, "172.19.0.2");
        let new = got.records.iter().find(|r| r.id == V1_ID).unwrap();
        assert_eq!(new.name, "old-web");
        assert_eq!(new.host_config.memory, Some(67_108_864));
        assert_eq!(new.mounts[0].name.as_deref(), Some("fxvol"));
    }

    #[test]
    fn a_field_added_later_takes_its_default() {
        let dir = tempfile::tempdir().unwrap();
        let mut v: serde_json::Value =
            serde_json::from_slice(&fixture("container-v0-created.json")).unwrap();
        v.as_object_mut().unwrap().remove("exec_ids");
        put(dir.path(), V1_ID, &serde_json::to_vec(&v).unwrap());
        let got = load_all(dir.path()).unwrap();
        assert!(got.records[0].exec_ids.is_empty());
    }

    #[test]
    fn what_this_berth_writes_it_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        put(dir.path(), V0_ID, &fixture("container-v0-running.json"));
        let rec = load_all(dir.path()).unwrap().records.remove(0);
        save(dir.path(), &rec).unwrap();
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(record_path(dir.path(), V0_ID)).unwrap())
                .unwrap();
        assert_eq!(raw["schema_version"], 1);
        let again = load_all(dir.path()).unwrap().records.remove(0);
        assert_eq!(
            serde_json::to_value(&again).unwrap(),
            serde_json::to_value(&rec).unwrap()
        );
    }

    #[test]
    fn concurrent_changes_reach_the_disk_in_the_order_they_were_made() {
        let dir = tempfile::tempdir().unwrap();
        put(dir.path(), V1_ID, &fixture("container-v1.json"));
        let mut rec = load_all(dir.path()).unwrap().records.remove(0);
        rec.state.exit_code = 0;
        let ctr = crate::engine::Ctr::new(rec);
        // Each change is saved by the thread that made it; a save that wrote its own
        // (by then stale) copy could land after a newer one and lose it.
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..20 {
                        let mine = ctr.update(|r| {
                            r.state.exit_code += 1;
                            r.state.exit_code
                        });
                        ctr.persist(dir.path()).unwrap();
                        let on_disk =
                            record::load::<ContainerRecord>(&record_path(dir.path(), V1_ID));
                        let Loaded::Record(on_disk) = on_disk.unwrap() else {
                            panic!("the record is missing or torn");
                        };
                        assert!(on_disk.state.exit_code >= mine, "change {mine} was lost");
                    }
                });
            }
        });
        let on_disk = load_all(dir.path()).unwrap().records.remove(0);
        assert_eq!(on_disk.state.exit_code, 80);
    }

    #[test]
    fn a_record_that_does_not_parse_is_moved_aside_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let torn = fixture("container-v1.json");
        put(dir.path(), V1_ID, &torn[..torn.len() / 2]);
        std::fs::write(dir.path().join(V1_ID).join("log.json"), b"precious\n").unwrap();
        let got = load_all(dir.path()).unwrap();
        assert!(got.records.is_empty());
        assert_eq!(got.warnings.len(), 1, "{:?}", got.warnings);
        assert!(
            got.warnings[0].contains("moved aside"),
            "{}",
            got.warnings[0]
        );
        let moved = record::quarantined_in(dir.path());
        assert_eq!(moved.len(), 1);
        assert_eq!(
            std::fs::read(moved[0].join("log.json")).unwrap(),
            b"precious\n"
        );
        // A later start reports it again and touches nothing.
        let again = load_all(dir.path()).unwrap();
        assert_eq!(again.warnings.len(), 1);
        assert!(again.warnings[0].contains("earlier start"));
        assert_eq!(record::quarantined_in(dir.path()), moved);
    }

    #[test]
    fn an_unreadable_record_stops_the_load_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        put(dir.path(), V0_ID, &fixture("container-v0-running.json"));
        // read(2) of a directory fails (EISDIR), as an EIO or EACCES would.
        std::fs::create_dir_all(record_path(dir.path(), V1_ID)).unwrap();
        let e = load_all(dir.path()).unwrap_err();
        assert!(
            berth_errdefs::chain(&e).contains(V1_ID),
            "{}",
            berth_errdefs::chain(&e)
        );
        assert!(record_path(dir.path(), V0_ID).exists());
        assert!(record_path(dir.path(), V1_ID).exists());
    }

    #[test]
    fn a_record_from_a_newer_berth_stops_the_load() {
        let dir = tempfile::tempdir().unwrap();
        let mut v: serde_json::Value =
            serde_json::from_slice(&fixture("container-v1.json")).unwrap();
        v["schema_version"] = 99.into();
        put(dir.path(), V1_ID, &serde_json::to_vec(&v).unwrap());
        let e = load_all(dir.path()).unwrap_err();
        assert!(
            berth_errdefs::chain(&e).contains("newer"),
            "{}",
            berth_errdefs::chain(&e)
        );
    }

    #[test]
    fn a_directory_without_a_record_is_a_crashed_create() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(V0_ID)).unwrap();
        std::fs::write(dir.path().join(V0_ID).join("hostname"), b"x").unwrap();
        let got = load_all(dir.path()).unwrap();
        assert!(got.records.is_empty() && got.warnings.is_empty());
        assert!(!dir.path().join(V0_ID).exists());
    }
}
