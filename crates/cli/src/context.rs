//! `berth context`: the docker CLI's contexts, in its own store, so either CLI sees and switches
//! the other's. A context is `$DOCKER_CONFIG/contexts/meta/<sha256(name)>/meta.json`
//! (`{"Name", "Metadata": {"Description"}, "Endpoints": {"docker": {"Host", "SkipTLSVerify"}}}`);
//! the current one is `currentContext` in `config.json`. Which daemon a command talks to
//! follows docker's order: `--context`, then `-H`, `DOCKER_HOST` (the "default" context),
//! `DOCKER_CONTEXT`, `currentContext`, and berth's own socket.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use sha2::Digest;

use crate::credentials::{config_dir, load_config, save_config};
use crate::format::{Format, default_header};
use crate::util::out;

const DEFAULT: &str = "default";
const DEFAULT_DESCRIPTION: &str = "Current DOCKER_HOST based configuration";

#[derive(Debug, Subcommand)]
pub(crate) enum ContextCmd {
    /// Create a context
    Create(CreateArgs),
    /// Display detailed information on one or more contexts
    Inspect(InspectArgs),
    /// List contexts
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Remove one or more contexts
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Print the name of the current context
    Show,
    /// Set the current docker context
    Use(UseArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// Context name
    #[arg(value_name = "CONTEXT")]
    name: String,
    /// Description of the context
    #[arg(long, default_value = "")]
    description: String,
    /// Set the docker endpoint (host=unix:///path, skip-tls-verify=true)
    #[arg(long)]
    docker: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Contexts to inspect (default: the current one)
    #[arg(value_name = "CONTEXT")]
    names: Vec<String>,
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// Only show context names
    #[arg(short, long)]
    quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// Contexts to remove
    #[arg(value_name = "CONTEXT", required = true)]
    names: Vec<String>,
    /// Force the removal of a context in use
    #[arg(short, long)]
    force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct UseArgs {
    /// Context to use
    #[arg(value_name = "CONTEXT")]
    name: String,
}

/// One stored context.
#[derive(Debug, Clone)]
struct Stored {
    meta: Value,
    dir: Option<PathBuf>,
}

impl Stored {
    fn name(&self) -> &str {
        self.meta["Name"].as_str().unwrap_or_default()
    }
    fn host(&self) -> &str {
        self.meta
            .pointer("/Endpoints/docker/Host")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    fn description(&self) -> &str {
        self.meta
            .pointer("/Metadata/Description")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

fn meta_root() -> PathBuf {
    config_dir().join("contexts").join("meta")
}

fn dir_of(name: &str) -> PathBuf {
    meta_root().join(hex::encode(sha2::Sha256::digest(name.as_bytes())))
}

/// The daemon of the "default" context: `-H`, else the environment, else berth's socket.
fn default_host(flag_host: Option<&str>) -> String {
    berth_client::host::select(flag_host)
}

fn default_context(flag_host: Option<&str>) -> Stored {
    Stored {
        meta: json!({
            "Name": DEFAULT,
            "Metadata": {},
            "Endpoints": {"docker": {"Host": default_host(flag_host), "SkipTLSVerify": false}},
        }),
        dir: None,
    }
}

fn load(name: &str) -> Result<Option<Stored>> {
    let dir = dir_of(name);
    let path = dir.join("meta.json");
    match std::fs::read(&path) {
        Ok(b) => {
            let meta: Value = serde_json::from_slice(&b)
                .with_context(|| format!("context {name:?}: {} does not parse", path.display()))?;
            Ok(Some(Stored {
                meta,
                dir: Some(dir),
            }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn get(name: &str, flag_host: Option<&str>) -> Result<Stored> {
    if name == DEFAULT {
        return Ok(default_context(flag_host));
    }
    load(name)?.ok_or_else(|| {
        anyhow::anyhow!(
            "context {name:?}: context not found: open {}: no such file or directory",
            dir_of(name).join("meta.json").display()
        )
    })
}

/// Every stored context and "default", by name.
fn all(flag_host: Option<&str>) -> Result<Vec<Stored>> {
    let mut list = Vec::new();
    match std::fs::read_dir(meta_root()) {
        Ok(entries) => {
            for e in entries {
                let dir = e?.path();
                let path = dir.join("meta.json");
                let Ok(b) = std::fs::read(&path) else {
                    continue;
                };
                let meta: Value = serde_json::from_slice(&b)
                    .with_context(|| format!("{} does not parse", path.display()))?;
                list.push(Stored {
                    meta,
                    dir: Some(dir),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", meta_root().display())),
    }
    list.push(default_context(flag_host));
    list.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(list)
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// The current context's name, as docker resolves it.
fn current(flag_host: Option<&str>, flag_context: Option<&str>) -> Result<String> {
    if let Some(c) = flag_context {
        return Ok(c.to_owned());
    }
    if flag_host.is_some() || env("BERTH_HOST").is_some() {
        return Ok(DEFAULT.to_owned());
    }
    if env("DOCKER_HOST").is_some() {
        return Ok(DEFAULT.to_owned());
    }
    if let Some(c) = env("DOCKER_CONTEXT") {
        return Ok(c);
    }
    Ok(load_config()?
        .get("currentContext")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .unwrap_or(DEFAULT)
        .to_owned())
}

/// The daemon a command talks to.
pub(crate) fn host(flag_host: Option<&str>, flag_context: Option<&str>) -> Result<String> {
    if flag_host.is_some() && flag_context.is_some() {
        bail!("conflicting options: either specify --host or --context, not both");
    }
    let name = current(flag_host, flag_context)?;
    let ctx = get(&name, flag_host)?;
    Ok(ctx.host().to_owned())
}

fn endpoint_host(spec: &str) -> Result<(String, bool)> {
    let (mut host, mut skip) = (String::new(), false);
    for kv in spec.split(',').filter(|s| !s.is_empty()) {
        match kv.split_once('=') {
            Some(("host", h)) => h.clone_into(&mut host),
            Some(("skip-tls-verify", v)) => skip = v == "true",
            Some(("ca" | "cert" | "key", _)) => {
                bail!("TLS material in contexts is not supported by berth yet: {kv}")
            }
            _ => bail!("unable to parse docker endpoint: unrecognized config key: {kv}"),
        }
    }
    if host.is_empty() {
        host = default_host(None);
    }
    berth_client::host::parse(&host)?;
    Ok((host, skip))
}

pub(crate) fn run(
    cmd: ContextCmd,
    flag_host: Option<&str>,
    flag_context: Option<&str>,
) -> Result<()> {
    match cmd {
        ContextCmd::Create(a) => create(a),
        ContextCmd::Inspect(a) => inspect(a, flag_host, flag_context),
        ContextCmd::Ls(a) => ls(&a, flag_host, flag_context),
        ContextCmd::Rm(a) => rm(&a, flag_host, flag_context),
        ContextCmd::Show => {
            out(&format!("{}\n", current(flag_host, flag_context)?));
            Ok(())
        }
        ContextCmd::Use(a) => use_context(&a.name),
    }
}

fn create(a: CreateArgs) -> Result<()> {
    if a.name == DEFAULT || load(&a.name)?.is_some() {
        bail!("context {:?} already exists", a.name);
    }
    if !a
        .name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        || !a
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c))
    {
        bail!(
            "context name {:?} is invalid, names are validated against regexp \"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$\"",
            a.name
        );
    }
    let (host, skip) = endpoint_host(a.docker.as_deref().unwrap_or(""))?;
    let meta = json!({
        "Name": a.name,
        "Metadata": {"Description": a.description},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip}},
    });
    let dir = dir_of(&a.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("meta.json");
    write_atomic(&path, &serde_json::to_vec(&meta)?)
        .with_context(|| format!("writing {}", path.display()))?;
    out(&format!("{}\n", a.name));
    eprintln!("Successfully created context {:?}", a.name);
    Ok(())
}

/// Temp file beside `path`, fsync, rename: a reader sees the old file or the new one.
fn write_atomic(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn inspect(a: InspectArgs, flag_host: Option<&str>, flag_context: Option<&str>) -> Result<()> {
    let names = if a.names.is_empty() {
        vec![current(flag_host, flag_context)?]
    } else {
        a.names
    };
    let mut items = Vec::new();
    let mut failed = false;
    for n in &names {
        match get(n, flag_host) {
            Ok(c) => {
                let mut v = c.meta.clone();
                let (meta_path, tls_path) = match &c.dir {
                    Some(d) => (
                        d.display().to_string(),
                        config_dir()
                            .join("contexts/tls")
                            .join(d.file_name().unwrap_or_default())
                            .display()
                            .to_string(),
                    ),
                    None => ("<IN MEMORY>".to_owned(), "<IN MEMORY>".to_owned()),
                };
                v["TLSMaterial"] = json!({});
                v["Storage"] = json!({"MetadataPath": meta_path, "TLSPath": tls_path});
                // Go's encoder escapes <, > and & (docker prints "\u003cIN MEMORY\u003e").
                let text = serde_json::to_string(&v)?
                    .replace('<', "\\u003c")
                    .replace('>', "\\u003e")
                    .replace('&', "\\u0026");
                items.push(bytes::Bytes::from(text));
            }
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    crate::util::print_inspect(&items, a.format.as_deref())?;
    if failed {
        return Err(crate::StatusError::code(1).into());
    }
    Ok(())
}

fn ls(a: &LsArgs, flag_host: Option<&str>, flag_context: Option<&str>) -> Result<()> {
    let now = current(flag_host, flag_context)?;
    if env("DOCKER_HOST").is_some() {
        eprintln!(
            "Warning: DOCKER_HOST environment variable overrides the active context. To use a context, either set the global --context flag, or unset DOCKER_HOST environment variable."
        );
    }
    let rows: Vec<Value> = all(flag_host)?
        .iter()
        .map(|c| {
            let description = if c.name() == DEFAULT {
                DEFAULT_DESCRIPTION
            } else {
                c.description()
            };
            json!({
                "Current": c.name() == now,
                "Description": description,
                "DockerEndpoint": c.host(),
                "Error": "",
                "Name": c.name(),
            })
        })
        .collect();
    if a.quiet {
        for r in &rows {
            out(&format!("{}\n", r["Name"].as_str().unwrap_or_default()));
        }
        return Ok(());
    }
    let f = Format::new(
        a.format.as_deref(),
        "table {{.Name}}{{if .Current}} *{{end}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}",
        "formatter.clientContextContext",
    )?;
    out(&f.render(&rows, &|h| match h {
        "DockerEndpoint" => "DOCKER ENDPOINT".into(),
        // No header: `{{if .Current}} *{{end}}` adds nothing to the NAME column's head.
        "Current" => String::new(),
        other => default_header(other),
    })?);
    Ok(())
}

fn rm(a: &RmArgs, flag_host: Option<&str>, flag_context: Option<&str>) -> Result<()> {
    let now = current(flag_host, flag_context)?;
    let mut failed = false;
    for n in &a.names {
        let result = if n == DEFAULT {
            Err(anyhow::anyhow!(
                "default: context \"default\" cannot be removed"
            ))
        } else if load(n)?.is_none() {
            Err(anyhow::anyhow!("context {n:?} does not exist"))
        } else if *n == now && !a.force {
            Err(anyhow::anyhow!(
                "context {n:?} is in use, set -f flag to force remove"
            ))
        } else {
            let dir = dir_of(n);
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("removing {}", dir.display()))
                .map(|()| {
                    if *n == now {
                        let _ = use_context(DEFAULT);
                    }
                })
        };
        match result {
            Ok(()) => out(&format!("{n}\n")),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(crate::StatusError::code(1).into());
    }
    Ok(())
}

fn use_context(name: &str) -> Result<()> {
    get(name, None)?; // must exist

    let mut cfg = load_config()?;
    if name == DEFAULT {
        cfg.remove("currentContext");
    } else {
        cfg.insert("currentContext".into(), json!(name));
    }
    save_config(&cfg)?;
    out(&format!("{name}\n"));
    eprintln!("Current context is now {name:?}");
    Ok(())
}
