//! System commands: version, info, events, df, system prune, and the generic inspect.

use anyhow::{Result, bail};
use clap::Args;
use futures_util::StreamExt;
use http::Method;
use serde_json::{Value, json};

use crate::client::{Client, body_stream, empty, encode, query};
use crate::format::Template;
use crate::table::human_size4;
use crate::util::out;

#[derive(Debug, Args)]
pub(crate) struct VersionArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct InfoArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    until: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub(crate) verbose: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub(crate) format: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    volumes: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long)]
    filter: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    size: bool,
    /// Only inspect objects of the given type
    #[arg(long = "type")]
    typ: Option<String>,
    #[arg(required = true)]
    names: Vec<String>,
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// `berth -v`.
pub(crate) fn print_client_version_line() {
    out(&format!("berth version {}\n", env!("CARGO_PKG_VERSION")));
}

fn client_info(api: Option<String>) -> Value {
    let default = bollard::API_DEFAULT_VERSION;
    let default = format!("{}.{}", default.major_version, default.minor_version);
    let api = api.unwrap_or_else(|| default.clone());
    json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": api,
        "DefaultAPIVersion": default,
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "Context": "default",
    })
}

pub(crate) async fn version(cl: &Client, a: VersionArgs) -> Result<()> {
    let server = cl.get_json("/version").await?;
    let client = client_info(Some(cl.api_version()));
    if let Some(f) = a.format.as_deref().filter(|f| !f.is_empty()) {
        let data = json!({"Client": client, "Server": server});
        out(&format!("{}\n", Template::parse(f)?.render(&data)?));
        return Ok(());
    }
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let api = s(&client, "ApiVersion");
    let default = s(&client, "DefaultAPIVersion");
    let api_line = if api == default {
        api
    } else {
        format!("{api} (downgraded from {default})")
    };
    let mut t = client_section(&client, &api_line);
    t.push_str("\nServer:\n Engine:\n");
    t.push_str(&format!("  Version:\t{}\n", s(&server, "Version")));
    t.push_str(&format!(
        "  API version:\t{} (minimum version {})\n",
        s(&server, "ApiVersion"),
        s(&server, "MinAPIVersion")
    ));
    for (label, key) in [
        ("Go version", "GoVersion"),
        ("Git commit", "GitCommit"),
        ("Built", "BuildTime"),
    ] {
        let mut v = s(&server, key);
        if key == "BuildTime" {
            // docker shows the build time in Go's ANSIC layout.
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&v) {
                v = t.format("%a %b %e %H:%M:%S %Y").to_string();
            }
        }
        if !v.is_empty() {
            t.push_str(&format!("  {label}:\t{v}\n"));
        }
    }
    t.push_str(&format!(
        "  OS/Arch:\t{}/{}\n",
        s(&server, "Os"),
        s(&server, "Arch")
    ));
    t.push_str(&format!(
        "  Experimental:\t{}\n",
        server
            .get("Experimental")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    ));
    for c in server["Components"].as_array().into_iter().flatten() {
        if c["Name"] == "Engine" {
            continue;
        }
        t.push_str(&format!(" {}:\n", s(c, "Name")));
        t.push_str(&format!("  Version:\t{}\n", s(c, "Version")));
        if let Some(d) = c["Details"].as_object() {
            for (k, v) in d {
                t.push_str(&format!("  {k}:\t{}\n", v.as_str().unwrap_or("")));
            }
        }
    }
    out(&tabwrite_version(&t));
    Ok(())
}

fn client_section(client: &Value, api_line: &str) -> String {
    let s = |k: &str| {
        client
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    format!(
        "Client:\n Version:\t{}\n API version:\t{api_line}\n OS/Arch:\t{}/{}\n Context:\tdefault\n",
        s("Version"),
        s("Os"),
        s("Arch")
    )
}

/// `version` without a daemon: the client half, as docker prints it before the error.
pub(crate) fn print_client_version() {
    let client = client_info(None);
    let api = client["ApiVersion"].as_str().unwrap_or("").to_string();
    out(&tabwrite_version(&client_section(&client, &api)));
}

// docker's version template uses tabwriter with minwidth 20, padding 1.
fn tabwrite_version(t: &str) -> String {
    t.lines()
        .map(|l| match l.split_once('\t') {
            Some((k, v)) => format!("{k:<19} {v}\n"),
            None => format!("{l}\n"),
        })
        .collect()
}

pub(crate) async fn info(cl: &Client, a: InfoArgs) -> Result<()> {
    let i = cl.get_json("/info").await?;
    if let Some(f) = a.format.as_deref().filter(|f| !f.is_empty()) {
        out(&format!("{}\n", Template::parse(f)?.render(&i)?));
        return Ok(());
    }
    let s = |k: &str| match &i[k] {
        Value::String(x) => x.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut t = format!(
        "Client:\n Version:    {}\n Context:    default\n Debug Mode: false\n\nServer:\n",
        env!("CARGO_PKG_VERSION")
    );
    t.push_str(&format!(
        " Containers: {}\n  Running: {}\n  Paused: {}\n  Stopped: {}\n Images: {}\n",
        s("Containers"),
        s("ContainersRunning"),
        s("ContainersPaused"),
        s("ContainersStopped"),
        s("Images")
    ));
    let lines = [
        ("Server Version", "ServerVersion"),
        ("Storage Driver", "Driver"),
        ("Logging Driver", "LoggingDriver"),
        ("Cgroup Driver", "CgroupDriver"),
        ("Cgroup Version", "CgroupVersion"),
        ("Default Runtime", "DefaultRuntime"),
        ("Kernel Version", "KernelVersion"),
        ("Operating System", "OperatingSystem"),
        ("OSType", "OSType"),
        ("Architecture", "Architecture"),
        ("CPUs", "NCPU"),
    ];
    for (label, key) in lines {
        if !s(key).is_empty() {
            t.push_str(&format!(" {label}: {}\n", s(key)));
        }
    }
    if let Some(m) = i["MemTotal"].as_f64() {
        t.push_str(&format!(" Total Memory: {}\n", crate::table::bytes_size(m)));
    }
    for (label, key) in [
        ("Name", "Name"),
        ("ID", "ID"),
        ("Docker Root Dir", "DockerRootDir"),
    ] {
        if !s(key).is_empty() {
            t.push_str(&format!(" {label}: {}\n", s(key)));
        }
    }
    t.push_str(&format!(
        " Debug Mode: {}\n",
        i["Debug"].as_bool().unwrap_or(false)
    ));
    t.push_str(&format!(
        " Experimental: {}\n",
        i["ExperimentalBuild"].as_bool().unwrap_or(false)
    ));
    t.push_str(&format!(
        " Live Restore Enabled: {}\n",
        i["LiveRestoreEnabled"].as_bool().unwrap_or(false)
    ));
    out(&t);
    for w in i["Warnings"].as_array().into_iter().flatten() {
        eprintln!("{}", w.as_str().unwrap_or(""));
    }
    Ok(())
}

/// One event as docker prints it without `--format`.
fn event_line(e: &Value) -> String {
    let nanos = e["timeNano"]
        .as_i64()
        .unwrap_or_else(|| e["time"].as_i64().unwrap_or(0) * 1_000_000_000);
    let t = chrono::DateTime::from_timestamp(nanos.div_euclid(1_000_000_000), 0)
        .map(|t| {
            let local = t.with_timezone(&chrono::Local);
            // Go's RFC3339 layout writes UTC as `Z`.
            let zone = if local.offset().local_minus_utc() == 0 {
                "Z".to_string()
            } else {
                local.format("%:z").to_string()
            };
            format!(
                "{}.{:09}{zone}",
                local.format("%Y-%m-%dT%H:%M:%S"),
                nanos.rem_euclid(1_000_000_000),
            )
        })
        .unwrap_or_default();
    let typ = e["Type"].as_str().unwrap_or("");
    let action = e["Action"].as_str().unwrap_or("");
    let id = e.pointer("/Actor/ID").and_then(Value::as_str).unwrap_or("");
    let attrs: Vec<String> = e
        .pointer("/Actor/Attributes")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    if attrs.is_empty() {
        format!("{t} {typ} {action} {id}\n")
    } else {
        format!("{t} {typ} {action} {id} ({})\n", attrs.join(", "))
    }
}

pub(crate) async fn events(cl: &Client, a: EventsArgs) -> Result<()> {
    let mut params = vec![];
    if let Some(s) = &a.since {
        params.push(("since", crate::opts::parse_timestamp(s)?));
    }
    if let Some(u) = &a.until {
        params.push(("until", crate::opts::parse_timestamp(u)?));
    }
    if !a.filter.is_empty() {
        params.push(("filters", crate::opts::filters_json(&a.filter)?));
    }
    let tmpl = match a.format.as_deref() {
        None | Some("") => None,
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(f)?),
    };
    let resp = cl
        .send(Method::GET, &query("/events", &params), empty(), None)
        .await?;
    let mut body = Box::pin(body_stream(resp));
    let mut buf = Vec::new();
    while let Some(chunk) = body.next().await {
        buf.extend_from_slice(&chunk?);
        let mut de = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
        let mut consumed = 0;
        while let Some(Ok(e)) = de.next() {
            consumed = de.byte_offset();
            match &tmpl {
                Some(t) => out(&format!("{}\n", t.render(&e)?)),
                None => out(&event_line(&e)),
            }
        }
        buf.drain(..consumed);
    }
    Ok(())
}

pub(crate) async fn prune(cl: &Client, a: SystemPruneArgs) -> Result<()> {
    let mut warning = String::from(
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
    );
    if a.volumes {
        warning.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    warning.push_str(if a.all {
        "  - all images without at least one container associated to them\n"
    } else {
        "  - all dangling images\n"
    });
    warning.push_str("  - unused build cache\n");
    if !a.force && !crate::util::confirm(&warning) {
        return Ok(());
    }
    let (ids, mut space) = crate::containers::prune_containers(cl, &a.filter).await?;
    if !ids.is_empty() {
        out(&format!("Deleted Containers:\n{}\n\n", ids.join("\n")));
    }
    out(&crate::networks::prune_networks(cl, &a.filter).await?);
    if a.volumes {
        let (t, s) = crate::volumes::prune_volumes(cl, false, &a.filter).await?;
        out(&t);
        space += s;
    }
    let (t, s) = crate::images::prune_images(cl, a.all, &a.filter).await?;
    out(&t);
    space += s;
    // Build cache: not every daemon has a builder; its absence is not an error here.
    if let Ok(v) = cl.post_json("/build/prune", None).await {
        space += v["SpaceReclaimed"].as_f64().unwrap_or(0.0);
    }
    out(&format!("Total reclaimed space: {}\n", human_size4(space)));
    Ok(())
}

pub(crate) async fn inspect(cl: &Client, a: InspectArgs) -> Result<()> {
    let kinds: Vec<&str> = match a.typ.as_deref() {
        None => vec!["container", "image", "network", "volume"],
        Some(t @ ("container" | "image" | "network" | "volume")) => vec![t],
        Some(t) => bail!("\"{t}\" is not a valid value for --type"),
    };
    let mut items = Vec::new();
    let mut failed = false;
    for name in &a.names {
        let mut found = None;
        for k in &kinds {
            let p = match *k {
                "container" if a.size => query(
                    &format!("/containers/{}/json", encode(name)),
                    &[("size", "1".into())],
                ),
                "container" => format!("/containers/{}/json", encode(name)),
                "image" => format!("/images/{}/json", encode(name)),
                "network" => format!("/networks/{}", encode(name)),
                _ => format!("/volumes/{}", encode(name)),
            };
            match cl.get_raw(&p).await {
                Ok(v) => {
                    found = Some(v);
                    break;
                }
                Err(e) if crate::client::status_of(&e) == Some(404) => {}
                Err(e) => return Err(e),
            }
        }
        match found {
            Some(v) => items.push(v),
            None => {
                failed = true;
                match a.typ.as_deref() {
                    Some(t) => eprintln!("Error: No such {t}: {name}"),
                    None => eprintln!("Error: No such object: {name}"),
                }
            }
        }
    }
    crate::util::print_inspect(&items, a.format.as_deref())?;
    if failed {
        return Err(crate::StatusError::code(1).into());
    }
    Ok(())
}
