//! `docker inspect` and `docker ps` shapes of a container.

use std::collections::BTreeMap;

use berth_engine::container::record::{
    ContainerRecord, EndpointRecord, MountRecord, PublishedPort,
};
use berth_engine::container::state::Status;
use serde_json::{Map, Value, json};

use crate::version::ApiVersion;

use super::{ZERO_TIME, rfc3339};

fn health(rec: &ContainerRecord) -> Value {
    match &rec.state.health {
        None => Value::Null,
        Some(h) => json!({
            "Status": h.status,
            "FailingStreak": h.failing_streak,
            "Log": h.log.iter().map(|r| json!({
                "Start": r.start, "End": r.end, "ExitCode": r.exit_code, "Output": r.output,
            })).collect::<Vec<_>>(),
        }),
    }
}

fn state(rec: &ContainerRecord) -> Value {
    let s = &rec.state;
    let mut v = json!({
        "Status": s.status.as_str(),
        "Running": matches!(s.status, Status::Running | Status::Paused),
        "Paused": s.status == Status::Paused,
        "Restarting": s.status == Status::Restarting,
        "OOMKilled": s.oom_killed,
        "Dead": s.status == Status::Dead,
        "Pid": if s.status.is_live() { s.pid } else { 0 },
        "ExitCode": s.exit_code,
        "Error": s.error,
        "StartedAt": s.started_at.as_ref().map_or_else(|| ZERO_TIME.to_owned(), rfc3339),
        "FinishedAt": s.finished_at.as_ref().map_or_else(|| ZERO_TIME.to_owned(), rfc3339),
    });
    let h = health(rec);
    if !h.is_null() {
        v["Health"] = h;
    }
    v
}

/// `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "443/tcp": null}`, while the
/// container runs (dockerd shows `{}` otherwise).
pub fn port_map(rec: &ContainerRecord) -> Value {
    let mut map: BTreeMap<String, Value> = BTreeMap::new();
    if !rec.is_running() {
        return json!(map);
    }
    if let Some(exposed) = &rec.config.exposed_ports {
        for p in exposed {
            map.insert(p.clone(), Value::Null);
        }
    }
    if rec.is_running() {
        for p in &rec.net.ports {
            let key = format!("{}/{}", p.container_port, p.protocol);
            let entry = map.entry(key).or_insert(Value::Null);
            if !entry.is_array() {
                *entry = Value::Array(Vec::new());
            }
            if let Value::Array(a) = entry {
                a.push(json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}));
            }
        }
    }
    json!(map)
}

/// One endpoint of `NetworkSettings.Networks`, in the requested version's shape: API 1.44
/// added `DNSNames` (and moved `MacAddress` and `DriverOpts` up), 1.48 `GwPriority`; before
/// 1.45 `Aliases` also carry the short id and hostname dockerd resolves on user networks.
fn endpoint(rec: &ContainerRecord, name: &str, e: &EndpointRecord, v: ApiVersion) -> Value {
    let running = rec.is_running();
    let addr = |s: &str| if running { s.to_owned() } else { String::new() };
    let user_defined = !matches!(name, "bridge" | "host" | "none");
    let mut aliases = e.aliases.clone();
    if !v.at_least(1, 45) && user_defined {
        for a in [
            rec.short_id(),
            rec.config.hostname.as_deref().unwrap_or_default(),
        ] {
            if !a.is_empty() && !aliases.iter().any(|x| x == a) {
                aliases.push(a.to_owned());
            }
        }
    }
    let mut m = Map::new();
    let mut put = |k: &str, val: Value| {
        m.insert(k.to_owned(), val);
    };
    put(
        "IPAMConfig",
        e.requested_ip
            .as_ref()
            .map_or(Value::Null, |ip| json!({"IPv4Address": ip})),
    );
    put(
        "Links",
        // Legacy links on the default bridge live in HostConfig.Links only, as dockerd shows.
        if e.links.is_empty() || name == "bridge" {
            Value::Null
        } else {
            json!(e.links)
        },
    );
    put(
        "Aliases",
        if aliases.is_empty() {
            Value::Null
        } else {
            json!(aliases)
        },
    );
    let modern = v.at_least(1, 44);
    if modern {
        put("MacAddress", json!(addr(&e.mac_address)));
        put("DriverOpts", Value::Null);
    }
    if v.at_least(1, 48) {
        put("GwPriority", json!(0));
    }
    put("NetworkID", json!(e.network_id));
    put("EndpointID", json!(addr(&e.endpoint_id)));
    put("Gateway", json!(addr(&e.gateway)));
    put("IPAddress", json!(addr(&e.ip_address)));
    put("IPPrefixLen", json!(if running { e.prefix_len } else { 0 }));
    put("IPv6Gateway", json!(""));
    put("GlobalIPv6Address", json!(""));
    put("GlobalIPv6PrefixLen", json!(0));
    if modern {
        put(
            "DNSNames",
            if user_defined {
                let mut n = vec![rec.name.clone(), rec.short_id().to_owned()];
                n.extend(e.aliases.iter().cloned());
                json!(n)
            } else {
                Value::Null
            },
        );
    } else {
        put("MacAddress", json!(addr(&e.mac_address)));
        put("DriverOpts", Value::Null);
    }
    Value::Object(m)
}

fn endpoints(rec: &ContainerRecord, v: ApiVersion) -> Value {
    let mut nets = Map::new();
    for (name, e) in &rec.net.networks {
        nets.insert(name.clone(), endpoint(rec, name, e, v));
    }
    Value::Object(nets)
}

fn network_settings(rec: &ContainerRecord, v: ApiVersion) -> Value {
    let nets = endpoints(rec, v);
    // Docker keeps the default bridge's values at the top level too (deprecated, still read).
    let bridge = nets.get("bridge").cloned().unwrap_or(Value::Null);
    let field = |k: &str| bridge.get(k).cloned().unwrap_or_else(|| json!(""));
    let running = rec.is_running();
    json!({
        "Bridge": "",
        "SandboxID": if running { rec.id.clone() } else { String::new() },
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": port_map(rec),
        "SandboxKey": rec.net.sandbox_key.as_ref().filter(|_| running).map(|p| p.display().to_string()).unwrap_or_default(),
        "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null,
        "EndpointID": field("EndpointID"),
        "Gateway": field("Gateway"),
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": field("IPAddress"),
        "IPPrefixLen": bridge.get("IPPrefixLen").cloned().unwrap_or_else(|| json!(0)),
        "IPv6Gateway": "",
        "MacAddress": field("MacAddress"),
        "Networks": nets,
    })
}

/// One entry of `Mounts`.
pub fn mount(m: &MountRecord) -> Value {
    let mut v = json!({
        "Type": m.kind,
        "Source": m.source.display().to_string(),
        "Destination": m.destination,
        "Mode": m.mode,
        "RW": m.rw,
        "Propagation": m.propagation,
    });
    if let Some(n) = &m.name {
        v["Name"] = json!(n);
        v["Driver"] = json!("local");
    }
    v
}

/// `HostConfig` as dockerd shows it: every key, `RestartPolicy` and `LogConfig` whole, links
/// as `/target:/container/alias`.
fn host_config(rec: &ContainerRecord) -> Value {
    let mut h = super::shape::model(&rec.host_config, &super::shape::host_config());
    let rp = &h["RestartPolicy"];
    h["RestartPolicy"] = json!({
        "Name": rp.get("Name").cloned().unwrap_or_else(|| json!("")),
        "MaximumRetryCount": rp.get("MaximumRetryCount").cloned().unwrap_or_else(|| json!(0)),
    });
    let lc = &h["LogConfig"];
    h["LogConfig"] = json!({
        "Type": lc.get("Type").cloned().unwrap_or_else(|| json!("")),
        "Config": lc.get("Config").filter(|c| !c.is_null()).cloned().unwrap_or_else(|| json!({})),
    });
    if rec.host_config.links.as_ref().is_some_and(Vec::is_empty) {
        // All removed: dockerd's nil slice.
        h["Links"] = Value::Null;
    }
    if let Some(links) = rec.host_config.links.as_ref().filter(|l| !l.is_empty()) {
        let shown: Vec<String> = links
            .iter()
            .map(|l| {
                let (target, alias) = l.split_once(':').unwrap_or((l.as_str(), l.as_str()));
                format!(
                    "/{}:/{}/{}",
                    target.trim_start_matches('/'),
                    rec.name,
                    alias.rsplit('/').next().unwrap_or(alias)
                )
            })
            .collect();
        h["Links"] = json!(shown);
    }
    h
}

/// `GET /containers/{id}/json`, in dockerd's key order with every key it writes.
pub fn inspect(
    rec: &ContainerRecord,
    upper_dir: &str,
    size: Option<(u64, u64)>,
    v: ApiVersion,
) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, val: Value| {
        m.insert(k.to_owned(), val);
    };
    put("Id", json!(rec.id));
    put("Created", json!(rfc3339(&rec.created)));
    put("Path", json!(rec.path));
    put("Args", json!(rec.args));
    put("State", state(rec));
    put("Image", json!(rec.image_id));
    put(
        "ResolvConfPath",
        json!(rec.resolv_conf_path.display().to_string()),
    );
    put(
        "HostnamePath",
        json!(rec.hostname_path.display().to_string()),
    );
    put("HostsPath", json!(rec.hosts_path.display().to_string()));
    put(
        "LogPath",
        json!(
            rec.log_path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ),
    );
    put("Name", json!(format!("/{}", rec.name)));
    put("RestartCount", json!(rec.state.restart_count));
    put("Driver", json!("overlay2"));
    put("Platform", json!("linux"));
    put("MountLabel", json!(""));
    put("ProcessLabel", json!(""));
    put("AppArmorProfile", json!(""));
    put(
        "ExecIDs",
        if rec.exec_ids.is_empty() {
            Value::Null
        } else {
            json!(rec.exec_ids)
        },
    );
    put("HostConfig", host_config(rec));
    // Go writes the map of `Data` with its keys sorted.
    put(
        "GraphDriver",
        json!({
            "Data": { "LowerDir": "", "MergedDir": "", "UpperDir": upper_dir, "WorkDir": "" },
            "Name": "overlay2",
        }),
    );
    if let Some((rw, root)) = size {
        put("SizeRw", json!(rw));
        put("SizeRootFs", json!(root));
    }
    put(
        "Mounts",
        Value::Array(rec.mounts.iter().map(mount).collect()),
    );
    put(
        "Config",
        super::shape::model(&rec.config, &super::shape::container_config()),
    );
    put("NetworkSettings", network_settings(rec, v));
    Value::Object(m)
}

/// Docker's human duration ("5 seconds", "About a minute", "2 hours").
pub fn human_duration(d: chrono::Duration) -> String {
    let s = d.num_seconds();
    match s {
        ..1 => "Less than a second".into(),
        1 => "1 second".into(),
        2..60 => format!("{s} seconds"),
        60..120 => "About a minute".into(),
        120..3600 => format!("{} minutes", s / 60),
        3600..7200 => "About an hour".into(),
        7200..172_800 => format!("{} hours", s / 3600),
        172_800..1_209_600 => format!("{} days", s / 86400),
        1_209_600..5_259_600 => format!("{} weeks", s / 604_800),
        5_259_600..63_115_200 => format!("{} months", s / 2_629_800),
        _ => format!("{} years", s / 31_557_600),
    }
}

/// The STATUS column of `docker ps`.
pub fn status_text(rec: &ContainerRecord, now: chrono::DateTime<chrono::Utc>) -> String {
    let s = &rec.state;
    let since = |t: &Option<chrono::DateTime<chrono::Utc>>| human_duration(now - t.unwrap_or(now));
    match s.status {
        Status::Created => "Created".into(),
        Status::Running | Status::Paused => {
            let mut t = format!("Up {}", since(&s.started_at));
            if s.status == Status::Paused {
                t.push_str(" (Paused)");
            } else if let Some(h) = &s.health {
                let h = if h.status == "starting" {
                    "health: starting"
                } else {
                    &h.status
                };
                t.push_str(&format!(" ({h})"));
            }
            t
        }
        Status::Restarting => format!("Restarting ({}) {} ago", s.exit_code, since(&s.finished_at)),
        Status::Removing => "Removal In Progress".into(),
        Status::Exited => {
            if s.finished_at.is_none() {
                return "Created".into();
            }
            format!("Exited ({}) {} ago", s.exit_code, since(&s.finished_at))
        }
        Status::Dead => "Dead".into(),
    }
}

fn summary_ports(ports: &[PublishedPort], rec: &ContainerRecord) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    if rec.is_running() {
        for p in ports {
            out.push(json!({"IP": p.host_ip, "PrivatePort": p.container_port, "PublicPort": p.host_port, "Type": p.protocol}));
        }
    }
    if let Some(exposed) = &rec.config.exposed_ports {
        for e in exposed {
            let (port, proto) = e.split_once('/').unwrap_or((e.as_str(), "tcp"));
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            if !out
                .iter()
                .any(|v| v["PrivatePort"] == json!(port) && v["Type"] == json!(proto))
            {
                out.push(json!({"PrivatePort": port, "Type": proto}));
            }
        }
    }
    out
}

/// One entry of `GET /containers/json`, in dockerd's order; `SizeRw` only when non-zero
/// (dockerd omits it when empty).
pub fn summary(rec: &ContainerRecord, size: Option<(u64, u64)>, v: ApiVersion) -> Value {
    let mut command = rec.path.clone();
    for a in &rec.args {
        command.push(' ');
        command.push_str(a);
    }
    let mut m = Map::new();
    let mut put = |k: &str, val: Value| {
        m.insert(k.to_owned(), val);
    };
    put("Id", json!(rec.id));
    put("Names", json!([format!("/{}", rec.name)]));
    put("Image", json!(rec.image));
    put("ImageID", json!(rec.image_id));
    put("Command", json!(command));
    put("Created", json!(rec.created.timestamp()));
    put("Ports", json!(summary_ports(&rec.net.ports, rec)));
    if let Some((rw, root)) = size {
        if rw > 0 {
            put("SizeRw", json!(rw));
        }
        put("SizeRootFs", json!(root));
    }
    put(
        "Labels",
        json!(rec.config.labels.clone().unwrap_or_default()),
    );
    put("State", json!(rec.state.status.as_str()));
    put("Status", json!(status_text(rec, chrono::Utc::now())));
    put(
        "HostConfig",
        json!({ "NetworkMode": rec.host_config.network_mode.clone().unwrap_or_else(|| "bridge".into()) }),
    );
    put("NetworkSettings", json!({ "Networks": endpoints(rec, v) }));
    put(
        "Mounts",
        Value::Array(rec.mounts.iter().map(mount).collect()),
    );
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_dockers() {
        assert_eq!(
            human_duration(chrono::Duration::seconds(0)),
            "Less than a second"
        );
        assert_eq!(human_duration(chrono::Duration::seconds(5)), "5 seconds");
        assert_eq!(
            human_duration(chrono::Duration::seconds(90)),
            "About a minute"
        );
        assert_eq!(human_duration(chrono::Duration::seconds(600)), "10 minutes");
        assert_eq!(human_duration(chrono::Duration::seconds(7300)), "2 hours");
    }
}
