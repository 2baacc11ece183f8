//! `--user`: names resolved against the *container's* /etc/passwd and /etc/group, read
//! through the rootfs without following symlinks out of it (as Docker's daemon does before it
//! hands numeric ids to the runtime).

use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

use nix::fcntl::OFlag;

use super::SpecError;

/// Numeric identity for the OCI spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// Home directory from passwd, for HOME when the environment has none.
    pub home: Option<String>,
}

#[derive(Debug, Clone)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

#[derive(Debug, Clone)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn read_in_root(rootfs: &Path, path: &str) -> String {
    let Ok(root) = std::fs::File::open(rootfs) else {
        return String::new();
    };
    let Ok(fd) =
        berth_runtime::fsutil::open_in_root(root.as_fd(), Path::new(path), OFlag::O_RDONLY)
    else {
        return String::new();
    };
    let mut s = String::new();
    let _ = std::fs::File::from(fd).take(4 << 20).read_to_string(&mut s);
    s
}

fn passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).unwrap_or(&"/").to_string(),
            })
        })
        .collect()
}

fn groups(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let members = f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members,
            })
        })
        .collect()
}

/// Resolves Docker's user string (`""`, `uid`, `name`, `uid:gid`, `name:group`) plus
/// `--group-add` entries.
pub fn resolve(rootfs: &Path, user: &str, group_add: &[String]) -> Result<Identity, SpecError> {
    let passwd = passwd(&read_in_root(rootfs, "/etc/passwd"));
    let groups = groups(&read_in_root(rootfs, "/etc/group"));
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = match u.parse::<u32>() {
        Ok(uid) => passwd
            .iter()
            .find(|p| p.uid == uid)
            .cloned()
            .or(Some(PasswdEntry {
                name: String::new(),
                uid,
                gid: 0,
                home: "/".into(),
            })),
        Err(_) => passwd.iter().find(|p| p.name == u).cloned(),
    }
    .ok_or_else(|| {
        SpecError::User(format!(
            "unable to find user {u}: no matching entries in passwd file"
        ))
    })?;
    let gid = match g {
        None => entry.gid,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => groups
                .iter()
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| {
                    SpecError::User(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        },
    };
    let mut additional: Vec<u32> = if entry.name.is_empty() {
        Vec::new()
    } else {
        groups
            .iter()
            .filter(|e| e.members.contains(&entry.name))
            .map(|e| e.gid)
            .collect()
    };
    for ga in group_add {
        let gid = match ga.parse::<u32>() {
            Ok(g) => g,
            Err(_) => groups
                .iter()
                .find(|e| &e.name == ga)
                .map(|e| e.gid)
                .ok_or_else(|| {
                    SpecError::User(format!(
                        "unable to find group {ga}: no matching entries in group file"
                    ))
                })?,
        };
        additional.push(gid);
    }
    additional.sort_unstable();
    additional.dedup();
    Ok(Identity {
        uid: entry.uid,
        gid,
        additional_gids: additional,
        home: Some(entry.home),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\napp:x:1000:\nwheel:x:10:app\naudio:x:29:\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn resolves_names_numbers_and_groups() {
        let d = rootfs();
        let id = resolve(d.path(), "", &[]).unwrap();
        assert_eq!((id.uid, id.gid, id.home.as_deref()), (0, 0, Some("/root")));
        let id = resolve(d.path(), "app", &["audio".into()]).unwrap();
        assert_eq!((id.uid, id.gid), (1000, 1000));
        assert_eq!(id.additional_gids, vec![10, 29]);
        let id = resolve(d.path(), "1234:55", &[]).unwrap();
        assert_eq!((id.uid, id.gid), (1234, 55));
        let id = resolve(d.path(), "app:wheel", &[]).unwrap();
        assert_eq!(id.gid, 10);
    }

    #[test]
    fn unknown_names_are_docker_errors() {
        let d = rootfs();
        let e = resolve(d.path(), "nobody", &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        assert!(resolve(d.path(), "app:nogroup", &[]).is_err());
    }

    #[test]
    fn passwd_symlink_out_of_root_is_not_followed() {
        let d = rootfs();
        std::fs::remove_file(d.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("etc/passwd")).unwrap();
        // Resolved inside the root: /etc/passwd -> (rootfs)/etc/passwd -> loop back to itself
        // is not the host's file; the lookup of a host-only user must fail.
        assert!(resolve(d.path(), "daemon", &[]).is_err());
    }
}
