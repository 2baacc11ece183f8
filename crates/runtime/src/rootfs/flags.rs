//! fstab-style mount options → mount(2) flags, propagation and filesystem data.

use nix::mount::MsFlags;

/// How one option string affects a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Set(MsFlags),
    Clear(MsFlags),
    Propagation(MsFlags),
    /// Recursive read-only (`rro`): applied to the whole bind tree.
    RecursiveReadonly,
}

fn effect(opt: &str) -> Option<Effect> {
    use Effect::{Clear, Propagation, Set};
    Some(match opt {
        "defaults" => Clear(MsFlags::empty()),
        "ro" => Set(MsFlags::MS_RDONLY),
        "rw" => Clear(MsFlags::MS_RDONLY),
        "suid" => Clear(MsFlags::MS_NOSUID),
        "nosuid" => Set(MsFlags::MS_NOSUID),
        "dev" => Clear(MsFlags::MS_NODEV),
        "nodev" => Set(MsFlags::MS_NODEV),
        "exec" => Clear(MsFlags::MS_NOEXEC),
        "noexec" => Set(MsFlags::MS_NOEXEC),
        "sync" => Set(MsFlags::MS_SYNCHRONOUS),
        "async" => Clear(MsFlags::MS_SYNCHRONOUS),
        "dirsync" => Set(MsFlags::MS_DIRSYNC),
        "remount" => Set(MsFlags::MS_REMOUNT),
        "mand" => Set(MsFlags::MS_MANDLOCK),
        "nomand" => Clear(MsFlags::MS_MANDLOCK),
        "atime" => Clear(MsFlags::MS_NOATIME),
        "noatime" => Set(MsFlags::MS_NOATIME),
        "diratime" => Clear(MsFlags::MS_NODIRATIME),
        "nodiratime" => Set(MsFlags::MS_NODIRATIME),
        "bind" => Set(MsFlags::MS_BIND),
        "rbind" => Set(MsFlags::MS_BIND.union(MsFlags::MS_REC)),
        "relatime" => Set(MsFlags::MS_RELATIME),
        "norelatime" => Clear(MsFlags::MS_RELATIME),
        "strictatime" => Set(MsFlags::MS_STRICTATIME),
        "nostrictatime" => Clear(MsFlags::MS_STRICTATIME),
        "silent" => Set(MsFlags::MS_SILENT),
        "loud" => Clear(MsFlags::MS_SILENT),
        "lazytime" => Set(MsFlags::MS_LAZYTIME),
        "nolazytime" => Clear(MsFlags::MS_LAZYTIME),
        "private" => Propagation(MsFlags::MS_PRIVATE),
        "rprivate" => Propagation(MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
        "shared" => Propagation(MsFlags::MS_SHARED),
        "rshared" => Propagation(MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
        "slave" => Propagation(MsFlags::MS_SLAVE),
        "rslave" => Propagation(MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
        "unbindable" => Propagation(MsFlags::MS_UNBINDABLE),
        "runbindable" => Propagation(MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
        "rro" => Effect::RecursiveReadonly,
        _ => return None,
    })
}

/// The parsed form of a mount's option list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedOptions {
    pub(crate) flags: MsFlags,
    pub(crate) propagation: Vec<MsFlags>,
    /// Filesystem-specific options (`mode=755`, `size=64m`), passed as mount data.
    pub(crate) data: Vec<String>,
    pub(crate) recursive_readonly: bool,
}

impl Default for ParsedOptions {
    fn default() -> Self {
        Self {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: Vec::new(),
            recursive_readonly: false,
        }
    }
}

impl ParsedOptions {
    pub(crate) fn data_string(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }

    pub(crate) fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
}

/// Parses an OCI mount's `options`. Unknown options become filesystem data, as runc does.
pub(crate) fn parse(options: &[String]) -> ParsedOptions {
    let mut out = ParsedOptions::default();
    for opt in options {
        match effect(opt) {
            Some(Effect::Set(f)) => out.flags.insert(f),
            Some(Effect::Clear(f)) => out.flags.remove(f),
            Some(Effect::Propagation(p)) => out.propagation.push(p),
            Some(Effect::RecursiveReadonly) => {
                out.recursive_readonly = true;
                out.flags.insert(MsFlags::MS_RDONLY);
            }
            None => out.data.push(opt.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn dev_tmpfs_options() {
        let p = parse(&opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]));
        assert_eq!(p.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(p.data_string().as_deref(), Some("mode=755,size=65536k"));
    }

    #[test]
    fn bind_ro_with_propagation() {
        let p = parse(&opts(&["rbind", "ro", "rprivate"]));
        assert!(p.is_bind());
        assert!(p.flags.contains(MsFlags::MS_REC | MsFlags::MS_RDONLY));
        assert_eq!(p.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        assert_eq!(p.data_string(), None);
    }

    #[test]
    fn later_options_win() {
        let p = parse(&opts(&["ro", "rw", "noexec", "exec"]));
        assert_eq!(p.flags, MsFlags::empty());
    }
}
