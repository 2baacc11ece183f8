//! After the model is read: environment values and `env_file`s resolved, relative paths made
//! absolute against the project directory, profiles applied, references checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Environment, LoadError, dotenv};
use crate::model::mounts::MountKind;
use crate::model::{Project, Service};

pub(super) fn services(project: &mut Project, env: &Environment) -> Result<(), LoadError> {
    let dir = project.working_dir.clone();
    for (name, svc) in &mut project.file.services {
        environment(name, svc, &dir, env)?;
        paths(svc, &dir, env);
    }
    for src in project
        .file
        .configs
        .values_mut()
        .chain(project.file.secrets.values_mut())
    {
        if let Some(f) = &mut src.file {
            *f = absolute_in(&dir, f, env).display().to_string();
        }
    }
    let uses_default = project
        .file
        .services
        .values()
        .any(|s| s.network_names().iter().any(|n| n == "default"));
    if uses_default {
        project.file.networks.entry("default".into()).or_default();
    }
    Ok(())
}

/// `env_file`s first, then `environment` over them; names without a value come from the
/// shell (and `.env`), and are dropped when unset there, as Compose does.
fn environment(
    name: &str,
    svc: &mut Service,
    dir: &Path,
    env: &Environment,
) -> Result<(), LoadError> {
    let mut vars: BTreeMap<String, Option<String>> = BTreeMap::new();
    for f in &mut svc.env_file {
        let path = absolute_in(dir, &f.path, env);
        f.path = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !f.required => continue,
            Err(source) => {
                return Err(LoadError::Service {
                    service: name.to_owned(),
                    key: "env_file".into(),
                    message: format!("reading {}: {source}", path.display()),
                });
            }
        };
        let parsed =
            dotenv::parse(&text, &|n: &str| env.get(n)).map_err(|e| LoadError::EnvFile {
                path: path.clone(),
                line: e.line,
                why: e.why,
            })?;
        vars.extend(parsed);
    }
    vars.extend(std::mem::take(&mut svc.environment));
    svc.environment = vars
        .into_iter()
        .filter_map(|(k, v)| match v {
            Some(v) => Some((k, Some(v))),
            None => env.get(&k).map(|v| (k, Some(v))),
        })
        .collect();
    Ok(())
}

fn paths(svc: &mut Service, dir: &Path, env: &Environment) {
    if let Some(b) = &mut svc.build {
        b.context = absolute_in(dir, &b.context, env).display().to_string();
    }
    for m in &mut svc.volumes {
        if m.kind == MountKind::Bind
            && let Some(src) = &mut m.source
        {
            *src = absolute_in(dir, src, env).display().to_string();
        }
    }
}

/// `~/x` is under `$HOME`; a relative path is under the project directory; `..` and `.` are
/// folded so the engine sees a clean absolute path.
fn absolute_in(dir: &Path, p: &str, env: &Environment) -> PathBuf {
    let joined = if let Some(rest) = p.strip_prefix("~/") {
        PathBuf::from(env.get("HOME").unwrap_or_else(|| "/root".into())).join(rest)
    } else if Path::new(p).is_absolute() {
        PathBuf::from(p)
    } else {
        dir.join(p)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Moves services whose profiles are all inactive into `disabled`. `*` enables every profile.
pub(super) fn profiles(project: &mut Project, flags: &[String], env: &Environment) {
    let mut active: Vec<String> = flags.to_vec();
    if let Some(v) = env.get("COMPOSE_PROFILES") {
        active.extend(
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
    }
    let all = active.iter().any(|p| p == "*");
    let names: Vec<String> = project.file.services.keys().cloned().collect();
    for name in names {
        let svc = &project.file.services[&name];
        let on = svc.profiles.is_empty() || all || svc.profiles.iter().any(|p| active.contains(p));
        if !on && let Some(svc) = project.file.services.remove(&name) {
            project.disabled.insert(name, svc);
        }
    }
}

/// References a service makes must resolve: dependencies, networks, volumes, configs, secrets.
pub(super) fn validate(project: &Project) -> Result<(), LoadError> {
    let f = &project.file;
    for (name, svc) in &f.services {
        let err = |key: &str, message: String| LoadError::Service {
            service: name.clone(),
            key: key.to_owned(),
            message,
        };
        if svc.image.is_none() && svc.build.is_none() {
            return Err(err(
                "image",
                "neither an image nor a build context is specified".into(),
            ));
        }
        for (dep, d) in &svc.depends_on {
            if f.services.contains_key(dep) {
                continue;
            }
            if project.disabled.contains_key(dep) {
                if d.required {
                    return Err(err(
                        "depends_on",
                        format!("service {dep:?} is disabled by its profiles"),
                    ));
                }
                continue;
            }
            if d.required {
                return Err(err("depends_on", format!("undefined service {dep:?}")));
            }
        }
        for net in svc.network_names() {
            if net != "default" && !f.networks.contains_key(&net) {
                return Err(err("networks", format!("undefined network {net:?}")));
            }
        }
        if let Some(mode) = &svc.network_mode
            && let Some(other) = mode.strip_prefix("service:")
            && !f.services.contains_key(other)
        {
            return Err(err("network_mode", format!("undefined service {other:?}")));
        }
        for m in &svc.volumes {
            if m.kind == MountKind::Volume
                && let Some(src) = &m.source
                && !f.volumes.contains_key(src)
            {
                return Err(err("volumes", format!("undefined volume {src:?}")));
            }
        }
        for (key, refs, defs) in [
            ("configs", &svc.configs, &f.configs),
            ("secrets", &svc.secrets, &f.secrets),
        ] {
            for r in refs {
                let Some(def) = defs.get(&r.source) else {
                    return Err(err(
                        key,
                        format!("undefined {} {:?}", &key[..key.len() - 1], r.source),
                    ));
                };
                if def.file.is_none() && !def.external.is_external() {
                    return Err(err(
                        key,
                        format!("{:?}: only file sources are supported", r.source),
                    ));
                }
            }
        }
    }
    Ok(())
}
