//! Looking at containers: top, stats, port, diff.

use anyhow::{Result, anyhow};
use clap::Args;
use serde_json::{Map, Value, json};

use crate::client::{Client, encode, query};
use crate::format::{Format, default_header};
use crate::table::{bytes_size, human_size, short_id, tabwrite_min};
use crate::util::out;

#[derive(Debug, Args)]
pub(crate) struct TopArgs {
    container: String,
    /// ps options
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PortArgs {
    container: String,
    /// PRIVATE_PORT[/PROTO]
    private_port: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    container: String,
}

pub(crate) async fn top(cl: &Client, a: TopArgs) -> Result<()> {
    let mut p = format!("/containers/{}/top", encode(&a.container));
    if !a.ps_args.is_empty() {
        p = query(&p, &[("ps_args", a.ps_args.join(" "))]);
    }
    let v = cl.get_json(&p).await?;
    let strs = |x: &Value| -> Vec<String> {
        x.as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut text = strs(&v["Titles"]).join("\t");
    text.push('\n');
    for row in v["Processes"].as_array().into_iter().flatten() {
        text.push_str(&strs(row).join("\t"));
        text.push('\n');
    }
    out(&tabwrite_min(&text, 20));
    Ok(())
}

pub(crate) async fn diff(cl: &Client, a: DiffArgs) -> Result<()> {
    let v = cl
        .get_json(&format!("/containers/{}/changes", encode(&a.container)))
        .await?;
    for c in v.as_array().into_iter().flatten() {
        let kind = match c["Kind"].as_i64() {
            Some(0) => "C",
            Some(1) => "A",
            Some(2) => "D",
            _ => "?",
        };
        out(&format!("{kind} {}\n", c["Path"].as_str().unwrap_or("")));
    }
    Ok(())
}

pub(crate) async fn port(cl: &Client, a: PortArgs) -> Result<()> {
    let info = cl
        .get_json(&format!("/containers/{}/json", encode(&a.container)))
        .await?;
    let ports = info
        .pointer("/NetworkSettings/Ports")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let fmt_binding = |b: &Value| {
        let ip = b["HostIp"].as_str().unwrap_or("");
        let port = b["HostPort"].as_str().unwrap_or("");
        if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        }
    };
    if let Some(want) = &a.private_port {
        let key = if want.contains('/') {
            want.clone()
        } else {
            format!("{want}/tcp")
        };
        let bindings = ports
            .get(&key)
            .and_then(Value::as_array)
            .filter(|b| !b.is_empty());
        let Some(bindings) = bindings else {
            return Err(anyhow!(
                "Error: No public port '{key}' published for {}",
                a.container
            ));
        };
        for b in bindings {
            out(&format!("{}\n", fmt_binding(b)));
        }
        return Ok(());
    }
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort_by_key(|k| {
        let (n, proto) = k.split_once('/').unwrap_or((k, ""));
        (n.parse::<u32>().unwrap_or(0), proto.to_string())
    });
    for k in keys {
        for b in ports[k].as_array().into_iter().flatten() {
            out(&format!("{k} -> {}\n", fmt_binding(b)));
        }
    }
    Ok(())
}

const STATS_DEFAULT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

fn stats_header(f: &str) -> String {
    match f {
        "ID" => "CONTAINER ID",
        "Container" => "CONTAINER",
        "Name" => "NAME",
        "CPUPerc" => "CPU %",
        "MemUsage" => "MEM USAGE / LIMIT",
        "MemPerc" => "MEM %",
        "NetIO" => "NET I/O",
        "BlockIO" => "BLOCK I/O",
        "PIDs" => "PIDS",
        other => return default_header(other),
    }
    .to_string()
}

pub(crate) async fn stats(cl: &Client, a: StatsArgs) -> Result<()> {
    let names = if a.containers.is_empty() {
        let p = if a.all {
            "/containers/json?all=1"
        } else {
            "/containers/json"
        };
        cl.get_json(p)
            .await?
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|c| c["Id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        a.containers.clone()
    };
    let f = Format::new(a.format.as_deref(), STATS_DEFAULT, "container.statsContext")?;
    loop {
        let mut rows = Vec::new();
        for n in &names {
            let p = query(
                &format!("/containers/{}/stats", encode(n)),
                &[("stream", "false".into())],
            );
            let v = cl.get_json(&p).await?;
            rows.push(stats_row(n, &v, !a.no_trunc));
        }
        let text = f.render(&rows, &stats_header)?;
        if a.no_stream {
            out(&text);
            return Ok(());
        }
        // Live mode redraws the table in place, as docker does.
        out(&format!("\x1b[2J\x1b[H{text}"));
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

fn f(v: &Value, p: &str) -> f64 {
    v.pointer(p).and_then(Value::as_f64).unwrap_or(0.0)
}

/// docker's stats arithmetic (cli/command/container/stats_helpers.go).
fn stats_row(given: &str, v: &Value, trunc: bool) -> Value {
    let cpu_delta =
        f(v, "/cpu_stats/cpu_usage/total_usage") - f(v, "/precpu_stats/cpu_usage/total_usage");
    let sys_delta = f(v, "/cpu_stats/system_cpu_usage") - f(v, "/precpu_stats/system_cpu_usage");
    let mut online = f(v, "/cpu_stats/online_cpus");
    if online == 0.0 {
        #[allow(clippy::cast_precision_loss)] // a CPU count
        let n = v
            .pointer("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Value::as_array)
            .map_or(0, Vec::len) as f64;
        online = n;
    }
    let cpu = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let usage = f(v, "/memory_stats/usage");
    // Page cache is not the container's working set: docker subtracts inactive file pages.
    let inactive = v
        .pointer("/memory_stats/stats/total_inactive_file")
        .or_else(|| v.pointer("/memory_stats/stats/inactive_file"))
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let mem = if inactive < usage {
        usage - inactive
    } else {
        usage
    };
    let limit = f(v, "/memory_stats/limit");
    let mem_pct = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in v
        .get("networks")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(Map::values)
    {
        rx += f(n, "/rx_bytes");
        tx += f(n, "/tx_bytes");
    }
    let (mut rd, mut wr) = (0.0, 0.0);
    for e in v
        .pointer("/blkio_stats/io_service_bytes_recursive")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match e["op"].as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => rd += f(e, "/value"),
            Some("write") => wr += f(e, "/value"),
            _ => {}
        }
    }
    let id = v["id"].as_str().unwrap_or(given);
    let name = v["name"].as_str().unwrap_or("").trim_start_matches('/');
    json!({
        "Container": given,
        "ID": if trunc { short_id(id) } else { id.to_string() },
        "Name": name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(mem), bytes_size(limit)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", human_size(rx), human_size(tx)),
        "BlockIO": format!("{} / {}", human_size(rd), human_size(wr)),
        "PIDs": v.pointer("/pids_stats/current").and_then(Value::as_u64).unwrap_or(0).to_string(),
    })
}
