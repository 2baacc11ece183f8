//! Loading a project: find the files, read `.env`, parse each file, interpolate, merge, check
//! against the model (unknown keys are errors), resolve paths, apply profiles, validate
//! references and the dependency graph. Nothing here talks to a daemon.

pub(crate) mod dotenv;
pub(crate) mod interpolate;
pub(crate) mod merge;
mod resolve;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

use crate::model::{File, Project};

/// The file names Compose looks for, in its order.
const CANDIDATES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];
const OVERRIDES: &[&str] = &[
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// Why a project could not be loaded. Each names the file, service and key it is about.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no configuration file provided: not found (looked for {} in {dir} and its parents)", CANDIDATES.join(", "))]
    NoFile { dir: PathBuf },
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not valid YAML")]
    Yaml {
        path: PathBuf,
        #[source]
        source: serde_norway::Error,
    },
    #[error(
        "{path}: not a Compose file: the top level must be a mapping of services, networks, volumes..."
    )]
    NotCompose { path: PathBuf },
    #[error("{path}: {key}: {message}")]
    Interpolate {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("{files}: {key}: {message}")]
    Invalid {
        files: String,
        key: String,
        message: String,
    },
    #[error("{path}:{line}: {why}")]
    EnvFile {
        path: PathBuf,
        line: usize,
        why: String,
    },
    #[error("service {service:?}: {key}: {message}")]
    Service {
        service: String,
        key: String,
        message: String,
    },
    #[error("dependency cycle detected: {}", cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },
    #[error(
        "invalid project name {name:?}: it must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit"
    )]
    ProjectName { name: String },
    #[error("{files}: no services defined")]
    NoServices { files: String },
}

/// What the command line says about where the project is.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-f`, in order; empty means `COMPOSE_FILE` or discovery.
    pub files: Vec<PathBuf>,
    pub project_name: Option<String>,
    pub project_directory: Option<PathBuf>,
    /// `--env-file`; empty means `<project dir>/.env` if present.
    pub env_files: Vec<PathBuf>,
    pub profiles: Vec<String>,
}

/// Variables: the process environment over the project's `.env`.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    shell: BTreeMap<String, String>,
    dotenv: BTreeMap<String, String>,
}

impl Environment {
    /// The current process's environment.
    pub fn from_process() -> Self {
        Self {
            shell: std::env::vars().collect(),
            dotenv: BTreeMap::new(),
        }
    }

    /// An explicit environment (tests).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            shell: vars.into_iter().collect(),
            dotenv: BTreeMap::new(),
        }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.shell
            .get(name)
            .or_else(|| self.dotenv.get(name))
            .cloned()
    }
}

/// Loads the project the options point at.
pub fn load(opts: &Options, env: &Environment) -> Result<Project, LoadError> {
    let mut env = env.clone();
    let files = discover(opts, &env)?;
    let working_dir = match &opts.project_directory {
        Some(d) => absolute(d),
        None => files[0]
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    read_dotenv(opts, &working_dir, &mut env)?;
    let mut merged = Mapping::new();
    for path in &files {
        merge::files(&mut merged, read_file(path, &env)?);
    }
    let files_label = files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let file: File = deserialize(Value::Mapping(merged), &files_label)?;
    if file.services.is_empty() {
        return Err(LoadError::NoServices { files: files_label });
    }
    let name = project_name(opts, &env, &file, &working_dir)?;
    let mut project = Project {
        name,
        working_dir,
        config_files: files,
        file,
        disabled: BTreeMap::new(),
    };
    resolve::services(&mut project, &env)?;
    resolve::profiles(&mut project, &opts.profiles, &env);
    resolve::validate(&project)?;
    crate::graph::Graph::new(&project.file.services)?;
    Ok(project)
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let Ok(cwd) = std::env::current_dir() else {
        return p.to_path_buf();
    };
    let mut out = cwd;
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn discover(opts: &Options, env: &Environment) -> Result<Vec<PathBuf>, LoadError> {
    if !opts.files.is_empty() {
        return Ok(opts.files.iter().map(|f| absolute(f)).collect());
    }
    if let Some(list) = env.get("COMPOSE_FILE").filter(|v| !v.is_empty()) {
        let sep = env
            .get("COMPOSE_PATH_SEPARATOR")
            .unwrap_or_else(|| ":".into());
        return Ok(list
            .split(sep.as_str())
            .map(|f| absolute(Path::new(f)))
            .collect());
    }
    let start = opts
        .project_directory
        .as_deref()
        .map_or_else(|| absolute(Path::new(".")), absolute);
    let mut dir = Some(start.as_path());
    while let Some(d) = dir {
        if let Some(found) = CANDIDATES.iter().map(|c| d.join(c)).find(|p| p.is_file()) {
            let mut files = vec![found];
            files.extend(OVERRIDES.iter().map(|c| d.join(c)).find(|p| p.is_file()));
            return Ok(files);
        }
        dir = d.parent();
    }
    Err(LoadError::NoFile { dir: start })
}

fn read_dotenv(opts: &Options, dir: &Path, env: &mut Environment) -> Result<(), LoadError> {
    let paths: Vec<PathBuf> = if opts.env_files.is_empty() {
        let p = dir.join(".env");
        if p.is_file() { vec![p] } else { Vec::new() }
    } else {
        opts.env_files.iter().map(|p| absolute(p)).collect()
    };
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Read {
            path: path.clone(),
            source,
        })?;
        let shell = env.clone();
        let vars =
            dotenv::parse(&text, &|n: &str| shell.get(n)).map_err(|e| LoadError::EnvFile {
                path: path.clone(),
                line: e.line,
                why: e.why,
            })?;
        for (k, v) in vars {
            if let Some(v) = v.or_else(|| shell.shell.get(&k).cloned()) {
                env.dotenv.insert(k, v);
            }
        }
    }
    Ok(())
}

/// One file: YAML, merge keys (`<<`), `x-` extensions removed, variables interpolated.
fn read_file(path: &Path, env: &Environment) -> Result<Mapping, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut value: Value = serde_norway::from_str(&text).map_err(|source| LoadError::Yaml {
        path: path.to_path_buf(),
        source,
    })?;
    value.apply_merge().map_err(|source| LoadError::Yaml {
        path: path.to_path_buf(),
        source,
    })?;
    let Value::Mapping(mut map) = value else {
        return Err(LoadError::NotCompose {
            path: path.to_path_buf(),
        });
    };
    strip_extensions(&mut map);
    let mut tree = Value::Mapping(map);
    interpolate::tree(&mut tree, &|n: &str| env.get(n), &mut Vec::new()).map_err(
        |(key, problem)| LoadError::Interpolate {
            path: path.to_path_buf(),
            key,
            message: match problem {
                interpolate::Problem::Required { var, message } if message.is_empty() => {
                    format!("required variable {var} is missing a value")
                }
                interpolate::Problem::Required { var, message } => {
                    format!("required variable {var} is missing a value: {message}")
                }
                interpolate::Problem::Syntax(s) => s,
            },
        },
    )?;
    match tree {
        Value::Mapping(m) => Ok(m),
        _ => unreachable!("interpolation keeps the top-level mapping"),
    }
}

/// Mappings whose keys are the user's (environment names, labels...), where `x-` is data.
const FREE_FORM: &[&str] = &[
    "environment",
    "labels",
    "args",
    "driver_opts",
    "sysctls",
    "options",
    "extra_hosts",
    "annotations",
    "aux_addresses",
];

/// Removes `x-*` keys, Compose's extension fields, from every schema object.
fn strip_extensions(map: &mut Mapping) {
    map.retain(|k, _| !k.as_str().is_some_and(|s| s.starts_with("x-")));
    for (k, v) in map.iter_mut() {
        if k.as_str().is_some_and(|s| FREE_FORM.contains(&s)) {
            continue;
        }
        strip_value(v);
    }
}

fn strip_value(v: &mut Value) {
    match v {
        Value::Mapping(m) => strip_extensions(m),
        Value::Sequence(s) => s.iter_mut().for_each(strip_value),
        _ => {}
    }
}

/// Checks the merged tree against the model; the error names the key.
fn deserialize(value: Value, files: &str) -> Result<File, LoadError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut key = e.path().to_string();
        let (message, unknown) = describe_serde(&e.inner().to_string());
        // serde's path ends at the unknown key itself; the error names it already.
        if let Some(k) = &unknown {
            if let Some(parent) = key.strip_suffix(&format!(".{k}")) {
                key = parent.to_owned();
            } else if key == *k {
                key = ".".into();
            }
        }
        LoadError::Invalid {
            files: files.to_owned(),
            key: if key == "." {
                "(top level)".into()
            } else {
                key
            },
            message,
        }
    })
}

/// `unknown field `foo`, expected one of ...` → `unknown key "foo"` (and the key).
fn describe_serde(raw: &str) -> (String, Option<String>) {
    if let Some(rest) = raw.strip_prefix("unknown field `")
        && let Some(end) = rest.find('`')
    {
        let k = &rest[..end];
        return (format!("unknown key {k:?}"), Some(k.to_owned()));
    }
    if let Some(rest) = raw.strip_prefix("unknown variant `")
        && let Some(end) = rest.find('`')
    {
        let tail = &rest[end + 1..];
        return (
            format!(
                "invalid value {:?}{}",
                &rest[..end],
                tail.replace('`', "\"")
            ),
            None,
        );
    }
    (raw.replace('`', "\""), None)
}

/// `-p`, else `COMPOSE_PROJECT_NAME`, else the file's `name:`, else the directory's name.
fn project_name(
    opts: &Options,
    env: &Environment,
    file: &File,
    dir: &Path,
) -> Result<String, LoadError> {
    let explicit = opts
        .project_name
        .clone()
        .or_else(|| env.get("COMPOSE_PROJECT_NAME").filter(|n| !n.is_empty()))
        .or_else(|| file.name.clone());
    if let Some(name) = explicit {
        return if valid_project_name(&name) {
            Ok(name)
        } else {
            Err(LoadError::ProjectName { name })
        };
    }
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = normalize_project_name(&base);
    if valid_project_name(&name) {
        Ok(name)
    } else {
        Err(LoadError::ProjectName { name: base })
    }
}

/// Compose's normalization of a directory name: lowercase, only `[a-z0-9_-]`.
pub(crate) fn normalize_project_name(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect::<String>()
        .trim_start_matches(['_', '-'])
        .to_owned()
}

fn valid_project_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests;
