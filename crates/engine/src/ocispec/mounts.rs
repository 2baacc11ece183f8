//! The container's mounts: Docker's defaults, /etc files, `--tmpfs`, volumes and binds.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount, MountBuilder};

use super::{SpecError, SpecInputs};

/// A volume or bind, resolved by the engine to a host path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraMount {
    pub destination: String,
    pub source: PathBuf,
    pub readonly: bool,
    /// `rprivate` unless asked otherwise.
    pub propagation: Option<String>,
    /// `tmpfs` with these options instead of a bind.
    pub tmpfs: Option<String>,
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Result<Mount, SpecError> {
    MountBuilder::default()
        .destination(PathBuf::from(dest))
        .typ(typ.to_owned())
        .source(PathBuf::from(source))
        .options(options.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        .build()
        .map_err(|e| SpecError::Build(e.to_string()))
}

fn bind(
    dest: &str,
    source: &Path,
    readonly: bool,
    propagation: Option<&str>,
) -> Result<Mount, SpecError> {
    let mut opts = vec!["rbind", if readonly { "ro" } else { "rw" }];
    opts.push(propagation.unwrap_or("rprivate"));
    mount(dest, "bind", &source.to_string_lossy(), &opts)
}

/// Docker's default mounts; `privileged` makes /sys and the cgroup tree writable.
fn defaults(shm_size: i64, privileged: bool) -> Result<Vec<Mount>, SpecError> {
    let shm = format!(
        "size={}k",
        (if shm_size > 0 { shm_size } else { 64 << 20 }) / 1024
    );
    let ro = if privileged { "rw" } else { "ro" };
    Ok(vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", ro])?,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", ro],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm],
        )?,
    ])
}

/// `--tmpfs /path:opts` (Docker adds noexec,nosuid,nodev unless the options say otherwise).
fn tmpfs(dest: &str, opts: &str) -> Result<Mount, SpecError> {
    let mut o: Vec<&str> = vec!["noexec", "nosuid", "nodev"];
    for opt in opts.split(',').filter(|s| !s.is_empty()) {
        let (neg, pos) = match opt {
            "exec" => ("noexec", "exec"),
            "suid" => ("nosuid", "suid"),
            "dev" => ("nodev", "dev"),
            other => ("", other),
        };
        o.retain(|x| *x != neg);
        o.push(pos);
    }
    mount(dest, "tmpfs", "tmpfs", &o)
}

/// All mounts, ordered so a parent is mounted before what lies under it; a user mount
/// replaces a default one at the same destination.
pub(super) fn all(i: &SpecInputs, privileged: bool) -> Result<Vec<Mount>, SpecError> {
    let mut user: Vec<Mount> = Vec::new();
    for (dest, opts) in i.host.tmpfs.iter().flatten() {
        user.push(tmpfs(dest, opts)?);
    }
    for m in &i.extra_mounts {
        if !m.destination.starts_with('/') {
            return Err(SpecError::Invalid(format!(
                "invalid mount config: mount path must be absolute: {:?}",
                m.destination
            )));
        }
        user.push(match &m.tmpfs {
            Some(opts) => tmpfs(&m.destination, opts)?,
            None => bind(
                &m.destination,
                &m.source,
                m.readonly,
                m.propagation.as_deref(),
            )?,
        });
    }
    if let Some(init) = &i.init_path {
        user.push(bind("/sbin/docker-init", init, true, None)?);
    }
    let taken = |d: &Path| user.iter().any(|m| m.destination() == d);
    let mut out: Vec<Mount> = defaults(i.host.shm_size.unwrap_or(0), privileged)?
        .into_iter()
        .filter(|m| !taken(m.destination()))
        .collect();
    for (dest, src) in &i.etc_files {
        if !taken(Path::new(dest)) {
            out.push(bind(dest, src, false, None)?);
        }
    }
    out.extend(user);
    // Stable sort by depth: /a before /a/b, the defaults' own order kept otherwise.
    out.sort_by_key(|m| m.destination().components().count());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_options_like_docker() {
        let m = tmpfs("/run", "exec,size=1m").unwrap();
        let o = m.options().clone().unwrap();
        assert!(o.contains(&"exec".to_owned()) && !o.contains(&"noexec".to_owned()));
        assert!(o.contains(&"size=1m".to_owned()) && o.contains(&"nosuid".to_owned()));
    }

    #[test]
    fn shm_size_and_privileged() {
        let d = defaults(128 << 20, true).unwrap();
        let shm = d
            .iter()
            .find(|m| m.destination() == Path::new("/dev/shm"))
            .unwrap();
        assert!(
            shm.options()
                .as_ref()
                .unwrap()
                .contains(&"size=131072k".to_owned())
        );
        let sys = d
            .iter()
            .find(|m| m.destination() == Path::new("/sys"))
            .unwrap();
        assert!(sys.options().as_ref().unwrap().contains(&"rw".to_owned()));
    }
}
