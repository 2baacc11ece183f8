//! `--privileged`, `--cap-add/--cap-drop` and `--security-opt`.

use std::collections::HashSet;

use bollard_stubs::models::HostConfig;
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, LinuxSeccomp};

use super::SpecError;

/// Parsed `--security-opt` values.
#[derive(Debug, Clone, Default)]
pub(super) struct SecurityOpts {
    pub(super) no_new_privileges: bool,
    /// `seccomp=unconfined`.
    pub(super) seccomp_unconfined: bool,
    /// `seccomp=<profile JSON>` (the docker CLI sends the file's content).
    pub(super) seccomp_profile: Option<String>,
}

pub(super) fn settings(h: &HostConfig) -> Result<SecurityOpts, SpecError> {
    let mut s = SecurityOpts::default();
    for opt in h.security_opt.iter().flatten() {
        let (k, v) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
        match k {
            "no-new-privileges" => s.no_new_privileges = v.is_empty() || v == "true",
            "seccomp" if v == "unconfined" => s.seccomp_unconfined = true,
            "seccomp" => s.seccomp_profile = Some(v.to_owned()),
            "apparmor" | "label" | "systempaths" => {}
            _ => {
                return Err(SpecError::Invalid(format!(
                    "invalid --security-opt: {opt:?}"
                )));
            }
        }
    }
    Ok(s)
}

fn normalize(cap: &str) -> String {
    let up = cap.to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

fn parse_cap(name: &str) -> Result<Capability, SpecError> {
    name.trim_start_matches("CAP_")
        .parse()
        .map_err(|_| SpecError::Invalid(format!("invalid capability {name:?}")))
}

/// Docker's defaults, plus `--cap-add`, minus `--cap-drop`; everything when privileged.
pub(super) fn capabilities(h: &HostConfig) -> Result<LinuxCapabilities, SpecError> {
    let all: HashSet<String> = caps::all().iter().map(ToString::to_string).collect();
    let mut set: HashSet<String> = if h.privileged.unwrap_or(false) {
        all.clone()
    } else {
        berth_runtime::spec::DOCKER_DEFAULT_CAPS
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    };
    let adds: Vec<String> = h.cap_add.iter().flatten().map(|c| normalize(c)).collect();
    let drops: Vec<String> = h.cap_drop.iter().flatten().map(|c| normalize(c)).collect();
    if drops.iter().any(|d| d == "ALL") {
        set.clear();
    }
    for d in &drops {
        set.remove(d);
    }
    for a in &adds {
        if a == "ALL" {
            set.extend(all.iter().cloned());
        } else {
            parse_cap(a)?;
            set.insert(a.clone());
        }
    }
    let parsed: Capabilities = set.iter().filter_map(|c| parse_cap(c).ok()).collect();
    let mut lc = LinuxCapabilities::default();
    lc.set_bounding(Some(parsed.clone()));
    lc.set_effective(Some(parsed.clone()));
    lc.set_permitted(Some(parsed));
    lc.set_inheritable(None);
    lc.set_ambient(None);
    Ok(lc)
}

/// The seccomp filter: none when privileged or unconfined, the user's profile, or Docker's
/// default resolved against the container's capabilities.
pub(super) fn seccomp(
    h: &HostConfig,
    s: &SecurityOpts,
    caps: &LinuxCapabilities,
) -> Result<Option<LinuxSeccomp>, SpecError> {
    if h.privileged.unwrap_or(false) || s.seccomp_unconfined {
        return Ok(None);
    }
    let names: Vec<String> = caps
        .effective()
        .iter()
        .flatten()
        .map(|c| format!("CAP_{c}"))
        .collect();
    let profile = match &s.seccomp_profile {
        Some(json) => berth_runtime::seccomp::DockerProfile::from_json(json)
            .map_err(|e| SpecError::Invalid(format!("decoding seccomp profile failed: {e}")))?,
        None => berth_runtime::seccomp::docker_default(),
    };
    berth_runtime::seccomp::resolve_for_host(&profile, &names)
        .map(Some)
        .map_err(|e| SpecError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_add_and_drop() {
        let h = HostConfig {
            cap_add: Some(vec!["NET_ADMIN".into()]),
            cap_drop: Some(vec!["chown".into()]),
            ..Default::default()
        };
        let c = capabilities(&h).unwrap();
        let eff = c.effective().clone().unwrap();
        assert!(eff.contains(&Capability::NetAdmin));
        assert!(!eff.contains(&Capability::Chown));
        assert!(eff.contains(&Capability::Kill));
        let h = HostConfig {
            cap_drop: Some(vec!["ALL".into()]),
            ..Default::default()
        };
        assert!(
            capabilities(&h)
                .unwrap()
                .effective()
                .clone()
                .unwrap()
                .is_empty()
        );
        let h = HostConfig {
            cap_add: Some(vec!["NOT_A_CAP".into()]),
            ..Default::default()
        };
        assert!(capabilities(&h).is_err());
    }

    #[test]
    fn security_opts() {
        let h = HostConfig {
            security_opt: Some(vec![
                "no-new-privileges".into(),
                "seccomp=unconfined".into(),
            ]),
            ..Default::default()
        };
        let s = settings(&h).unwrap();
        assert!(s.no_new_privileges && s.seccomp_unconfined);
        let h = HostConfig {
            security_opt: Some(vec!["bogus".into()]),
            ..Default::default()
        };
        assert!(settings(&h).is_err());
    }
}
