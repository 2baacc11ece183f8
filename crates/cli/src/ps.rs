//! `ps` / `container ls`: the container table, field by field as docker's formatter has it.

use anyhow::Result;
use clap::Args;
use serde_json::{Map, Value, json};

use crate::client::{Client, query};
use crate::format::{Format, default_header};
use crate::table::{ago, created_at, ellipsis, human_size, short_id};

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // one bool per docker flag
pub(crate) struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    latest: bool,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
}

const DEFAULT: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// docker's column names for container fields.
pub(crate) fn header(field: &str) -> String {
    match field {
        "ID" => "CONTAINER ID".into(),
        "RunningFor" => "CREATED".into(),
        other => default_header(other),
    }
}

pub(crate) async fn ps(cl: &Client, a: PsArgs) -> Result<()> {
    let mut params = vec![];
    let limit = if a.latest { 1 } else { a.last };
    if a.all || limit > 0 {
        params.push(("all", "1".to_string()));
    }
    if limit > 0 {
        params.push(("limit", limit.to_string()));
    }
    let user_format = a.format.clone().filter(|f| !f.is_empty());
    let wants_size = a.size || user_format.as_deref().is_some_and(|f| f.contains(".Size"));
    if wants_size {
        params.push(("size", "1".to_string()));
    }
    if !a.filter.is_empty() {
        params.push(("filters", crate::opts::filters_json(&a.filter)?));
    }
    let list = cl.get_json(&query("/containers/json", &params)).await?;
    let trunc = !a.no_trunc;
    let rows: Vec<Value> = list
        .as_array()
        .map(|l| l.iter().map(|c| row(c, trunc)).collect())
        .unwrap_or_default();
    let src = if a.quiet && user_format.is_none() {
        "{{.ID}}".to_string()
    } else if let Some(f) = user_format {
        f
    } else if a.size {
        format!("{DEFAULT}\t{{{{.Size}}}}")
    } else {
        DEFAULT.to_string()
    };
    let f = Format::new(Some(&src), DEFAULT, "formatter.ContainerContext")?;
    crate::util::out(&f.render(&rows, &header)?);
    Ok(())
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn n(v: &Value, k: &str) -> i64 {
    v.get(k).and_then(Value::as_i64).unwrap_or(0)
}

/// One container summary (`GET /containers/json`) as docker's ContainerContext fields.
pub(crate) fn row(c: &Value, trunc: bool) -> Value {
    let id = s(c, "Id");
    let names: Vec<String> = c
        .get("Names")
        .and_then(Value::as_array)
        .map(|ns| {
            ns.iter()
                .filter_map(Value::as_str)
                .map(|n| n.trim_start_matches('/').to_string())
                .collect()
        })
        .unwrap_or_default();
    // Truncated, only the container's own name (not `other/alias` link names) is shown.
    let names = if trunc {
        names
            .iter()
            .find(|n| !n.contains('/'))
            .cloned()
            .into_iter()
            .collect()
    } else {
        names
    };
    let image = match s(c, "Image") {
        "" => "<no image>".to_string(),
        i if trunc && i.starts_with("sha256:") => short_id(i),
        i if trunc => i.split('@').next().unwrap_or(i).to_string(),
        i => i.to_string(),
    };
    let command = if trunc {
        ellipsis(s(c, "Command"), 20)
    } else {
        s(c, "Command").to_string()
    };
    let mut labels: Vec<String> = c
        .get("Labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    let mounts: Vec<Value> = c
        .get("Mounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| {
            let name = match s(m, "Name") {
                "" => s(m, "Source"),
                n => n,
            };
            if trunc {
                ellipsis(name, 15)
            } else {
                name.to_string()
            }
        })
        .collect();
    let local_volumes = mounts.iter().filter(|m| s(m, "Driver") == "local").count();
    let networks: Vec<String> = c
        .pointer("/NetworkSettings/Networks")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let size_rw = n(c, "SizeRw");
    let size_root = n(c, "SizeRootFs");
    #[allow(clippy::cast_precision_loss)] // display only
    let size = if size_root > 0 {
        format!(
            "{} (virtual {})",
            human_size(size_rw as f64),
            human_size(size_root as f64)
        )
    } else {
        human_size(size_rw as f64)
    };
    let created = n(c, "Created");
    let mut m = Map::new();
    m.insert(
        "ID".into(),
        json!(if trunc { short_id(id) } else { id.to_string() }),
    );
    m.insert("Image".into(), json!(image));
    m.insert("Command".into(), json!(go_quote(&command)));
    m.insert("CreatedAt".into(), json!(created_at(created)));
    m.insert("RunningFor".into(), json!(ago(created)));
    m.insert(
        "Ports".into(),
        json!(display_ports(c.get("Ports").unwrap_or(&Value::Null))),
    );
    m.insert("State".into(), json!(s(c, "State")));
    m.insert("Status".into(), json!(s(c, "Status")));
    m.insert("Size".into(), json!(size));
    m.insert("Names".into(), json!(names.join(",")));
    m.insert("Labels".into(), json!(labels.join(",")));
    m.insert("Mounts".into(), json!(mount_names.join(",")));
    m.insert("Networks".into(), json!(networks.join(",")));
    m.insert("LocalVolumes".into(), json!(local_volumes.to_string()));
    m.insert("Platform".into(), Value::Null);
    Value::Object(m)
}

/// Go's `strconv.Quote`, for the COMMAND column.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// docker's `DisplayablePorts`: consecutive ports grouped into ranges, then host mappings.
pub(crate) fn display_ports(ports: &Value) -> String {
    struct P {
        ip: String,
        private: i64,
        public: i64,
        typ: String,
    }
    let mut ps: Vec<P> = ports
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| P {
                    ip: s(p, "IP").to_string(),
                    private: n(p, "PrivatePort"),
                    public: n(p, "PublicPort"),
                    typ: s(p, "Type").to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    ps.sort_by(|a, b| {
        (a.private, &a.ip, a.public, &a.typ).cmp(&(b.private, &b.ip, b.public, &b.typ))
    });
    let mut keys: Vec<String> = Vec::new();
    let mut groups: std::collections::HashMap<String, (i64, i64)> = Default::default();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for p in &ps {
        let mut key = p.typ.clone();
        if !p.ip.is_empty() {
            if p.public != p.private {
                let host = if p.ip.contains(':') {
                    format!("[{}]", p.ip)
                } else {
                    p.ip.clone()
                };
                host_mappings.push(format!("{host}:{}->{}/{}", p.public, p.private, p.typ));
                continue;
            }
            key = format!("{}/{}", p.ip, p.typ);
        }
        match groups.get_mut(&key) {
            None => {
                groups.insert(key.clone(), (p.private, p.private));
                keys.push(key);
            }
            Some(g) if p.private == g.1 + 1 => g.1 = p.private,
            Some(g) => {
                result.push(form_group(&key, g.0, g.1));
                *g = (p.private, p.private);
            }
        }
    }
    for k in &keys {
        if let Some(g) = groups.get(k) {
            result.push(form_group(k, g.0, g.1));
        }
    }
    result.extend(host_mappings);
    result.join(", ")
}

fn form_group(key: &str, first: i64, last: i64) -> String {
    let (ip, typ) = match key.rsplit_once('/') {
        Some((ip, t)) => (ip, t),
        None => ("", key),
    };
    let mut group = first.to_string();
    if first != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{ip}:{group}->{group}");
    }
    format!("{group}/{typ}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_displayed_like_docker() {
        let ports = json!([
            {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
            {"PrivatePort": 443, "Type": "tcp"},
            {"PrivatePort": 444, "Type": "tcp"},
            {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}
        ]);
        assert_eq!(
            display_ports(&ports),
            "443-444/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
    }

    #[test]
    fn row_fields() {
        let c = json!({"Id": "0123456789abcdef0123", "Names": ["/web", "/other/web"], "Image": "busybox",
            "Command": "sleep 100", "Created": 0, "State": "running", "Status": "Up 2 seconds",
            "Ports": [], "Labels": {"b": "2", "a": "1"}});
        let r = row(&c, true);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Command"], "\"sleep 100\"");
        assert_eq!(r["Labels"], "a=1,b=2");
        assert_eq!(go_quote("a\"b"), "\"a\\\"b\"");
    }
}
