//! seccomp: an OCI `linux.seccomp` profile compiled to a BPF program with libseccomp, cached
//! on disk by the profile's digest, loaded by init as close to its exec as possible.
//!
//! libseccomp (the C library, through the `libseccomp` crate) rather than a pure-Rust
//! compiler: Docker's profile targets several architectures at once (x86_64 with its x86 and
//! x32 sub-architectures, so 32-bit binaries keep working), compares syscall arguments, and
//! relies on libseccomp's resolution of syscall names per architecture — the same semantics
//! runc and crun give it. Compiling Docker's profile costs milliseconds; the cache makes a
//! container start pay only a file read.

mod docker_default;
mod profile;

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use berth_errdefs::{ErrorKind, HasKind};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, LinuxSyscall};
use sha2::{Digest, Sha256};

pub use docker_default::docker_default;
pub use profile::{DockerProfile, resolve, resolve_for_host};

/// Errors compiling or caching a profile.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp {what}")]
    Libseccomp {
        what: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    #[error("seccomp action {0} is not supported by berth")]
    Unsupported(String),
    #[error("invalid seccomp profile: {0}")]
    Invalid(String),
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl HasKind for SeccompError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Unsupported(_) => ErrorKind::NotImplemented,
            Self::Invalid(_) => ErrorKind::InvalidArgument,
            _ => ErrorKind::Internal,
        }
    }
}

type Result<T> = std::result::Result<T, SeccompError>;

/// A compiled filter: raw `struct sock_filter` instructions plus the flags for seccomp(2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpfProgram {
    pub(crate) instructions: Vec<u8>,
    pub(crate) flags: u32,
}

impl BpfProgram {
    /// The number of BPF instructions.
    pub fn len(&self) -> usize {
        self.instructions.len() / 8
    }

    pub fn is_empty(&self) -> bool {
        self.instructions.is_empty()
    }
}

fn lib(what: impl Into<String>) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError {
    let what = what.into();
    move |source| SeccompError::Libseccomp { what, source }
}

fn action(a: LinuxSeccompAction, errno: Option<u32>, default_errno: u32) -> Result<ScmpAction> {
    let errno = i32::try_from(errno.unwrap_or(default_errno)).unwrap_or(libc::EPERM);
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(u16::try_from(errno).unwrap_or(0)),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(SeccompError::Unsupported("SCMP_ACT_NOTIFY".into()));
        }
    })
}

fn compare(arg: &oci_spec::runtime::LinuxSeccompArg) -> ScmpArgCompare {
    let index = u32::try_from(arg.index()).unwrap_or(u32::MAX);
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            return ScmpArgCompare::new(
                index,
                ScmpCompareOp::MaskedEqual(arg.value()),
                arg.value_two().unwrap_or(0),
            );
        }
    };
    ScmpArgCompare::new(index, op, arg.value())
}

/// Adds one OCI syscall entry. As runc: names unknown to libseccomp are skipped; arguments
/// that repeat an index become one rule per argument (OR), otherwise one rule with all (AND).
fn add_syscall(ctx: &mut ScmpFilterContext, rule: &LinuxSyscall, act: ScmpAction) -> Result<()> {
    let args = rule.args().clone().unwrap_or_default();
    let mut indexes: Vec<usize> = args.iter().map(|a| a.index()).collect();
    indexes.sort_unstable();
    let repeats = indexes.windows(2).any(|w| w[0] == w[1]);
    for name in rule.names() {
        let Ok(sc) = ScmpSyscall::from_name(name) else {
            tracing::debug!(syscall = %name, "unknown to libseccomp; skipped");
            continue;
        };
        if args.is_empty() {
            ctx.add_rule(act, sc)
                .map_err(lib(format!("rule for {name}")))?;
        } else if repeats {
            for a in &args {
                ctx.add_rule_conditional(act, sc, &[compare(a)])
                    .map_err(lib(format!("rule for {name}")))?;
            }
        } else {
            let cmps: Vec<ScmpArgCompare> = args.iter().map(compare).collect();
            ctx.add_rule_conditional(act, sc, &cmps)
                .map_err(lib(format!("rule for {name}")))?;
        }
    }
    Ok(())
}

fn arch(a: &oci_spec::runtime::Arch) -> Result<ScmpArch> {
    let name = serde_json::to_value(a)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    name.parse()
        .map_err(|_| SeccompError::Invalid(format!("unknown architecture {name}")))
}

/// Compiles `s`.
pub fn compile(s: &LinuxSeccomp) -> Result<BpfProgram> {
    let default_errno = s
        .default_errno_ret()
        .unwrap_or(u32::try_from(libc::EPERM).unwrap_or(1));
    let default = action(s.default_action(), Some(default_errno), default_errno)?;
    let mut ctx = ScmpFilterContext::new(default).map_err(lib("creating a filter"))?;
    // Filters are loaded by init itself (with no_new_privs or CAP_SYS_ADMIN), not by libseccomp.
    ctx.set_ctl_nnp(false)
        .map_err(lib("clearing the no_new_privs control"))?;
    for a in s.architectures().iter().flatten() {
        let a = arch(a)?;
        if !ctx.is_arch_present(a).unwrap_or(false) {
            ctx.add_arch(a)
                .map_err(lib(format!("adding architecture {a:?}")))?;
        }
    }
    for rule in s.syscalls().iter().flatten() {
        let act = action(
            rule.action(),
            rule.errno_ret(),
            u32::try_from(libc::EPERM).unwrap_or(1),
        )?;
        if act == default {
            continue; // libseccomp refuses rules that repeat the default action
        }
        add_syscall(&mut ctx, rule, act)?;
    }
    let instructions = export(&ctx)?;
    Ok(BpfProgram {
        instructions,
        flags: flags(s),
    })
}

fn flags(s: &LinuxSeccomp) -> u32 {
    use oci_spec::runtime::LinuxSeccompFilterFlag as F;
    s.flags().iter().flatten().fold(0, |acc, f| {
        acc | match f {
            F::SeccompFilterFlagLog => 2,       // SECCOMP_FILTER_FLAG_LOG
            F::SeccompFilterFlagSpecAllow => 4, // SECCOMP_FILTER_FLAG_SPEC_ALLOW
            F::SeccompFilterFlagTsync => 0,     // init is single-threaded
            _ => 0,
        }
    })
}

/// libseccomp 2.5 exports BPF to an fd: a memfd, read back.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>> {
    let fd =
        nix::sys::memfd::memfd_create(c"berth-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .map_err(|e| SeccompError::Io {
                what: "creating a memfd for",
                path: "seccomp export".into(),
                source: e.into(),
            })?;
    ctx.export_bpf(&fd).map_err(lib("exporting BPF"))?;
    let mut f = std::fs::File::from(fd);
    let mut out = Vec::new();
    f.seek(SeekFrom::Start(0))
        .and_then(|_| f.read_to_end(&mut out))
        .map_err(|source| SeccompError::Io {
            what: "reading back",
            path: "the exported BPF".into(),
            source,
        })?;
    Ok(out)
}

/// Compiles through a cache in `cache_dir`, keyed by the profile, libseccomp's version and
/// the architecture. A damaged entry is recompiled and rewritten.
pub fn compile_cached(s: &LinuxSeccomp, cache_dir: &Path) -> Result<BpfProgram> {
    let json = serde_json::to_vec(s).map_err(|e| SeccompError::Invalid(e.to_string()))?;
    let v = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let mut h = Sha256::new();
    h.update(&json);
    h.update(v.as_bytes());
    h.update(std::env::consts::ARCH.as_bytes());
    let key = hex::encode(h.finalize());
    let path = cache_dir.join(format!("{key}.bpf"));
    if let Ok(data) = std::fs::read(&path)
        && let Some((flags, instructions)) = data.split_first_chunk::<4>()
        && !instructions.is_empty()
        && instructions.len() % 8 == 0
    {
        return Ok(BpfProgram {
            instructions: instructions.to_vec(),
            flags: u32::from_le_bytes(*flags),
        });
    }
    let prog = compile(s)?;
    let mut data = prog.flags.to_le_bytes().to_vec();
    data.extend_from_slice(&prog.instructions);
    if std::fs::create_dir_all(cache_dir).is_ok()
        && let Err(e) = crate::fsutil::atomic_write(&path, &data)
    {
        tracing::debug!(error = %e, "seccomp cache not written");
    }
    Ok(prog)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn compiles_docker_default_for_default_caps() {
        let caps: Vec<String> = crate::spec::DOCKER_DEFAULT_CAPS
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let s = resolve_for_host(&docker_default(), &caps).unwrap();
        let p = compile(&s).unwrap();
        assert!(p.len() > 100, "{} instructions", p.len());
    }

    #[test]
    fn cache_round_trips_and_survives_damage() {
        let d = tempfile::tempdir().unwrap();
        let s = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        let a = compile_cached(&s, d.path()).unwrap();
        let b = compile_cached(&s, d.path()).unwrap();
        assert_eq!(a, b);
        let entry = std::fs::read_dir(d.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::write(&entry, b"junk").unwrap();
        assert_eq!(compile_cached(&s, d.path()).unwrap(), a);
    }

    #[test]
    fn notify_is_refused_and_unknown_names_skipped() {
        let s = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        assert!(matches!(compile(&s), Err(SeccompError::Unsupported(_))));
        let s = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["no_such_call","read"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        assert!(compile(&s).is_ok());
    }
}
