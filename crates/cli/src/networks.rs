//! `network create/ls/inspect/rm/prune/connect/disconnect`.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::{Client, encode, query};
use crate::format::{Format, default_header};
use crate::table::short_id;
use crate::util::{for_each, out};

#[derive(Debug, Subcommand)]
pub(crate) enum NetworkCmd {
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Create a network
    Create(CreateArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
}

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // one bool per docker flag
pub(crate) struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long)]
    gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    ip_range: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    attachable: bool,
    /// Enable or disable IPv6 networking
    #[arg(long)]
    ipv6: bool,
    /// Set metadata on a network
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    opt: Vec<String>,
    name: String,
}

#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long)]
    ip6: Option<String>,
    /// Add link to another container
    #[arg(long)]
    link: Vec<String>,
    network: String,
    container: String,
}

#[derive(Debug, Args)]
pub(crate) struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    force: bool,
    network: String,
    container: String,
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true)]
    networks: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    filter: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    networks: Vec<String>,
}

pub(crate) async fn dispatch(cl: &Client, cmd: NetworkCmd) -> Result<()> {
    match cmd {
        NetworkCmd::Create(a) => create(cl, a).await,
        NetworkCmd::Connect(a) => {
            let mut ep = json!({});
            if !a.alias.is_empty() {
                ep["Aliases"] = json!(a.alias);
            }
            if !a.link.is_empty() {
                ep["Links"] = json!(a.link);
            }
            if a.ip.is_some() || a.ip6.is_some() {
                ep["IPAMConfig"] = json!({"IPv4Address": a.ip, "IPv6Address": a.ip6});
            }
            let body = json!({"Container": a.container, "EndpointConfig": ep});
            cl.post_json(
                &format!("/networks/{}/connect", encode(&a.network)),
                Some(&body),
            )
            .await?;
            Ok(())
        }
        NetworkCmd::Disconnect(a) => {
            let body = json!({"Container": a.container, "Force": a.force});
            cl.post_json(
                &format!("/networks/{}/disconnect", encode(&a.network)),
                Some(&body),
            )
            .await?;
            Ok(())
        }
        NetworkCmd::Inspect(a) => {
            let mut items = Vec::new();
            let mut failed = false;
            for n in &a.networks {
                match cl.get_raw(&format!("/networks/{}", encode(n))).await {
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
        NetworkCmd::Ls(a) => ls(cl, a).await,
        NetworkCmd::Prune(a) => {
            if !a.force
                && !crate::util::confirm(
                    "WARNING! This will remove all custom networks not used by at least one container.",
                )
            {
                return Ok(());
            }
            out(&prune_networks(cl, &a.filter).await?);
            Ok(())
        }
        NetworkCmd::Rm(a) => {
            let force = a.force;
            for_each(&a.networks, |n| async move {
                match cl.delete(&format!("/networks/{}", encode(&n))).await {
                    Ok(_) => {}
                    Err(e) if force && crate::client::status_of(&e) == Some(404) => return Ok(()),
                    Err(e) => return Err(e),
                }
                out(&format!("{n}\n"));
                Ok(())
            })
            .await
        }
    }
}

async fn create(cl: &Client, a: CreateArgs) -> Result<()> {
    let mut configs = Vec::new();
    for (i, s) in a.subnet.iter().enumerate() {
        let mut c = json!({"Subnet": s});
        if let Some(g) = a.gateway.get(i) {
            c["Gateway"] = json!(g);
        }
        if let Some(r) = a.ip_range.get(i) {
            c["IPRange"] = json!(r);
        }
        configs.push(c);
    }
    if configs.is_empty() && !a.gateway.is_empty() {
        anyhow::bail!("every ip-range or gateway must have a corresponding subnet");
    }
    let body = json!({
        "Name": a.name,
        "Driver": a.driver,
        "Internal": a.internal,
        "Attachable": a.attachable,
        "EnableIPv6": a.ipv6,
        "CheckDuplicate": true,
        "Labels": crate::opts::kv_map(&a.label),
        "Options": crate::opts::kv_map(&a.opt),
        "IPAM": {"Driver": "default", "Config": configs, "Options": {}},
    });
    let v = cl.post_json("/networks/create", Some(&body)).await?;
    if let Some(w) = v["Warning"].as_str().filter(|w| !w.is_empty()) {
        eprintln!("WARNING: {w}");
    }
    out(&format!("{}\n", v["Id"].as_str().unwrap_or("")));
    Ok(())
}

async fn ls(cl: &Client, a: LsArgs) -> Result<()> {
    let mut params = vec![];
    if !a.filter.is_empty() {
        params.push(("filters", crate::opts::filters_json(&a.filter)?));
    }
    let v = cl.get_json(&query("/networks", &params)).await?;
    let trunc = !a.no_trunc;
    let mut rows: Vec<Value> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let id = n["Id"].as_str().unwrap_or("");
            let mut labels: Vec<String> = n["Labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or("")))
                        .collect()
                })
                .unwrap_or_default();
            labels.sort();
            json!({
                "ID": if trunc { short_id(id) } else { id.to_string() },
                "Name": n["Name"], "Driver": n["Driver"], "Scope": n["Scope"],
                "IPv6": n["EnableIPv6"].as_bool().unwrap_or(false).to_string(),
                "Internal": n["Internal"].as_bool().unwrap_or(false).to_string(),
                "Labels": labels.join(","),
                "CreatedAt": n["Created"],
            })
        })
        .collect();
    rows.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    let user = a.format.filter(|f| !f.is_empty());
    let src = if a.quiet && user.is_none() {
        Some("{{.ID}}".to_string())
    } else {
        user
    };
    let f = Format::new(
        src.as_deref(),
        "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
        "network.networkContext",
    )?;
    out(&f.render(&rows, &|h| match h {
        "ID" => "NETWORK ID".into(),
        other => default_header(other),
    })?);
    Ok(())
}

/// `POST /networks/prune`: the "Deleted Networks:" text.
pub(crate) async fn prune_networks(cl: &Client, filter: &[String]) -> Result<String> {
    let mut params = vec![];
    if !filter.is_empty() {
        params.push(("filters", crate::opts::filters_json(filter)?));
    }
    let v = cl
        .post_json(&query("/networks/prune", &params), None)
        .await?;
    let deleted: Vec<&str> = v["NetworksDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if deleted.is_empty() {
        return Ok(String::new());
    }
    Ok(format!("Deleted Networks:\n{}\n\n", deleted.join("\n")))
}
