//! `volume create/ls/inspect/rm/prune`.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::{Client, encode, query};
use crate::format::{Format, default_header};
use crate::util::{for_each, out};

#[derive(Debug, Subcommand)]
pub(crate) enum VolumeCmd {
    /// Create a volume
    Create(CreateArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Remove all unused local volumes
    Prune(PruneArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    opt: Vec<String>,
    /// Specify volume name
    #[arg(long = "name")]
    name_flag: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true)]
    volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// Only display volume names
    #[arg(short, long)]
    quiet: bool,
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long)]
    filter: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    volumes: Vec<String>,
}

pub(crate) async fn dispatch(cl: &Client, cmd: VolumeCmd) -> Result<()> {
    match cmd {
        VolumeCmd::Create(a) => create(cl, a).await,
        VolumeCmd::Inspect(a) => {
            let mut items = Vec::new();
            let mut failed = false;
            for v in &a.volumes {
                match cl.get_raw(&format!("/volumes/{}", encode(v))).await {
                    Ok(x) => items.push(x),
                    Err(e) => {
                        failed = true;
                        eprintln!("{}", crate::describe(&e));
                    }
                }
            }
            crate::util::print_inspect(&items, a.format.as_deref())?;
            if failed {
                return Err(crate::StatusError::code(1).into());
            }
            Ok(())
        }
        VolumeCmd::Ls(a) => ls(cl, a).await,
        VolumeCmd::Prune(a) => prune(cl, a).await,
        VolumeCmd::Rm(a) => {
            let p = [("force", a.force.to_string())];
            for_each(&a.volumes, |v| {
                let path = query(&format!("/volumes/{}", encode(&v)), &p);
                async move {
                    cl.delete(&path).await?;
                    out(&format!("{v}\n"));
                    Ok(())
                }
            })
            .await
        }
    }
}

async fn create(cl: &Client, a: CreateArgs) -> Result<()> {
    let mut body = json!({
        "Driver": a.driver,
        "DriverOpts": crate::opts::kv_map(&a.opt),
        "Labels": crate::opts::kv_map(&a.label),
    });
    if let Some(n) = a.name.or(a.name_flag) {
        body["Name"] = json!(n);
    }
    let v = cl.post_json("/volumes/create", Some(&body)).await?;
    out(&format!("{}\n", v["Name"].as_str().unwrap_or("")));
    Ok(())
}

fn row(v: &Value) -> Value {
    let mut labels: Vec<String> = v["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    let size = match v.pointer("/UsageData/Size").and_then(Value::as_i64) {
        #[allow(clippy::cast_precision_loss)] // display only
        Some(s) if s >= 0 => crate::table::human_size4(s as f64),
        _ => "N/A".into(),
    };
    let links = match v.pointer("/UsageData/RefCount").and_then(Value::as_i64) {
        Some(n) if n >= 0 => n.to_string(),
        _ => "N/A".into(),
    };
    json!({
        "Name": v["Name"], "Driver": v["Driver"], "Scope": v["Scope"], "Mountpoint": v["Mountpoint"],
        "Labels": labels.join(","), "Size": size, "Links": links,
    })
}

async fn ls(cl: &Client, a: LsArgs) -> Result<()> {
    let mut params = vec![];
    if !a.filter.is_empty() {
        params.push(("filters", crate::opts::filters_json(&a.filter)?));
    }
    let v = cl.get_json(&query("/volumes", &params)).await?;
    let mut rows: Vec<Value> = v["Volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(row)
        .collect();
    rows.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    let user = a.format.filter(|f| !f.is_empty());
    let src = if a.quiet && user.is_none() {
        Some("{{.Name}}".to_string())
    } else {
        user
    };
    let f = Format::new(
        src.as_deref(),
        "table {{.Driver}}\t{{.Name}}",
        "formatter.volumeContext",
    )?;
    out(&f.render(&rows, &|h| match h {
        "Name" => "VOLUME NAME".into(),
        other => default_header(other),
    })?);
    Ok(())
}

async fn prune(cl: &Client, a: PruneArgs) -> Result<()> {
    let warning = if a.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !a.force && !crate::util::confirm(warning) {
        return Ok(());
    }
    let (text, space) = prune_volumes(cl, a.all, &a.filter).await?;
    out(&text);
    out(&format!(
        "Total reclaimed space: {}\n",
        crate::table::human_size4(space)
    ));
    Ok(())
}

/// `POST /volumes/prune`: the "Deleted Volumes:" text and reclaimed bytes.
pub(crate) async fn prune_volumes(
    cl: &Client,
    all: bool,
    filter: &[String],
) -> Result<(String, f64)> {
    let mut filters = filter.to_vec();
    if all {
        filters.push("all=true".into());
    }
    let mut params = vec![];
    if !filters.is_empty() {
        params.push(("filters", crate::opts::filters_json(&filters)?));
    }
    let v = cl
        .post_json(&query("/volumes/prune", &params), None)
        .await?;
    let mut text = String::new();
    let deleted: Vec<&str> = v["VolumesDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !deleted.is_empty() {
        text = format!("Deleted Volumes:\n{}\n\n", deleted.join("\n"));
    }
    Ok((text, v["SpaceReclaimed"].as_f64().unwrap_or(0.0)))
}
