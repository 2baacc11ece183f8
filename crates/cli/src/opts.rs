//! Parsers for docker's option values: sizes, ports, env files, volumes, mounts, durations.
//! Pure functions, so the command code stays about requests and the tests stay simple.

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow, bail};

/// go-units `RAMInBytes`: `512m`, `1g`, `1.5GiB`, `100` (binary multiples).
pub(crate) fn parse_memory(s: &str) -> Result<i64> {
    let lower = s.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let n: f64 = num.parse().map_err(|_| anyhow!("invalid size: '{s}'"))?;
    let unit = unit.trim_end_matches("ib").trim_end_matches('b');
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => bail!("invalid size: '{s}'"),
    };
    let v = n * mult;
    if !v.is_finite() || !(0.0..=9.2e18).contains(&v) {
        bail!("invalid size: '{s}'");
    }
    #[allow(clippy::cast_possible_truncation)] // bounded above
    Ok(v as i64)
}

/// `--memory-swap` also takes `-1` (unlimited).
pub(crate) fn parse_memory_swap(s: &str) -> Result<i64> {
    if s == "-1" { Ok(-1) } else { parse_memory(s) }
}

/// One published port: `80/tcp` -> (host ip, host port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortMapping {
    pub(crate) container: String,
    pub(crate) host_ip: String,
    pub(crate) host_port: String,
}

fn parse_range(s: &str) -> Result<(u16, u16)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a
        .parse()
        .map_err(|_| anyhow!("invalid containerPort: {s}"))?;
    let b: u16 = b
        .parse()
        .map_err(|_| anyhow!("invalid containerPort: {s}"))?;
    if b < a {
        bail!("invalid port range: {s}");
    }
    Ok((a, b))
}

/// `-p [ip:][hostPort:]containerPort[/proto]`, ranges allowed on both sides.
pub(crate) fn parse_port_spec(spec: &str) -> Result<Vec<PortMapping>> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        bail!("invalid proto: {proto}");
    }
    // An IPv6 host address is bracketed: `[::1]:8080:80`.
    let (ip, rest) = if let Some(r) = rest.strip_prefix('[') {
        let (ip, r) = r
            .split_once("]:")
            .ok_or_else(|| anyhow!("invalid port format: {spec}"))?;
        (ip.to_string(), r)
    } else {
        (String::new(), rest)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => (ip, "", *c),
        [h, c] if ip.is_empty() => (String::new(), *h, *c),
        [h, c] => (ip, *h, *c),
        [i, h, c] if ip.is_empty() => ((*i).to_string(), *h, *c),
        _ => bail!("invalid port format: {spec}"),
    };
    if container.is_empty() {
        bail!("no port specified: {spec}<empty>");
    }
    let (c0, c1) = parse_range(container)?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(parse_range(host).map_err(|_| anyhow!("invalid hostPort: {host}"))?)
    };
    let count = c1 - c0;
    let mut out = Vec::new();
    for i in 0..=count {
        let host_port = match host_range {
            None => String::new(),
            // A host range wider than the container range lets the daemon pick within it.
            Some((h0, h1)) if h1 - h0 != count => {
                if count == 0 {
                    format!("{h0}-{h1}")
                } else {
                    bail!(
                        "invalid ranges specified for container and host Ports: {container} and {host}"
                    )
                }
            }
            Some((h0, _)) => (h0 + i).to_string(),
        };
        out.push(PortMapping {
            container: format!("{}/{proto}", c0 + i),
            host_ip: ip.clone(),
            host_port,
        });
    }
    Ok(out)
}

/// `--expose 80`, `--expose 8000-8010/udp`.
pub(crate) fn parse_expose(spec: &str) -> Result<Vec<String>> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let (a, b) = parse_range(ports)?;
    Ok((a..=b).map(|p| format!("{p}/{proto}")).collect())
}

/// `-e KEY=VAL` as is; `-e KEY` takes KEY from this environment (docker's `ValidateEnv`).
pub(crate) fn env_value(s: &str) -> String {
    if s.contains('=') {
        return s.to_string();
    }
    match std::env::var(s) {
        Ok(v) => format!("{s}={v}"),
        Err(_) => s.to_string(),
    }
}

/// `--env-file`/`--label-file` syntax: `#` comments, blank lines, `KEY=VAL`, bare `KEY`.
pub(crate) fn parse_env_file_text(text: &str, path: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if key.is_empty() {
            bail!("no variable name on line '{line}'");
        }
        if key.contains(char::is_whitespace) {
            bail!("variable '{key}' contains whitespaces ({path}:{})", n + 1);
        }
        match value {
            Some(v) => out.push(format!("{key}={v}")),
            None => {
                if let Ok(v) = std::env::var(key) {
                    out.push(format!("{key}={v}"));
                }
            }
        }
    }
    Ok(out)
}

pub(crate) fn read_env_file(path: &str) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("open {path}"))?;
    parse_env_file_text(&text, path)
}

/// A `-v` value: a bind/named volume (HostConfig.Binds) or an anonymous volume (Config.Volumes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VolumeSpec {
    Bind(String),
    Anonymous(String),
}

/// `-v [src:]dst[:opts]`. Relative host paths (`./x`) become absolute, as docker does.
pub(crate) fn parse_volume(spec: &str) -> Result<VolumeSpec> {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [dst] => {
            if !dst.starts_with('/') {
                bail!("invalid volume specification: '{spec}'");
            }
            Ok(VolumeSpec::Anonymous((*dst).to_string()))
        }
        [src, dst, rest @ ..] if rest.len() <= 1 => {
            if src.is_empty() || !dst.starts_with('/') {
                bail!("invalid volume specification: '{spec}'");
            }
            let src = if src.starts_with('.') {
                let abs = std::env::current_dir()?.join(src);
                abs.to_string_lossy().into_owned()
            } else {
                (*src).to_string()
            };
            let mut s = format!("{src}:{dst}");
            if let [o] = rest {
                s.push(':');
                s.push_str(o);
            }
            Ok(VolumeSpec::Bind(s))
        }
        _ => bail!("invalid volume specification: '{spec}'"),
    }
}

/// `--mount type=bind,source=/a,target=/b,readonly`.
pub(crate) fn parse_mount(spec: &str) -> Result<bollard::models::Mount> {
    use bollard::models::{
        Mount, MountBindOptions, MountTmpfsOptions, MountType, MountVolumeOptions,
    };
    let mut m = Mount {
        typ: Some(MountType::VOLUME),
        ..Default::default()
    };
    for field in spec.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let truthy = |v: Option<&str>| !matches!(v, Some("false" | "0"));
        match k.as_str() {
            "type" => {
                m.typ = Some(match v.unwrap_or("") {
                    "bind" => MountType::BIND,
                    "volume" => MountType::VOLUME,
                    "tmpfs" => MountType::TMPFS,
                    other => bail!("invalid mount type {other:?}"),
                });
            }
            "source" | "src" => m.source = v.map(String::from),
            "target" | "destination" | "dst" => m.target = v.map(String::from),
            "readonly" | "ro" => m.read_only = Some(truthy(v)),
            "bind-propagation" => {
                let p = v
                    .unwrap_or("")
                    .parse()
                    .map_err(|_| anyhow!("invalid bind-propagation"))?;
                m.bind_options
                    .get_or_insert_with(MountBindOptions::default)
                    .propagation = Some(p);
            }
            "volume-nocopy" => {
                m.volume_options
                    .get_or_insert_with(MountVolumeOptions::default)
                    .no_copy = Some(truthy(v));
            }
            "volume-opt" => {
                let (ok, ov) = v
                    .unwrap_or("")
                    .split_once('=')
                    .unwrap_or((v.unwrap_or(""), ""));
                let opts = m
                    .volume_options
                    .get_or_insert_with(MountVolumeOptions::default);
                let drv = opts.driver_config.get_or_insert_with(Default::default);
                drv.options
                    .get_or_insert_with(HashMap::new)
                    .insert(ok.into(), ov.into());
            }
            "tmpfs-size" => {
                m.tmpfs_options
                    .get_or_insert_with(MountTmpfsOptions::default)
                    .size_bytes = Some(parse_memory(v.unwrap_or(""))?);
            }
            "tmpfs-mode" => {
                let mode = i64::from_str_radix(v.unwrap_or(""), 8)
                    .map_err(|_| anyhow!("invalid tmpfs-mode"))?;
                m.tmpfs_options
                    .get_or_insert_with(MountTmpfsOptions::default)
                    .mode = Some(mode);
            }
            _ => bail!("unexpected key '{k}' in '{field}'"),
        }
    }
    if m.target.is_none() {
        bail!("target is required");
    }
    Ok(m)
}

/// `--ulimit nofile=1024[:2048]`.
pub(crate) fn parse_ulimit(s: &str) -> Result<bollard::models::ResourcesUlimits> {
    let (name, vals) = s
        .split_once('=')
        .ok_or_else(|| anyhow!("invalid ulimit argument: {s}"))?;
    let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
    let num = |v: &str| -> Result<i64> {
        v.parse()
            .map_err(|_| anyhow!("invalid ulimit argument: {s}"))
    };
    Ok(bollard::models::ResourcesUlimits {
        name: Some(name.to_string()),
        soft: Some(num(soft)?),
        hard: Some(num(hard)?),
    })
}

/// `--device /dev/a[:/dev/b][:rwm]`.
pub(crate) fn parse_device(s: &str) -> Result<bollard::models::DeviceMapping> {
    let parts: Vec<&str> = s.split(':').collect();
    let is_perm = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
    let (src, dst, perms) = match parts.as_slice() {
        [a] => (*a, *a, "rwm"),
        [a, b] if is_perm(b) => (*a, *a, *b),
        [a, b] => (*a, *b, "rwm"),
        [a, b, c] if is_perm(c) => (*a, *b, *c),
        _ => bail!("invalid device specification: {s}"),
    };
    Ok(bollard::models::DeviceMapping {
        path_on_host: Some(src.into()),
        path_in_container: Some(dst.into()),
        cgroup_permissions: Some(perms.into()),
    })
}

/// `--tmpfs /run[:opts]` -> (path, opts).
pub(crate) fn parse_tmpfs(s: &str) -> (String, String) {
    match s.split_once(':') {
        Some((p, o)) => (p.to_string(), o.to_string()),
        None => (s.to_string(), String::new()),
    }
}

/// `-l k=v` / `--log-opt k=v` style lists into a map (`k` alone maps to "").
pub(crate) fn kv_map(items: &[String]) -> HashMap<String, String> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (s.clone(), String::new()),
        })
        .collect()
}

/// `--restart no|always|unless-stopped|on-failure[:N]`.
pub(crate) fn parse_restart(s: &str) -> Result<bollard::models::RestartPolicy> {
    use bollard::models::{RestartPolicy, RestartPolicyNameEnum as N};
    let (name, count) = s.split_once(':').unwrap_or((s, ""));
    let name = match name {
        "" | "no" => N::NO,
        "always" => N::ALWAYS,
        "unless-stopped" => N::UNLESS_STOPPED,
        "on-failure" => N::ON_FAILURE,
        _ => bail!("invalid restart policy '{name}'"),
    };
    let max = if count.is_empty() {
        None
    } else {
        if name != N::ON_FAILURE {
            bail!("maximum retry count cannot be used with restart policy '{s}'");
        }
        Some(
            count
                .parse()
                .map_err(|_| anyhow!("invalid restart policy: {s}"))?,
        )
    };
    Ok(RestartPolicy {
        name: Some(name),
        maximum_retry_count: max,
    })
}

/// `--cpus 1.5` -> NanoCPUs.
pub(crate) fn parse_cpus(s: &str) -> Result<i64> {
    let f: f64 = s
        .parse()
        .map_err(|_| anyhow!("failed to parse {s} as a rational number"))?;
    if !(0.0..=1e9).contains(&f) {
        bail!("invalid value for --cpus: {s}");
    }
    #[allow(clippy::cast_possible_truncation)] // bounded above
    Ok((f * 1e9).round() as i64)
}

/// Go's `time.ParseDuration` (`1m30s`, `500ms`, `2h`), in nanoseconds.
pub(crate) fn parse_go_duration(s: &str) -> Result<i64> {
    if s == "0" {
        return Ok(0);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        bail!("invalid duration \"{s}\"");
    }
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| anyhow!("missing unit in duration \"{s}\""))?;
        let n: f64 = rest[..n_end]
            .parse()
            .map_err(|_| anyhow!("invalid duration \"{s}\""))?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            u => bail!("unknown unit \"{u}\" in duration \"{s}\""),
        };
        total += n * unit;
        rest = &rest[u_end..];
    }
    #[allow(clippy::cast_possible_truncation)] // durations are far below i64::MAX ns
    Ok(total as i64)
}

/// `--since`/`--until`: RFC 3339, unix seconds, or a Go duration before now.
pub(crate) fn parse_timestamp(s: &str) -> Result<String> {
    if s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Ok(s.to_string());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp().to_string());
    }
    for f in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f).or_else(|_| {
            chrono::NaiveDate::parse_from_str(s, f).map(|d| d.and_time(chrono::NaiveTime::MIN))
        }) {
            return Ok(t.and_utc().timestamp().to_string());
        }
    }
    let d = parse_go_duration(s).map_err(|_| anyhow!("invalid value for \"since\": {s}"))?;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let t = now - d;
    Ok(format!(
        "{}.{:09}",
        t.div_euclid(1_000_000_000),
        t.rem_euclid(1_000_000_000)
    ))
}

/// `--filter a=b` repeated -> the API's `{"a": ["b", ...]}`.
pub(crate) fn filters(items: &[String]) -> Result<HashMap<String, Vec<String>>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for f in items {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))?;
        m.entry(k.trim().to_ascii_lowercase())
            .or_default()
            .push(v.to_string());
    }
    Ok(m)
}

/// Filters as the JSON the API expects in the `filters` query parameter.
pub(crate) fn filters_json(items: &[String]) -> Result<String> {
    let m = filters(items)?;
    let obj: serde_json::Map<String, serde_json::Value> = m
        .into_iter()
        .map(|(k, vs)| {
            let inner: serde_json::Map<String, serde_json::Value> = vs
                .into_iter()
                .map(|v| (v, serde_json::Value::Bool(true)))
                .collect();
            (k, serde_json::Value::Object(inner))
        })
        .collect();
    Ok(serde_json::Value::Object(obj).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T>(r: Result<T>) -> T {
        r.unwrap_or_else(|e| panic!("{e:#}"))
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(ok(parse_memory("512m")), 512 * 1024 * 1024);
        assert_eq!(ok(parse_memory("1g")), 1 << 30);
        assert_eq!(ok(parse_memory("1GB")), 1 << 30);
        assert_eq!(ok(parse_memory("1.5k")), 1536);
        assert_eq!(ok(parse_memory("100")), 100);
        assert_eq!(ok(parse_memory("64MiB")), 64 << 20);
        assert!(parse_memory("12x").is_err());
        assert!(parse_memory("").is_err());
        assert_eq!(ok(parse_memory_swap("-1")), -1);
    }

    #[test]
    fn port_specs() {
        let p = ok(parse_port_spec("8080:80"));
        assert_eq!(
            p,
            vec![PortMapping {
                container: "80/tcp".into(),
                host_ip: String::new(),
                host_port: "8080".into()
            }]
        );
        let p = ok(parse_port_spec("127.0.0.1:53:53/udp"));
        assert_eq!(p[0].container, "53/udp");
        assert_eq!(p[0].host_ip, "127.0.0.1");
        let p = ok(parse_port_spec("80"));
        assert_eq!(p[0].host_port, "");
        let p = ok(parse_port_spec("8000-8001:80-81"));
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].container, "81/tcp");
        assert_eq!(p[1].host_port, "8001");
        let p = ok(parse_port_spec("[::1]:8080:80"));
        assert_eq!(p[0].host_ip, "::1");
        let p = ok(parse_port_spec("127.0.0.1::80"));
        assert_eq!(p[0].host_port, "");
        assert!(parse_port_spec("80/bogus").is_err());
        assert!(parse_port_spec("a:b").is_err());
        assert_eq!(
            ok(parse_expose("8000-8001/udp")),
            vec!["8000/udp", "8001/udp"]
        );
    }

    #[test]
    fn env_files() {
        let text = "# comment\n\nA=1\n  B=two words\nC=\n";
        assert_eq!(
            ok(parse_env_file_text(text, "f")),
            vec!["A=1", "B=two words", "C="]
        );
        assert!(parse_env_file_text("BAD KEY=1", "f").is_err());
        assert_eq!(env_value("X=1"), "X=1");
    }

    #[test]
    fn volume_specs() {
        assert_eq!(
            ok(parse_volume("/data")),
            VolumeSpec::Anonymous("/data".into())
        );
        assert_eq!(
            ok(parse_volume("vol:/data:ro")),
            VolumeSpec::Bind("vol:/data:ro".into())
        );
        assert_eq!(ok(parse_volume("/h:/c")), VolumeSpec::Bind("/h:/c".into()));
        assert!(parse_volume("rel").is_err());
        assert!(parse_volume("a:b").is_err());
        let m = ok(parse_mount("type=bind,source=/a,target=/b,readonly"));
        assert_eq!(m.target.as_deref(), Some("/b"));
        assert_eq!(m.read_only, Some(true));
        assert!(parse_mount("type=bind,source=/a").is_err());
    }

    #[test]
    fn misc_values() {
        let u = ok(parse_ulimit("nofile=1024:2048"));
        assert_eq!((u.soft, u.hard), (Some(1024), Some(2048)));
        let d = ok(parse_device("/dev/fuse"));
        assert_eq!(d.path_in_container.as_deref(), Some("/dev/fuse"));
        assert_eq!(ok(parse_cpus("1.5")), 1_500_000_000);
        assert_eq!(ok(parse_go_duration("1m30s")), 90_000_000_000);
        assert_eq!(ok(parse_go_duration("500ms")), 500_000_000);
        assert!(parse_go_duration("5").is_err());
        let r = ok(parse_restart("on-failure:3"));
        assert_eq!(r.maximum_retry_count, Some(3));
        assert!(parse_restart("always:3").is_err());
        assert_eq!(ok(parse_timestamp("1700000000")), "1700000000");
        assert_eq!(ok(parse_timestamp("2023-11-14T22:13:20Z")), "1700000000");
        assert_eq!(
            ok(filters_json(&["status=exited".into()])),
            r#"{"status":{"exited":true}}"#
        );
    }
}
