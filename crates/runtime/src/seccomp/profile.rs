//! Docker's seccomp profile format (what `docker run --security-opt seccomp=file.json` takes)
//! and its resolution into an OCI profile for one container: rules apply or not depending on
//! the container's capabilities, the architecture and the kernel version.

use oci_spec::runtime::LinuxSeccomp;
use serde::{Deserialize, Serialize};

use super::SeccompError;

/// Conditions on a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

/// An argument comparison, as in OCI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// One rule of a Docker profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub names: Vec<String>,
    /// The old single-name form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub includes: Filter,
    #[serde(default)]
    pub excludes: Filter,
}

/// An architecture and the sub-architectures whose binaries it also runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Vec<String>,
}

/// A Docker seccomp profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerProfile {
    pub default_action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arch_map: Vec<ArchMap>,
    /// The old form: a flat list of architectures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub syscalls: Vec<Rule>,
}

impl DockerProfile {
    /// Parses a profile (Docker's format; an OCI-format profile is accepted too, as Docker does).
    pub fn from_json(json: &str) -> Result<Self, SeccompError> {
        serde_json::from_str(json).map_err(|e| SeccompError::Invalid(e.to_string()))
    }
}

/// Kernel version as (major, minor).
fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(['.', '-']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn running_kernel() -> (u32, u32) {
    nix::sys::utsname::uname()
        .ok()
        .and_then(|u| parse_kernel(&u.release().to_string_lossy()))
        .unwrap_or((0, 0))
}

/// Go's name for this architecture, as Docker profiles use it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        other => other,
    }
}

fn native_scmp_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "x86" => "SCMP_ARCH_X86",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "arm" => "SCMP_ARCH_ARM",
        _ => "SCMP_ARCH_NATIVE",
    }
}

/// Resolves `p` for this host's architecture and kernel.
pub fn resolve_for_host(p: &DockerProfile, caps: &[String]) -> Result<LinuxSeccomp, SeccompError> {
    resolve(p, caps, go_arch(), native_scmp_arch(), running_kernel())
}

/// Resolves `p` for a container with `caps` on architecture `arch` (Go name) whose seccomp
/// name is `scmp_arch`, on kernel `kernel`.
pub fn resolve(
    p: &DockerProfile,
    caps: &[String],
    arch: &str,
    scmp_arch: &str,
    kernel: (u32, u32),
) -> Result<LinuxSeccomp, SeccompError> {
    let has = |c: &String| caps.iter().any(|x| x.eq_ignore_ascii_case(c));
    let mut architectures: Vec<String> =
        match p.arch_map.iter().find(|m| m.architecture == scmp_arch) {
            Some(m) => std::iter::once(m.architecture.clone())
                .chain(m.sub_architectures.iter().cloned())
                .collect(),
            None => p.architectures.clone(),
        };
    architectures.dedup();
    let mut syscalls = Vec::new();
    for r in &p.syscalls {
        let inc = &r.includes;
        let exc = &r.excludes;
        if !inc.caps.iter().all(has)
            || (!inc.arches.is_empty() && !inc.arches.iter().any(|a| a == arch))
        {
            continue;
        }
        if let Some(min) = inc.min_kernel.as_deref().and_then(parse_kernel)
            && kernel < min
        {
            continue;
        }
        if exc.caps.iter().any(has) || exc.arches.iter().any(|a| a == arch) {
            continue;
        }
        let mut names = r.names.clone();
        names.extend(r.name.clone());
        let args: Vec<serde_json::Value> = r
            .args
            .iter()
            .map(|a| serde_json::json!({"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op}))
            .collect();
        let mut rule = serde_json::json!({"names": names, "action": r.action});
        if let Some(e) = r.errno_ret {
            rule["errnoRet"] = e.into();
        }
        if !args.is_empty() {
            rule["args"] = args.into();
        }
        syscalls.push(rule);
    }
    let mut doc = serde_json::json!({"defaultAction": p.default_action, "architectures": architectures, "syscalls": syscalls});
    if let Some(e) = p.default_errno_ret {
        doc["defaultErrnoRet"] = e.into();
    }
    serde_json::from_value(doc).map_err(|e| SeccompError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_of(s: &LinuxSeccomp) -> Vec<String> {
        s.syscalls()
            .iter()
            .flatten()
            .flat_map(|r| r.names().clone())
            .collect()
    }

    const P: &str = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
        "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"]}],
        "syscalls":[
          {"names":["read","write"],"action":"SCMP_ACT_ALLOW"},
          {"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}},
          {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"op":"SCMP_CMP_MASKED_EQ"}],"excludes":{"caps":["CAP_SYS_ADMIN"]}},
          {"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4.8"}},
          {"names":["arch_prctl"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd64"]}}
        ]}"#;

    #[test]
    fn includes_and_excludes() {
        let p = DockerProfile::from_json(P).unwrap();
        let s = resolve(&p, &[], "amd64", "SCMP_ARCH_X86_64", (6, 1)).unwrap();
        let n = names_of(&s);
        assert!(
            n.contains(&"read".into())
                && n.contains(&"clone".into())
                && n.contains(&"ptrace".into())
                && n.contains(&"arch_prctl".into())
        );
        assert!(!n.contains(&"mount".into()));
        assert_eq!(s.architectures().as_ref().unwrap().len(), 3);
        let s = resolve(
            &p,
            &["CAP_SYS_ADMIN".into()],
            "arm64",
            "SCMP_ARCH_AARCH64",
            (4, 4),
        )
        .unwrap();
        let n = names_of(&s);
        assert!(n.contains(&"mount".into()) && !n.contains(&"clone".into()));
        assert!(!n.contains(&"ptrace".into()) && !n.contains(&"arch_prctl".into()));
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(parse_kernel("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert!(DockerProfile::from_json("{bad").is_err());
    }
}
