//! Records on disk: versioned JSON, loaded without ever deleting what could not be read.
//!
//! Every record berth keeps (a container's `config.v2.json`, an image, a layer, the refs, a
//! volume, the network state) carries `"schema_version": N`. A record written before versions
//! existed has none and reads as version 1, whose shape it has. Loading one gives:
//!
//! * the record;
//! * [`Loaded::Missing`]: no file (a create or a remove that crashed half-way: the caller
//!   knows which leftovers are its own to clean up);
//! * [`Loaded::Corrupt`]: bytes that do not parse as the record. The caller moves the record
//!   (or its directory) aside with [`quarantine`] and reports it — never deletes it;
//! * an error — the file could not be read (EIO, EACCES, ...) or was written by a newer berth
//!   — which stops the load: starting without a record that still exists would let later
//!   writes (garbage collection, a new container of the same name) destroy what it refers to.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use berth_errdefs::{ErrorKind, HasKind};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Schema version of records written before versions existed: the shape version 1 has.
pub const UNVERSIONED: u32 = 1;

/// What a record's owner declares about it.
pub trait Record: Serialize + DeserializeOwned {
    /// What it is, for messages (`container record`, `layer record`).
    const KIND: &'static str;
    /// The version this build writes; it reads every version up to it.
    const SCHEMA_VERSION: u32;
}

/// A record read from disk, or why there is none.
#[derive(Debug)]
pub enum Loaded<T> {
    Record(T),
    Missing,
    /// The bytes do not parse; the reason, for the log and `/info`.
    Corrupt(String),
}

/// Why a load must stop.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("reading {kind} {}", path.display())]
    Read {
        kind: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{kind} {} has schema version {found}; this berth reads up to {supported} (written by a newer berth?)",
        path.display()
    )]
    Newer {
        kind: &'static str,
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("writing {kind} {}", path.display())]
    Write {
        kind: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("encoding {kind}")]
    Encode {
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("moving {} aside", path.display())]
    Quarantine {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl HasKind for RecordError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
}

#[derive(serde::Deserialize)]
struct Header {
    #[serde(default)]
    schema_version: Option<u32>,
}

#[derive(Serialize)]
struct Versioned<'a, T> {
    schema_version: u32,
    #[serde(flatten)]
    record: &'a T,
}

/// The record's JSON with its schema version first.
pub fn encode<T: Record>(record: &T) -> Result<Vec<u8>, RecordError> {
    serde_json::to_vec(&Versioned {
        schema_version: T::SCHEMA_VERSION,
        record,
    })
    .map_err(|source| RecordError::Encode {
        kind: T::KIND,
        source,
    })
}

/// Parses a record's bytes (see [`load`]).
pub fn decode<T: Record>(path: &Path, data: &[u8]) -> Result<Loaded<T>, RecordError> {
    let version = match serde_json::from_slice::<Header>(data) {
        Ok(h) => h.schema_version.unwrap_or(UNVERSIONED),
        Err(e) => return Ok(Loaded::Corrupt(e.to_string())),
    };
    if version > T::SCHEMA_VERSION {
        return Err(RecordError::Newer {
            kind: T::KIND,
            path: path.to_path_buf(),
            found: version,
            supported: T::SCHEMA_VERSION,
        });
    }
    Ok(match serde_json::from_slice::<T>(data) {
        Ok(r) => Loaded::Record(r),
        Err(e) => Loaded::Corrupt(e.to_string()),
    })
}

/// Reads and parses the record at `path`.
pub fn load<T: Record>(path: &Path) -> Result<Loaded<T>, RecordError> {
    match std::fs::read(path) {
        Ok(data) => decode(path, &data),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Loaded::Missing),
        Err(source) => Err(RecordError::Read {
            kind: T::KIND,
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes the record durably (see [`crate::atomic_write`]).
pub fn save<T: Record>(path: &Path, record: &T) -> Result<(), RecordError> {
    let data = encode(record)?;
    crate::atomic_write(path, &data).map_err(|source| RecordError::Write {
        kind: T::KIND,
        path: path.to_path_buf(),
        source,
    })
}

/// Replaces the record without fsync (see [`crate::replace`]): for records of what does not
/// outlive a restart, where a killed process must still find the old or the new record.
pub fn replace<T: Record>(path: &Path, record: &T) -> Result<(), RecordError> {
    let data = encode(record)?;
    crate::replace(path, &data).map_err(|source| RecordError::Write {
        kind: T::KIND,
        path: path.to_path_buf(),
        source,
    })
}

/// The marker in the name of everything moved aside.
const MARK: &str = ".corrupt-";

/// Whether a directory entry is something [`quarantine`] moved aside: its name ends in
/// `.corrupt-YYYYMMDDTHHMMSSZ`, maybe with `-N`.
pub fn is_quarantined(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    let Some(at) = name.rfind(MARK) else {
        return false;
    };
    let tail = &name[at + MARK.len()..];
    let (stamp, n) = tail.split_at(tail.len().min(16));
    let b = stamp.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
        && (n.is_empty()
            || n.strip_prefix('-')
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit())))
}

/// Moves `path` (a file or a directory) aside to `<path>.corrupt-<UTC time>` in the same
/// directory, so no load sees it again and nothing is lost; returns the new path.
pub fn quarantine(path: &Path) -> Result<PathBuf, RecordError> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let base = path.as_os_str().to_string_lossy();
    let mut n = 0u32;
    loop {
        let to = if n == 0 {
            PathBuf::from(format!("{base}{MARK}{stamp}"))
        } else {
            PathBuf::from(format!("{base}{MARK}{stamp}-{n}"))
        };
        // Never over something already moved aside: a second quarantine in the same second.
        if to.symlink_metadata().is_ok() {
            n += 1;
            continue;
        }
        return std::fs::rename(path, &to)
            .map(|()| to)
            .map_err(|source| RecordError::Quarantine {
                path: path.to_path_buf(),
                source,
            });
    }
}

/// Everything moved aside under `dir` (one level), for `/info` after a restart too.
pub fn quarantined_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| is_quarantined(&e.file_name()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Rec {
        name: String,
        #[serde(default)]
        added_later: u32,
    }

    impl Record for Rec {
        const KIND: &'static str = "test record";
        const SCHEMA_VERSION: u32 = 2;
    }

    #[test]
    fn records_carry_their_version_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        let r = Rec {
            name: "a".into(),
            added_later: 7,
        };
        save(&p, &r).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["schema_version"], 2);
        assert!(matches!(load::<Rec>(&p).unwrap(), Loaded::Record(x) if x == r));
    }

    #[test]
    fn an_unversioned_record_loads_with_defaults_for_new_fields() {
        let got = decode::<Rec>(Path::new("x"), br#"{"name":"old"}"#).unwrap();
        assert!(matches!(got, Loaded::Record(Rec { ref name, added_later: 0 }) if name == "old"));
    }

    #[test]
    fn a_newer_record_stops_the_load() {
        let e = decode::<Rec>(Path::new("x"), br#"{"schema_version":3,"name":"n"}"#).unwrap_err();
        assert!(matches!(e, RecordError::Newer { found: 3, .. }), "{e}");
    }

    #[test]
    fn torn_or_wrong_bytes_are_corrupt_not_errors() {
        for bad in [
            &b"{\"name\":"[..],
            b"",
            b"[1,2]",
            b"{\"name\":5}",
            b"\xff\xfe",
        ] {
            assert!(
                matches!(
                    decode::<Rec>(Path::new("x"), bad).unwrap(),
                    Loaded::Corrupt(_)
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn missing_and_unreadable_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            load::<Rec>(&dir.path().join("none")).unwrap(),
            Loaded::Missing
        ));
        // A directory where the file should be: read(2) fails with EISDIR, as EIO would.
        let p = dir.path().join("dir.json");
        std::fs::create_dir(&p).unwrap();
        assert!(matches!(
            load::<Rec>(&p).unwrap_err(),
            RecordError::Read { .. }
        ));
    }

    #[test]
    fn quarantine_moves_aside_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let mut moved = Vec::new();
        for i in 0..3 {
            let p = dir.path().join("rec");
            std::fs::write(&p, format!("{i}")).unwrap();
            moved.push(quarantine(&p).unwrap());
            assert!(!p.exists());
        }
        let found = quarantined_in(dir.path());
        assert_eq!(found.len(), 3, "{found:?}");
        let mut contents: Vec<String> = moved
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        contents.sort();
        assert_eq!(contents, ["0", "1", "2"]);
        assert!(moved.iter().all(|p| is_quarantined(p.file_name().unwrap())));
    }

    #[test]
    fn only_what_quarantine_names_counts_as_moved_aside() {
        for (name, yes) in [
            ("abc.corrupt-20260101T120000Z", true),
            ("abc.corrupt-20260101T120000Z-3", true),
            ("networks.json.corrupt-20260101T120000Z", true),
            ("my.corrupt-volume", false),
            ("abc.corrupt-20260101T120000Z-", false),
            ("abc.corrupt-2026010XT120000Z", false),
            ("abc", false),
        ] {
            assert_eq!(is_quarantined(OsStr::new(name)), yes, "{name}");
        }
    }
}
