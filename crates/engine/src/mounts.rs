//! A container's mounts from `-v`, `--mount`, `--tmpfs`, `--volumes-from` and the image's
//! VOLUMEs, resolved at create (volumes are created then, as Docker does).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard_stubs::models::{ContainerConfig, HostConfig, Mount, MountType};

use crate::container::record::MountRecord;
use crate::engine::Engine;
use crate::error::{EngineError, Result};

const PROPAGATIONS: [&str; 6] = [
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

fn invalid(spec: &str) -> EngineError {
    EngineError::InvalidArgument(format!("invalid volume specification: '{spec}'"))
}

/// A bind's propagation when none is asked for: `rprivate`, but `rslave` for a source that
/// holds the daemon's data root, as dockerd does, so the daemon's own later mounts there
/// (other containers' root filesystems) reach the container as they come and go instead of
/// being pinned in it.
fn default_propagation(engine: &Engine, src: &Path) -> String {
    if engine.config().data_root.starts_with(src) {
        "rslave".into()
    } else {
        "rprivate".into()
    }
}

/// Parses one `-v` entry (`src:dst[:opts]`, with `src` a host path or a volume name).
fn parse_bind(engine: &Engine, spec: &str) -> Result<MountRecord> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [src, dst] => (*src, *dst, ""),
        [src, dst, opts] => (*src, *dst, *opts),
        _ => return Err(invalid(spec)),
    };
    if src.is_empty() || !dst.starts_with('/') {
        return Err(invalid(spec));
    }
    let mut rw = true;
    let mut propagation = String::new();
    let mut nocopy = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => rw = false,
            "rw" => rw = true,
            "nocopy" => nocopy = true,
            "z" | "Z" | "consistent" | "cached" | "delegated" => {}
            p if PROPAGATIONS.contains(&p) => propagation = p.to_owned(),
            _ => return Err(EngineError::InvalidArgument(format!("invalid mode: {o}"))),
        }
    }
    if src.starts_with('/') {
        return Ok(MountRecord {
            kind: "bind".into(),
            name: None,
            source: PathBuf::from(src),
            destination: dst.to_owned(),
            rw,
            mode: opts.to_owned(),
            propagation: if propagation.is_empty() {
                default_propagation(engine, Path::new(src))
            } else {
                propagation
            },
            tmpfs_options: None,
            subpath: None,
        });
    }
    let v = engine
        .volumes()
        .create(Some(src), None, HashMap::new(), HashMap::new())
        .map_err(|e| EngineError::from_lib(&e))?;
    Ok(MountRecord {
        kind: "volume".into(),
        name: Some(v.name),
        source: v.mountpoint,
        destination: dst.to_owned(),
        rw,
        mode: if nocopy {
            "nocopy".into()
        } else {
            opts.to_owned()
        },
        propagation: String::new(),
        tmpfs_options: None,
        subpath: None,
    })
}

/// One `--mount` entry.
fn from_mount(engine: &Engine, m: &Mount) -> Result<MountRecord> {
    let target = m
        .target
        .clone()
        .filter(|t| t.starts_with('/'))
        .ok_or_else(|| {
            EngineError::InvalidArgument("invalid mount config: mount path must be absolute".into())
        })?;
    let rw = !m.read_only.unwrap_or(false);
    match m.typ {
        Some(MountType::BIND) => {
            let src = m.source.clone().unwrap_or_default();
            if !Path::new(&src).exists() {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {src}"
                )));
            }
            let propagation = m
                .bind_options
                .as_ref()
                .and_then(|b| b.propagation)
                .map(|p| p.to_string())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| default_propagation(engine, Path::new(&src)));
            Ok(MountRecord {
                kind: "bind".into(),
                name: None,
                source: src.into(),
                destination: target,
                rw,
                mode: String::new(),
                propagation,
                tmpfs_options: None,
                subpath: None,
            })
        }
        Some(MountType::VOLUME) => {
            let subpath = volume_subpath(m)?;
            let labels = m
                .volume_options
                .as_ref()
                .and_then(|o| o.labels.clone())
                .unwrap_or_default();
            let v = engine
                .volumes()
                .create(m.source.as_deref(), None, labels, HashMap::new())
                .map_err(|e| EngineError::from_lib(&e))?;
            let nocopy = m
                .volume_options
                .as_ref()
                .and_then(|o| o.no_copy)
                .unwrap_or(false);
            Ok(MountRecord {
                kind: "volume".into(),
                name: Some(v.name),
                source: v.mountpoint,
                destination: target,
                rw,
                mode: if nocopy { "nocopy".into() } else { "z".into() },
                propagation: String::new(),
                tmpfs_options: None,
                subpath,
            })
        }
        Some(MountType::TMPFS) => {
            let mut opts = Vec::new();
            if let Some(size) = m
                .tmpfs_options
                .as_ref()
                .and_then(|t| t.size_bytes)
                .filter(|s| *s > 0)
            {
                opts.push(format!("size={size}"));
            }
            if let Some(mode) = m
                .tmpfs_options
                .as_ref()
                .and_then(|t| t.mode)
                .filter(|m| *m > 0)
            {
                opts.push(format!("mode={mode:o}"));
            }
            Ok(MountRecord {
                kind: "tmpfs".into(),
                name: None,
                source: PathBuf::new(),
                destination: target,
                rw,
                mode: String::new(),
                propagation: String::new(),
                tmpfs_options: Some(opts.join(",")),
                subpath: None,
            })
        }
        other => Err(EngineError::InvalidArgument(format!(
            "mount type {other:?} is not supported"
        ))),
    }
}

/// `VolumeOptions.Subpath` (`--mount type=volume,...,volume-subpath=`), checked as moby does
/// at create: a named volume, and a path that stays inside it lexically. Whether it exists,
/// and where it leads, is resolved inside the volume at every start (`volumes_for`).
fn volume_subpath(m: &Mount) -> Result<Option<String>> {
    let Some(sub) = m
        .volume_options
        .as_ref()
        .and_then(|o| o.subpath.clone())
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    let invalid = |why: &str| {
        EngineError::InvalidArgument(format!("invalid mount config for type \"volume\": {why}"))
    };
    if m.source.as_deref().is_none_or(str::is_empty) {
        return Err(invalid("must not set Subpath when using anonymous volumes"));
    }
    if !is_local(&sub) {
        return Err(invalid("subpath must be a relative path within the volume"));
    }
    Ok(Some(sub))
}

/// Go's `filepath.IsLocal`: relative, and no `..` that climbs above where it starts.
fn is_local(p: &str) -> bool {
    if p.is_empty() || p.starts_with('/') {
        return false;
    }
    let mut depth: usize = 0;
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => depth += 1,
        }
    }
    true
}

/// All mounts of a new container. Explicit mounts win over the image's VOLUMEs; two explicit
/// mounts on one destination are an error.
pub(crate) fn resolve(
    engine: &Engine,
    _id: &str,
    config: &ContainerConfig,
    host: &HostConfig,
) -> Result<Vec<MountRecord>> {
    let mut out: Vec<MountRecord> = Vec::new();
    let push = |m: MountRecord, out: &mut Vec<MountRecord>| -> Result<()> {
        if out.iter().any(|o| o.destination == m.destination) {
            return Err(EngineError::InvalidArgument(format!(
                "Duplicate mount point: {}",
                m.destination
            )));
        }
        out.push(m);
        Ok(())
    };
    for spec in host.binds.iter().flatten() {
        push(parse_bind(engine, spec)?, &mut out)?;
    }
    for m in host.mounts.iter().flatten() {
        push(from_mount(engine, m)?, &mut out)?;
    }
    for from in host.volumes_from.iter().flatten() {
        let (name, mode) = from.split_once(':').unwrap_or((from.as_str(), ""));
        let other = engine.container(name)?;
        for m in other.mounts.iter().filter(|m| m.kind != "tmpfs") {
            if out.iter().any(|o| o.destination == m.destination) {
                continue;
            }
            let mut m = m.clone();
            match mode {
                "ro" => m.rw = false,
                "rw" => m.rw = true,
                _ => {}
            }
            out.push(m);
        }
    }
    for dest in config.volumes.iter().flatten() {
        if out.iter().any(|o| &o.destination == dest)
            || host.tmpfs.as_ref().is_some_and(|t| t.contains_key(dest))
        {
            continue;
        }
        let v = engine
            .volumes()
            .create(None, None, HashMap::new(), HashMap::new())
            .map_err(|e| EngineError::from_lib(&e))?;
        out.push(MountRecord {
            kind: "volume".into(),
            name: Some(v.name),
            source: v.mountpoint,
            destination: dest.clone(),
            rw: true,
            mode: String::new(),
            propagation: String::new(),
            tmpfs_options: None,
            subpath: None,
        });
    }
    Ok(out)
}

/// Names of the volumes a container uses.
pub(crate) fn volume_names(mounts: &[MountRecord]) -> impl Iterator<Item = &str> {
    mounts
        .iter()
        .filter(|m| m.kind == "volume")
        .filter_map(|m| m.name.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subpaths_must_stay_inside_the_volume_lexically() {
        for ok in ["a", "a/b", "a/../b", "./a", "a/"] {
            assert!(is_local(ok), "{ok}");
        }
        for bad in ["", "/a", "..", "../a", "a/../..", "a/../../b"] {
            assert!(!is_local(bad), "{bad}");
        }
    }
}
