//! `ps`: the project's containers as Compose v2 lists them (table, or one JSON object per
//! line with `--format json`).

use anyhow::{Result, bail};
use berth_client::table::{ago, tabwrite};
use clap::Args;
use serde_json::{Value, json};

use crate::cli::Ctx;
use crate::engine::Container;

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // one bool per compose flag
pub(crate) struct PsArgs {
    /// Show all stopped containers (including those created by the run command)
    #[arg(short = 'a', long)]
    all: bool,
    /// Only display IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Display services
    #[arg(long)]
    services: bool,
    /// Format the output ("table"|"json")
    #[arg(long, default_value = "table")]
    format: String,
    /// Filter services by status (created, restarting, running, removing, paused, exited, dead)
    #[arg(long)]
    status: Vec<String>,
    #[arg(value_name = "SERVICE")]
    names: Vec<String>,
}

pub(crate) async fn ps(ctx: &Ctx, a: PsArgs) -> Result<()> {
    if a.format != "table" && a.format != "json" {
        bail!(
            "invalid --format {:?}: expected \"table\" or \"json\"",
            a.format
        );
    }
    let mut list = super::service_containers(ctx, &a.names, true).await?;
    if a.all {
        let oneoff = crate::engine::containers(
            &ctx.cl,
            &ctx.project.name,
            true,
            crate::engine::OneOff::Only,
        )
        .await?;
        list.extend(
            oneoff
                .into_iter()
                .filter(|c| a.names.is_empty() || a.names.contains(&c.service)),
        );
    } else if a.status.is_empty() {
        list.retain(Container::running);
    }
    if !a.status.is_empty() {
        list.retain(|c| a.status.contains(&c.state));
    }
    list.sort_by(|x, y| x.name.cmp(&y.name));
    if a.quiet {
        list.iter().for_each(|c| crate::out(&format!("{}\n", c.id)));
        return Ok(());
    }
    if a.services {
        let mut s: Vec<&str> = list.iter().map(|c| c.service.as_str()).collect();
        s.dedup();
        s.iter().for_each(|n| crate::out(&format!("{n}\n")));
        return Ok(());
    }
    if a.format == "json" {
        for c in &list {
            crate::out(&format!("{}\n", json_row(ctx, c)));
        }
        return Ok(());
    }
    let mut text = String::from("NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS\n");
    for c in &list {
        let r = &c.raw;
        text.push_str(&format!(
            "{}\t{}\t{:?}\t{}\t{}\t{}\t{}\n",
            c.name,
            r["Image"].as_str().unwrap_or_default(),
            ellipsis_command(r["Command"].as_str().unwrap_or_default()),
            c.service,
            ago(r["Created"].as_i64().unwrap_or(0)),
            r["Status"].as_str().unwrap_or_default(),
            ports(r),
        ));
    }
    crate::out(&tabwrite(&text));
    Ok(())
}

fn ellipsis_command(c: &str) -> String {
    berth_client::table::ellipsis(c, 20)
}

/// `0.0.0.0:8080->80/tcp, 443/tcp`, as docker prints `Ports`.
pub(crate) fn ports(raw: &Value) -> String {
    let mut list: Vec<(u64, String)> = raw["Ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let private = p["PrivatePort"].as_u64().unwrap_or(0);
            let proto = p["Type"].as_str().unwrap_or("tcp");
            let s = match (p["IP"].as_str(), p["PublicPort"].as_u64()) {
                (Some(ip), Some(public)) if ip.contains(':') => {
                    format!("[{ip}]:{public}->{private}/{proto}")
                }
                (Some(ip), Some(public)) => format!("{ip}:{public}->{private}/{proto}"),
                _ => format!("{private}/{proto}"),
            };
            (private, s)
        })
        .collect();
    list.sort();
    list.dedup();
    list.into_iter()
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Compose v2's JSON row (one object per line).
fn json_row(ctx: &Ctx, c: &Container) -> Value {
    let r = &c.raw;
    let publishers: Vec<Value> = r["Ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            json!({
                "URL": p["IP"].as_str().unwrap_or_default(),
                "TargetPort": p["PrivatePort"],
                "PublishedPort": p["PublicPort"].as_u64().unwrap_or(0),
                "Protocol": p["Type"],
            })
        })
        .collect();
    let networks: Vec<String> = r["NetworkSettings"]["Networks"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let status = r["Status"].as_str().unwrap_or_default();
    let health = if status.contains("(healthy)") {
        "healthy"
    } else if status.contains("(unhealthy)") {
        "unhealthy"
    } else if status.contains("(health: starting)") {
        "starting"
    } else {
        ""
    };
    let labels = r["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "Command": r["Command"],
        "CreatedAt": berth_client::table::created_at(r["Created"].as_i64().unwrap_or(0)),
        "ExitCode": exit_code(status),
        "Health": health,
        "ID": c.id,
        "Image": r["Image"],
        "Labels": labels,
        "Name": c.name,
        "Names": c.name,
        "Networks": networks.join(","),
        "Ports": ports(r),
        "Project": ctx.project.name,
        "Publishers": publishers,
        "RunningFor": ago(r["Created"].as_i64().unwrap_or(0)),
        "Service": c.service,
        "Size": "0B",
        "State": c.state,
        "Status": status,
    })
}

/// `Exited (3) 2 seconds ago` → 3.
fn exit_code(status: &str) -> i64 {
    status
        .strip_prefix("Exited (")
        .and_then(|s| s.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
